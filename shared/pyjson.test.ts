import { describe, expect, it } from "vitest";
import { PyFloat, pyDumps, pyFloatRepr, pyLoads, pyString, toPlain } from "./pyjson.js";

describe("Python float repr", () => {
  it.each([
    [1, "1.0"], [0, "0.0"], [-0, "-0.0"], [0.5, "0.5"], [0.1, "0.1"], [1e-5, "1e-05"], [0.0001, "0.0001"], [0.00012345, "0.00012345"],
    [1.5e16, "1.5e+16"], [1e16, "1e+16"], [1e15, "1000000000000000.0"], [123456789012345680, "1.2345678901234568e+17"],
    [0.9998779296875, "0.9998779296875"], [1.0000152587890625, "1.0000152587890625"], [2.5e-7, "2.5e-07"], [-3.25, "-3.25"], [1e100, "1e+100"],
  ])("%d → %s", (x, expected) => {
    expect(pyFloatRepr(x)).toBe(expected);
  });
  it("refuses NaN and infinities (Python would write non-standard JSON)", () => {
    expect(() => pyFloatRepr(NaN)).toThrow(expect.objectContaining({ code: "E_METADATA_INVALID" }));
    expect(() => pyDumps(new PyFloat(Infinity))).toThrow();
  });
});

describe("ensure_ascii string escaping", () => {
  it("escapes per UTF-16 unit as Python does", () => {
    expect(pyString('a"b\\c/d')).toBe('"a\\"b\\\\c/d"');
    expect(pyString("\b\t\n\f\r")).toBe('"\\b\\t\\n\\f\\r"');
    expect(pyString("\u0000\u001f\u007f")).toBe('"\\u0000\\u001f\\u007f"');
    expect(pyString("é€")).toBe('"\\u00e9\\u20ac"');
    expect(pyString("😀")).toBe('"\\ud83d\\ude00"');
    expect(pyString("\ud800")).toBe('"\\ud800"');
  });
});

describe("ordered JSON", () => {
  it("keeps integer-like keys where they were (JSON.parse would move them first)", () => {
    const text = '{"b":1,"0":2,"a":{"10":true,"2":null},"f":1.0,"e":1e-05,"l":[1,"x",{"z":0}]}';
    expect(pyDumps(pyLoads(text))).toBe(text);
    expect(JSON.stringify(JSON.parse(text))).not.toBe(text);
  });
  it("re-serialises Python's whitespace-free output byte for byte, unicode escapes included", () => {
    const text = '{"name":"caf\\u00e9 \\"x\\"","big":12345678901234567890,"neg":-5,"r":0.25}';
    expect(pyDumps(pyLoads(text))).toBe(text);
  });
  it("gives a plain view with numbers and objects", () => {
    expect(toPlain(pyLoads('{"a":1.0,"b":[2],"c":{"0":"x"}}'))).toEqual({ a: 1, b: [2], c: { 0: "x" } });
  });
  it.each(['{"a":1', '{"a":01}', "[1,]", '{"a" 1}', '"\\x"', "{}x", '"a\u0001"'])("rejects malformed %j", (bad) => {
    expect(() => pyLoads(bad)).toThrow(expect.objectContaining({ code: "E_METADATA_INVALID" }));
  });
  it("bounds nesting depth instead of overflowing the stack", () => {
    const bomb = "[".repeat(100_000) + "]".repeat(100_000);
    expect(() => pyLoads(bomb)).toThrow(/nesting/);
  });
});
