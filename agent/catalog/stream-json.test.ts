import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CatalogStreamParser } from "./stream-json.js";

/** Parses `text` fed in pieces cut at `cuts`; returns the entries and the result. */
function parse(text: string, cuts: number[] = [], budget = Infinity) {
  const entries: unknown[] = [];
  const p = new CatalogStreamParser({ thumbnailBudget: budget, onEntry: (e) => entries.push(e) });
  let at = 0;
  for (const c of [...cuts.filter((c) => c > 0 && c < text.length)].sort((a, b) => a - b)) {
    p.feed(text.slice(at, c));
    at = c;
  }
  p.feed(text.slice(at));
  return { entries, result: p.end() };
}

const plain = (v: unknown) => JSON.parse(JSON.stringify(v));

describe("catalog JSON parsed while it streams", () => {
  it("gives the same entries and top-level fields as JSON.parse, however the text is cut", () => {
    const value = fc.jsonValue({ maxDepth: 3 });
    fc.assert(
      fc.property(fc.array(value, { maxLength: 6 }), fc.dictionary(fc.string().filter((k) => k !== "entries" && k !== "__proto__"), value, { maxKeys: 3 }), fc.array(fc.nat(400), { maxLength: 8 }), (entries, rest, cuts) => {
        const doc = { ...rest, entries };
        const text = JSON.stringify(doc, null, cuts.length % 2 ? 1 : undefined);
        const { entries: got, result } = parse(text, cuts);
        expect(plain(got)).toEqual(plain(entries));
        expect(plain(result.top)).toEqual(plain(rest));
        expect(result.entries).toBe(entries.length);
      }),
      { numRuns: 300 },
    );
  });

  it("decodes escapes cut anywhere (\\u sequences, surrogate pairs, quotes)", () => {
    const doc = { entries: [{ id: "a\"b\\c\u00e9\u2028😀\n\t/", description: "x".repeat(50) }] };
    const text = JSON.stringify(doc).replace("é", "\\u00e9");
    for (let cut = 1; cut < text.length; cut++) expect(parse(text, [cut]).entries).toEqual(doc.entries);
  });

  it("keeps thumbnails while the budget lasts, then drops them whole and keeps the entry", () => {
    const thumb = "A".repeat(1000);
    const doc = { entries: Array.from({ length: 5 }, (_, i) => ({ id: `e${i}`, thumbnail: thumb, thumbnail_url: i === 4 ? "http://h/t.png" : null })) };
    const { entries, result } = parse(JSON.stringify(doc), [10, 1500, 1600, 2999], 2500);
    expect((entries as { id: string; thumbnail: string }[]).map((e) => [e.id, e.thumbnail.length])).toEqual([["e0", 1000], ["e1", 1000], ["e2", 0], ["e3", 0], ["e4", 0]]);
    expect((entries[4] as { thumbnail_url: string }).thumbnail_url).toBe("http://h/t.png");
    expect(result.thumbnails).toEqual({ kept: 2, dropped: 3, keptChars: 2000 });
  });

  it("budget 0 keeps no thumbnail, and never stores its characters", () => {
    const { entries, result } = parse(JSON.stringify({ entries: [{ id: "x", thumbnail: "B".repeat(3_000_000) }] }), [], 0);
    expect(entries).toEqual([{ id: "x", thumbnail: "" }]);
    expect(result.thumbnails).toEqual({ kept: 0, dropped: 1, keptChars: 0 });
  });

  it.each([
    ["not an object", "[1,2]", /top-level value is not an object/],
    ["no entries", '{"a":1}', /no entries\[\] array/],
    ["entries not an array", '{"entries":{}}', /no entries\[\] array/],
    ["truncated", '{"entries":[{"id":"a"', /ends before/],
    ["inside a string", '{"entries":["ab', /ends inside a string/],
    ["trailing comma", '{"entries":[1,]}', /unexpected/],
    ["missing colon", '{"entries" []}', /expected ':'/],
    ["garbage after", '{"entries":[]} x', /after the top-level value/],
    ["bad literal", '{"entries":[tru]}', /not a JSON value/],
    ["raw newline in a string", '{"entries":["a\nb"]}', /raw control character/],
    ["a string over the limit", JSON.stringify({ entries: [{ description: "d".repeat((1 << 20) + 1) }] }), /longer than 1048576 characters/],
    ["too deep", `{"entries":[${"[".repeat(70)}${"]".repeat(70)}]}`, /deeper than 64/],
  ])("refuses %s (E_BAD_RESPONSE)", (_name, text, message) => {
    expect(() => parse(text, [3])).toThrow(expect.objectContaining({ code: "E_BAD_RESPONSE", message: expect.stringMatching(message) }));
  });

  it("a key named __proto__ does not change an entry's prototype", () => {
    const { entries } = parse('{"entries":[{"__proto__":{"polluted":true},"id":"p"}]}');
    expect((entries[0] as Record<string, unknown>).polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
