import { describe, expect, it } from "vitest";
import { normalizeRemoteEntry, type CatalogEntry } from "../../shared/catalog.js";
import type { CacheEntry } from "../cache/entry.js";
import type { ServerCatalog } from "./fetch.js";
import { hybridView } from "./hybrid.js";
import { findInCatalogs } from "./resolve.js";

const A = "a".repeat(64);
const B = "b".repeat(64);
const C = "c".repeat(64);
const server = (name: string) => ({ name, url: `http://127.0.0.1/${name}` });
const entry = (id: string, sha: string | null, src: string, extra: Record<string, unknown> = {}): CatalogEntry =>
  normalizeRemoteEntry({ id, name: id, size: 10, sha256: sha, distro: "alpine", ...extra }, { id: src, name: src, url: `http://127.0.0.1/${src}`, color: "#000000" })!;
const cat = (name: string, entries: CatalogEntry[], extra: Partial<ServerCatalog> = {}): ServerCatalog => ({ server: server(name), source: entries[0]?.source ?? { id: name, name, url: "", color: "" }, entries, fromCache: false, stale: false, ...extra });
const cached = (sha: string, id: string, pinned = false): CacheEntry => ({ v: 1, sha256: sha, size: 10, addedAt: 1, lastAccess: 1, verifiedAt: 1, pinned, sources: [{ url: "u", id, server: "s1", checkedAt: 1 }] });

describe("catalog view", () => {
  const catalogs = [cat("s1", [entry("alpine", A, "s1"), entry("debian", B, "s1", { distro: "debian" })]), cat("s2", [entry("old", null, "s2")], { stale: true, error: { code: "E_NETWORK", message: "refused" } })];
  const local = [cached(A, "alpine", true), cached(C, "mine")];

  it("all: listed entries with cache state, plus cached items no listing mentions", () => {
    const v = hybridView({ catalogs, cached: local, source: "all", filter: {} });
    expect(v.rows.map((r) => [r.id, r.source, r.cached, r.pinned, r.stale])).toEqual([
      ["alpine", "s1", true, true, false],
      ["debian", "s1", false, false, false],
      ["old", "s2", false, false, true],
      ["mine", "cache", true, false, false],
    ]);
    expect(v.servers.map((s) => s.status)).toEqual(["ok", "stale"]);
  });

  it("local / remote / query", () => {
    expect(hybridView({ catalogs, cached: local, source: "cache", filter: {} }).rows.map((r) => r.id)).toEqual(["alpine", "mine"]);
    expect(hybridView({ catalogs, cached: local, source: "servers", filter: {} }).rows.map((r) => r.id)).toEqual(["alpine", "debian", "old"]);
    expect(hybridView({ catalogs, cached: local, source: "servers", filter: { q: "debian" } }).rows.map((r) => r.id)).toEqual(["debian"]);
  });

  it("resolves ids across servers; same file is one answer, different files are ambiguous", () => {
    const same = [cat("s1", [entry("x", A, "s1")]), cat("s2", [entry("x", A, "s2")])];
    expect(findInCatalogs(same, "x")?.server.name).toBe("s1");
    const diff = [cat("s1", [entry("x", A, "s1")]), cat("s2", [entry("x", B, "s2")])];
    expect(() => findInCatalogs(diff, "x")).toThrow(expect.objectContaining({ code: "E_AMBIGUOUS" }));
    expect(findInCatalogs(diff, A.slice(0, 12))?.entry.sha256).toBe(A);
    expect(findInCatalogs(diff, "nope")).toBeUndefined();
  });

  it("downloads from the content-addressed blob URL when the digest is known", () => {
    const e = entry("x", A, "s1", { blob_url: `/blobs/sha256/${A}`, url: "/api/v1/containers/x" });
    expect(findInCatalogs([cat("s1", [e])], "x")?.downloadUrl).toBe(`http://127.0.0.1/blobs/sha256/${A}`);
    const noHash = entry("y", null, "s1");
    expect(findInCatalogs([cat("s1", [noHash])], "y")?.downloadUrl).toBe("http://127.0.0.1/s1/api/v1/containers/y");
  });
});
