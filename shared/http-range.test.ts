import { describe, expect, it } from "vitest";
import { contentRange, parseRange } from "./http-range.js";

describe("parseRange", () => {
  const size = 1000;
  it.each([
    ["bytes=0-99", { type: "range", offset: 0, length: 100, end: 99 }],
    ["bytes=900-", { type: "range", offset: 900, length: 100, end: 999 }],
    ["bytes=-100", { type: "range", offset: 900, length: 100, end: 999 }],
    ["bytes=-5000", { type: "range", offset: 0, length: 1000, end: 999 }],
    ["bytes=990-5000", { type: "range", offset: 990, length: 10, end: 999 }],
    ["bytes=999-999", { type: "range", offset: 999, length: 1, end: 999 }],
    ["BYTES = 1 - 2", { type: "range", offset: 1, length: 2, end: 2 }],
  ])("%s → satisfiable", (h, want) => expect(parseRange(h, size)).toEqual(want));

  it.each(["bytes=1000-", "bytes=1000-1001", "bytes=-0", "bytes=99999999999999999999-"])("%s → 416", (h) =>
    expect(parseRange(h, size)).toEqual({ type: "unsatisfiable" }),
  );

  it.each([null, "", "bytes=", "bytes=-", "bytes=5-1", "items=0-1", "bytes=0-1,5-6", "bytes=a-b", "bytes 0-1", "bytes=0-1;x", "bytes=--1"])(
    "%s → ignored (whole 200)",
    (h) => expect(parseRange(h, size)).toEqual({ type: "none" }),
  );

  it("any range of an empty file is unsatisfiable", () => {
    expect(parseRange("bytes=0-", 0)).toEqual({ type: "unsatisfiable" });
    expect(parseRange("bytes=-1", 0)).toEqual({ type: "unsatisfiable" });
  });

  it("formats Content-Range", () => {
    expect(contentRange({ offset: 0, end: 99 }, 1000)).toBe("bytes 0-99/1000");
    expect(contentRange(null, 1000)).toBe("bytes */1000");
  });
});
