import type { CatalogEntry } from "../../shared/catalog.js";
import { PixelRtsError } from "../../shared/errors.js";
import type { ServerConfig } from "../config/servers.js";
import type { ServerCatalog } from "./fetch.js";

export interface ResolvedEntry {
  entry: CatalogEntry;
  server: ServerConfig;
  /** URL the bytes are fetched from: the content-addressed blob URL when the digest is known. */
  downloadUrl: string;
}

export function downloadUrlOf(entry: CatalogEntry, server: ServerConfig): string {
  if (entry.sha256 && entry.blob_url) return entry.blob_url;
  return entry.url ?? `${entry.source.url || server.url}/api/v1/containers/${encodeURIComponent(entry.id)}`;
}

/**
 * Finds `ref` (id, then name, then a ≥8-digit SHA-256 prefix) in the loaded catalogs. The same
 * file (same SHA-256) on several servers is one answer; different files under one name are
 * ambiguous and need --server.
 */
export function findInCatalogs(catalogs: ServerCatalog[], ref: string): ResolvedEntry | undefined {
  const all = catalogs.flatMap((c) => c.entries.map((entry) => ({ entry, server: c.server })));
  const r = ref.replace(/^sha256:/, "").toLowerCase();
  const tiers = [
    all.filter((x) => x.entry.id === ref),
    all.filter((x) => x.entry.name === ref),
    /^[0-9a-f]{8,64}$/.test(r) ? all.filter((x) => x.entry.sha256?.startsWith(r)) : [],
  ];
  const hits = tiers.find((t) => t.length > 0);
  if (!hits) return undefined;
  const distinct = new Map<string, (typeof hits)[number]>();
  for (const h of hits) distinct.set(h.entry.sha256 ?? `${h.server.name}/${h.entry.id}`, h);
  if (distinct.size > 1) {
    const where = [...distinct.values()].map((h) => `${h.server.name}/${h.entry.id} (${h.entry.sha256?.slice(0, 12) ?? "no hash"})`).join(", ");
    throw new PixelRtsError("E_AMBIGUOUS", `'${ref}' names different containers: ${where}; pick one with --server NAME or by sha256`, { ref });
  }
  const { entry, server } = hits[0]!;
  return { entry, server, downloadUrl: downloadUrlOf(entry, server) };
}
