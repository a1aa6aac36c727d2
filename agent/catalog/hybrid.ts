import { matchesFilter, type CatalogEntry, type CatalogFilter } from "../../shared/catalog.js";
import type { CacheEntry } from "../cache/entry.js";
import type { ServerCatalog } from "./fetch.js";

/** One line of `pixelrts catalog`: a container, where it is listed, and its local state. */
export interface HybridRow {
  id: string;
  name: string;
  size: number;
  sha256: string | null;
  /** Server name, the inner source of a federated listing (`server/source`), or `cache` for items no listing mentions. */
  source: string;
  server: string | null;
  type: string | null;
  distro: string | null;
  architecture: string | null;
  cached: boolean;
  /** Cached and re-hashed at least once since it was stored (the pull counts). */
  verified: boolean;
  verified_at: string | null;
  pinned: boolean;
  /** The row comes from a saved catalog copy because the server did not answer. */
  stale: boolean;
  /** When the server says it was published (ISO), or null. */
  updated_at: string | null;
  /** The server's summary of the container's signatures (a claim: pulls verify the envelopes). */
  signatures: { keyid: string; name: string; signed_at: string }[];
}

export interface ServerStatusRow {
  server: string;
  url: string;
  status: "ok" | "stale" | "error";
  entries: number;
  fetched_at: string | null;
  error: { code: string; message: string } | null;
}

const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());

function cachedSnapshot(c: CacheEntry): CatalogEntry | undefined {
  return c.entry;
}

/**
 * Merges server listings with the local cache. `local` shows only cached items, `remote` only
 * listed ones (with their cached state), `all` both (cached items no listing mentions appear
 * once with source `cache`).
 */
export function hybridView(input: { catalogs: ServerCatalog[]; cached: CacheEntry[]; source: "cache" | "servers" | "all"; filter: CatalogFilter }): { rows: HybridRow[]; servers: ServerStatusRow[] } {
  const bySha = new Map(input.cached.map((c) => [c.sha256, c]));
  const rows: HybridRow[] = [];
  const listedShas = new Set<string>();
  const servers: ServerStatusRow[] = input.catalogs.map((c) => ({
    server: c.server.name,
    url: c.server.url,
    status: c.error ? (c.entries.length ? "stale" : "error") : "ok",
    entries: c.entries.length,
    fetched_at: iso(c.fetchedAt),
    error: c.error ?? null,
  }));

  if (input.source !== "cache") {
    for (const cat of input.catalogs) {
      for (const e of cat.entries) {
        if (!matchesFilter(e, input.filter)) continue;
        const c = e.sha256 ? bySha.get(e.sha256) : undefined;
        if (e.sha256) listedShas.add(e.sha256);
        rows.push({
          id: e.id,
          name: e.name,
          size: e.size,
          sha256: e.sha256,
          source: e.source.id === cat.server.name ? cat.server.name : `${cat.server.name}/${e.source.id}`,
          server: cat.server.name,
          type: e.type,
          distro: e.distro,
          architecture: e.architecture,
          cached: !!c,
          verified: !!c && c.verifiedAt > 0,
          verified_at: iso(c?.verifiedAt),
          pinned: c?.pinned ?? false,
          stale: cat.stale,
          updated_at: e.updated_at,
          signatures: e.signatures ?? [],
        });
      }
    }
  }
  if (input.source !== "servers") {
    for (const c of input.cached) {
      if (input.source === "all" && listedShas.has(c.sha256)) continue;
      const snap = cachedSnapshot(c);
      const src = c.sources[c.sources.length - 1];
      const id = snap?.id ?? src?.id ?? c.sha256.slice(0, 12);
      const name = snap?.name ?? src?.name ?? id;
      if (snap ? !matchesFilter(snap, { ...input.filter, source: undefined }) : input.filter.q && !`${id}\n${name}`.toLowerCase().includes(input.filter.q.toLowerCase())) continue;
      rows.push({
        id,
        name,
        size: c.size,
        sha256: c.sha256,
        source: "cache",
        server: src?.server ?? null,
        type: snap?.type ?? null,
        distro: snap?.distro ?? null,
        architecture: snap?.architecture ?? null,
        cached: true,
        verified: c.verifiedAt > 0,
        verified_at: iso(c.verifiedAt),
        pinned: c.pinned,
        stale: false,
        updated_at: snap?.updated_at ?? null,
        signatures: snap?.signatures ?? [],
      });
    }
  }
  return { rows, servers };
}
