/** Pure helpers of shared/catalog.ts (used by both the Worker and the agent). */
import { describe, expect, it } from "vitest";
import { type CatalogEntry, dedupeBySha256, filterEntries, gridDimensions, normalizeArch, normalizeRemoteEntry, parseCatalogFilter, type SourceInfo } from "../../shared/catalog";

const A: SourceInfo = { id: "a", name: "A", url: "http://a.test", color: "#a" };
const B: SourceInfo = { id: "b", name: "B", url: "http://b.test", color: "#b" };
const entry = (id: string, source: SourceInfo, extra: Record<string, unknown> = {}) => normalizeRemoteEntry({ id, name: id, ...extra }, source)!;

describe("normalizeRemoteEntry", () => {
  it("keeps every original field with its type and fills ours", () => {
    const e = normalizeRemoteEntry(
      { id: "bab4921c3048", name: "tiny", path: "/srv/x.rts.png", size: 1058, kernel_version: null, distro: null, architecture: null, visual_description: null, detected_objects: [], thumbnail: "iVBOR", position: { x: 3, y: 1 } },
      A,
    )!;
    expect(e).toMatchObject({ id: "bab4921c3048", size: 1058, thumbnail: "iVBOR", position: { x: 3, y: 1 }, hash: null, sha256: null, url: null, source: A, sourceServerId: "a", sourceServerUrl: "http://a.test" });
  });
  it("accepts hash or sha256 (hex, any case) and resolves relative URLs against the source", () => {
    const e = normalizeRemoteEntry({ id: 7, hash: "AB".repeat(32), url: "/api/v1/containers/x", thumbnail_url: "javascript:alert(1)" }, A)!;
    expect(e.id).toBe("7");
    expect(e.sha256).toBe("ab".repeat(32));
    expect(e.url).toBe("http://a.test/api/v1/containers/x");
    expect(e.thumbnail_url).toBeNull();
  });
  it("coerces junk to safe defaults and rejects entries without an id", () => {
    expect(normalizeRemoteEntry(42, A)).toBeNull();
    expect(normalizeRemoteEntry({ name: "x" }, A)).toBeNull();
    const e = normalizeRemoteEntry({ id: "x", size: -5, detected_objects: ["a", 1], position: "no", hash: "md5", segments: [{ name: "k", size: 1.5 }, "junk"] }, A)!;
    expect(e).toMatchObject({ size: 0, detected_objects: ["a"], position: { x: 0, y: 0 }, hash: null, segments: [{ name: "k", size: null, type: null, start: null, sha256: null }] });
  });
});

describe("filters", () => {
  const list: CatalogEntry[] = [
    entry("alpine", A, { distro: "Alpine", architecture: "x86_64", type: "boot-bundle", description: "Tiny Linux" }),
    entry("deb", B, { distro: "debian", architecture: "aarch64", type: "kernel" }),
  ];
  it.each<[string, string[]]>([
    ["q=tiny linux", ["alpine"]],
    ["q=linux tiny", ["alpine"]],
    ["q=tiny debian", []],
    ["distro=alpine", ["alpine"]],
    ["arch=amd64", ["alpine"]],
    ["arch=arm64", ["deb"]],
    ["type=KERNEL", ["deb"]],
    ["source=b", ["deb"]],
    ["source=a, b", ["alpine", "deb"]],
    ["", ["alpine", "deb"]],
  ])("%s", (qs, want) => expect(filterEntries(list, parseCatalogFilter(new URLSearchParams(qs))).map((e) => e.id)).toEqual(want));
  it("normalizes architecture aliases", () => expect([normalizeArch("AMD64"), normalizeArch("arm64"), normalizeArch("riscv64")]).toEqual(["x86_64", "aarch64", "riscv64"]));
});

describe("dedupeBySha256", () => {
  it("keeps the first source's entry, records the others in also_from, keeps same-server duplicates and unknown hashes", () => {
    const sha = "cd".repeat(32);
    const out = dedupeBySha256([entry("a1", A, { sha256: sha }), entry("a2", A, { sha256: sha }), entry("b1", B, { hash: sha }), entry("b2", B), entry("b3", B)]);
    expect(out.map((e) => e.id)).toEqual(["a1", "a2", "b2", "b3"]);
    expect(out[0]!.also_from).toEqual([B]);
  });
});

it("gridDimensions follows the original (max+2, 4x4 when empty)", () => {
  expect(gridDimensions([])).toEqual({ width: 4, height: 4 });
  expect(gridDimensions([{ position: { x: 0, y: 0 } }])).toEqual({ width: 2, height: 2 });
  expect(gridDimensions([{ position: { x: 9, y: 3 } }, { position: { x: 2, y: 4 } }])).toEqual({ width: 11, height: 6 });
});
