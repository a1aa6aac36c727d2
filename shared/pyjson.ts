/**
 * JSON exactly as Python's `json.dumps(obj, separators=(',', ':'))` writes it (spec §1), and
 * an order-preserving parser. JS objects move integer-like keys ("0") first, so documents are
 * held as `Map`s: parse → modify → dump keeps every byte the original would have written.
 */
import { fail } from "./errors.js";

/** A Python float: dumped with float repr even when integral (`1.0`). */
export class PyFloat {
  constructor(readonly value: number) {}
}

export type PyDict = Map<string, PyValue>;
export type PyValue = null | boolean | number | bigint | string | PyFloat | PyValue[] | PyDict;

/** Python's `repr(float)`: shortest round-trip digits; exponent form below 1e-4 and from 1e16. */
export function pyFloatRepr(x: number): string {
  if (!Number.isFinite(x)) fail("E_METADATA_INVALID", `cannot write ${x} in metadata: Python would emit non-standard JSON`);
  if (x === 0) return Object.is(x, -0) ? "-0.0" : "0.0";
  const sign = x < 0 ? "-" : "";
  const [mant, expStr] = Math.abs(x).toExponential().split("e") as [string, string];
  const exp = Number(expStr);
  const digits = mant.replace(".", "");
  if (exp < -4 || exp >= 16) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    const e = Math.abs(exp).toString().padStart(2, "0");
    return `${sign}${m}e${exp < 0 ? "-" : "+"}${e}`;
  }
  if (exp < 0) return `${sign}0.${"0".repeat(-exp - 1)}${digits}`;
  if (digits.length <= exp + 1) return `${sign}${digits}${"0".repeat(exp + 1 - digits.length)}.0`;
  return `${sign}${digits.slice(0, exp + 1)}.${digits.slice(exp + 1)}`;
}

const SHORT_ESCAPES: Record<number, string> = { 0x22: '\\"', 0x5c: "\\\\", 0x08: "\\b", 0x09: "\\t", 0x0a: "\\n", 0x0c: "\\f", 0x0d: "\\r" };

/** Python's `ensure_ascii` string escaping, per UTF-16 code unit. */
export function pyString(s: string): string {
  let out = '"';
  let plainFrom = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x20 && c <= 0x7e && c !== 0x22 && c !== 0x5c) continue;
    out += s.slice(plainFrom, i) + (SHORT_ESCAPES[c] ?? `\\u${c.toString(16).padStart(4, "0")}`);
    plainFrom = i + 1;
  }
  return out + s.slice(plainFrom) + '"';
}

export function pyDumps(value: PyValue | Record<string, unknown>): string {
  if (value === null) return "null";
  switch (typeof value) {
    case "boolean":
      return value ? "true" : "false";
    case "number":
      return Number.isInteger(value) ? String(value === 0 ? 0 : value) : pyFloatRepr(value);
    case "bigint":
      return value.toString();
    case "string":
      return pyString(value);
  }
  if (value instanceof PyFloat) return pyFloatRepr(value.value);
  if (Array.isArray(value)) return `[${value.map((v) => pyDumps(v)).join(",")}]`;
  const entries = value instanceof Map ? [...value.entries()] : Object.entries(value);
  return `{${entries.map(([k, v]) => `${pyString(k)}:${pyDumps(v as PyValue)}`).join(",")}}`;
}

/** Plain-JS view for reading fields (floats become numbers, dicts objects). */
export function toPlain(value: PyValue): unknown {
  if (value instanceof Map) return Object.fromEntries([...value].map(([k, v]) => [k, toPlain(v)]));
  if (value instanceof PyFloat) return value.value;
  if (typeof value === "bigint") return Number(value);
  if (Array.isArray(value)) return value.map(toPlain);
  return value;
}

/** Ordered view of a plain JS value (key order as JS enumerates it). */
export function fromPlain(value: unknown): PyValue {
  if (value === null || typeof value === "boolean" || typeof value === "number" || typeof value === "string" || typeof value === "bigint") return value;
  if (value instanceof PyFloat || value instanceof Map) return value as PyValue;
  if (Array.isArray(value)) return value.map(fromPlain);
  if (typeof value === "object") return new Map(Object.entries(value as object).map(([k, v]) => [k, fromPlain(v)]));
  fail("E_METADATA_INVALID", `cannot write a ${typeof value} in metadata`);
}

const MAX_DEPTH = 256;

/**
 * Order-preserving JSON parser (what Python's json.loads accepts: standard JSON plus NaN and
 * ±Infinity; a repeated key keeps its first position and last value, like a Python dict).
 * Depth is bounded so a hostile document cannot exhaust the stack.
 */
export function pyLoads(text: string): PyValue {
  let i = 0;
  const err = (msg: string): never => fail("E_METADATA_INVALID", `metadata is not valid JSON: ${msg} at character ${i}`);
  const ws = () => {
    for (;;) {
      const c = text.charCodeAt(i);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) i++;
      else return;
    }
  };
  const parseString = (): string => {
    i++; // opening quote
    let out = "";
    let from = i;
    for (;;) {
      if (i >= text.length) err("unterminated string");
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        out += text.slice(from, i);
        i++;
        return out;
      }
      if (c < 0x20) err("control character in string");
      if (c !== 0x5c) {
        i++;
        continue;
      }
      out += text.slice(from, i);
      const e = text[i + 1];
      const simple: Record<string, string> = { '"': '"', "\\": "\\", "/": "/", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" };
      if (e !== undefined && e in simple) {
        out += simple[e];
        i += 2;
      } else if (e === "u") {
        const hex = text.slice(i + 2, i + 6);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) err("bad \\u escape");
        out += String.fromCharCode(parseInt(hex, 16));
        i += 6;
      } else err("bad escape");
      from = i;
    }
  };
  const NUMBER = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;
  const parseValue = (depth: number): PyValue => {
    if (depth > MAX_DEPTH) err(`nesting deeper than ${MAX_DEPTH}`);
    ws();
    const c = text[i];
    if (c === "{") {
      i++;
      const map: PyDict = new Map();
      ws();
      if (text[i] === "}") {
        i++;
        return map;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') err("expected a key");
        const key = parseString();
        ws();
        if (text[i] !== ":") err("expected ':'");
        i++;
        map.set(key, parseValue(depth + 1));
        ws();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === "}") {
          i++;
          return map;
        }
        err("expected ',' or '}'");
      }
    }
    if (c === "[") {
      i++;
      const arr: PyValue[] = [];
      ws();
      if (text[i] === "]") {
        i++;
        return arr;
      }
      for (;;) {
        arr.push(parseValue(depth + 1));
        ws();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === "]") {
          i++;
          return arr;
        }
        err("expected ',' or ']'");
      }
    }
    if (c === '"') return parseString();
    for (const [word, val] of [["true", true], ["false", false], ["null", null], ["NaN", NaN], ["Infinity", Infinity], ["-Infinity", -Infinity]] as const) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return typeof val === "number" ? new PyFloat(val) : val;
      }
    }
    NUMBER.lastIndex = i;
    const m = NUMBER.exec(text);
    if (!m) return err("unexpected character");
    i += m[0].length;
    if (m[1] !== undefined || m[2] !== undefined) return new PyFloat(Number(m[0]));
    const n = Number(m[0]);
    return Number.isSafeInteger(n) ? n : BigInt(m[0]);
  };
  const value = parseValue(0);
  ws();
  if (i !== text.length) err("trailing data");
  return value;
}
