import { createHash } from "node:crypto";
import type { CatalogEntry } from "../../shared/catalog.js";

/** Where a cached blob was fetched from; one blob may have several (same bytes, many names). */
export interface CacheSource {
  url: string;
  /** Configured server name, when pulled through a catalog. */
  server?: string;
  /** Catalog id at that server. */
  id?: string;
  name?: string;
  etag?: string;
  lastModified?: string;
  /** ms since epoch: last time the server confirmed this URL still serves these bytes. */
  checkedAt: number;
}

/** One index record: `v1/index/ab/<hex>.json`. */
export interface CacheEntry {
  v: 1;
  sha256: string;
  size: number;
  /** ms since epoch. */
  addedAt: number;
  /** ms since epoch; LRU order. */
  lastAccess: number;
  /** ms since epoch of the last full re-hash (the pull itself counts). */
  verifiedAt: number;
  pinned: boolean;
  sources: CacheSource[];
  /** The catalog entry as last seen, so boot can work offline. */
  entry?: CatalogEntry;
}

/** Serialises an entry with a trailing checksum of its own JSON, so a damaged file is detected, not trusted. */
export function encodeEntry(e: CacheEntry): string {
  const body = JSON.stringify(e);
  return JSON.stringify({ entry: e, check: sha256Hex(body) }) + "\n";
}

/** The entry, or undefined when the file is not a well-formed, self-consistent record for `hex`. */
export function decodeEntry(text: string, hex: string): CacheEntry | undefined {
  try {
    const obj = JSON.parse(text) as { entry?: CacheEntry; check?: string };
    const e = obj.entry;
    if (!e || obj.check !== sha256Hex(JSON.stringify(e))) return undefined;
    if (e.v !== 1 || e.sha256 !== hex || !Number.isSafeInteger(e.size) || !Array.isArray(e.sources)) return undefined;
    return e;
  } catch {
    return undefined;
  }
}

export function sha256Hex(s: string): string {
  return createHash("sha256").update(s).digest("hex");
}

/** Adds or refreshes a source (matched by URL, and by server+id when both are set). */
export function mergeSource(sources: CacheSource[], s: CacheSource): CacheSource[] {
  const same = (x: CacheSource) => x.url === s.url || (s.server !== undefined && s.id !== undefined && x.server === s.server && x.id === s.id);
  return [...sources.filter((x) => !same(x)), s];
}
