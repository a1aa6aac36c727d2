import { describe, expect, it } from "vitest";
import { parseHttpDate } from "../../shared/http-date";
import { evaluateConditionals, ifRangeAllows, parseEtagList } from "./conditionals";

const v = { etag: '"abc"', lastModified: new Date("2026-01-02T03:04:05.678Z") };
const LM = "Fri, 02 Jan 2026 03:04:05 GMT";
const BEFORE = "Fri, 02 Jan 2026 03:04:04 GMT";
const h = (o: Record<string, string>) => new Headers(o);

describe("evaluateConditionals (RFC 9110 §13.2.2)", () => {
  it.each<[Record<string, string>, string, string]>([
    [{}, "GET", "proceed"],
    [{ "if-match": '"abc"' }, "GET", "proceed"],
    [{ "if-match": '"x", "abc"' }, "GET", "proceed"],
    [{ "if-match": "*" }, "GET", "proceed"],
    [{ "if-match": '"nope"' }, "GET", "precondition-failed"],
    [{ "if-match": 'W/"abc"' }, "GET", "precondition-failed"], // If-Match uses strong comparison
    [{ "if-unmodified-since": BEFORE }, "GET", "precondition-failed"],
    [{ "if-unmodified-since": LM }, "GET", "proceed"],
    [{ "if-unmodified-since": "garbage" }, "GET", "proceed"],
    [{ "if-match": '"abc"', "if-unmodified-since": BEFORE }, "GET", "proceed"], // If-Match wins
    [{ "if-none-match": '"abc"' }, "GET", "not-modified"],
    [{ "if-none-match": 'W/"abc"' }, "HEAD", "not-modified"], // weak comparison
    [{ "if-none-match": "*" }, "GET", "not-modified"],
    [{ "if-none-match": '"other"' }, "GET", "proceed"],
    [{ "if-none-match": '"abc"' }, "PUT", "precondition-failed"],
    [{ "if-modified-since": LM }, "GET", "not-modified"],
    [{ "if-modified-since": BEFORE }, "GET", "proceed"],
    [{ "if-none-match": '"other"', "if-modified-since": LM }, "GET", "proceed"], // INM wins over IMS
    [{ "if-match": '"nope"', "if-none-match": '"abc"' }, "GET", "precondition-failed"], // 412 before 304
  ])("%j %s → %s", (headers, method, want) => expect(evaluateConditionals(h(headers), v, method)).toBe(want));
});

describe("evaluateConditionals without a date (JSON answers)", () => {
  const tagOnly = { etag: '"abc"' };
  it.each<[Record<string, string>, string]>([
    [{ "if-none-match": '"abc"' }, "not-modified"],
    [{ "if-match": '"nope"' }, "precondition-failed"],
    [{ "if-modified-since": LM }, "proceed"], // no date to compare with
    [{ "if-unmodified-since": BEFORE }, "proceed"],
  ])("%j → %s", (headers, want) => expect(evaluateConditionals(h(headers), tagOnly, "GET")).toBe(want));
  it("If-Range with a date never allows a range", () => expect(ifRangeAllows(h({ "if-range": LM }), tagOnly)).toBe(false));
});

describe("ifRangeAllows", () => {
  it.each<[Record<string, string>, boolean]>([
    [{}, true],
    [{ "if-range": '"abc"' }, true],
    [{ "if-range": '"old"' }, false],
    [{ "if-range": 'W/"abc"' }, false],
    [{ "if-range": LM }, true],
    [{ "if-range": BEFORE }, false],
    [{ "if-range": "nonsense" }, false],
  ])("%j → %s", (headers, want) => expect(ifRangeAllows(h(headers), v)).toBe(want));
});

it("parseEtagList skips junk", () => {
  expect(parseEtagList('"a", W/"b", junk')).toEqual([
    { weak: false, opaque: '"a"' },
    { weak: true, opaque: '"b"' },
  ]);
  expect(parseEtagList(" * ")).toBe("*");
});

describe("parseHttpDate (RFC 9110 §5.6.7 only)", () => {
  it.each([
    ["Sun, 06 Nov 1994 08:49:37 GMT", 784111777],
    ["Sunday, 06-Nov-94 08:49:37 GMT", 784111777],
    ["Sun Nov  6 08:49:37 1994", 784111777],
    ["Dec 2099", null],
    ["1", null],
    ["2026-11-27T00:00:00Z", null],
    ["Sun, 31 Feb 1994 08:49:37 GMT", null],
  ])("%s → %s", (v, want) => expect(parseHttpDate(v)).toBe(want));
});
