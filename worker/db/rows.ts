/**
 * Rows of the D1 catalog index (migrations/0001_catalog_index.sql) and their catalog entries.
 * A row mirrors one R2 pointer version (`seq`); entries are built from rows the way
 * catalog/entry.ts builds them from pointer records, so both spell every field the same.
 */
import { normalizeArch, type CatalogEntry, type SegmentSummary, type SignatureSummaryEntry, type SourceInfo } from "../../shared/catalog";
import { entryFromRecord } from "../catalog/entry";
import type { ContainerRecord } from "../storage/record";

/** Columns of `entries` read for catalog entries (thumb_inline only when asked for). */
export interface EntryRow {
  name: string;
  sha256: string;
  size: number;
  data_hash: string | null;
  data_size: number | null;
  grid_size: number | null;
  type: string | null;
  distro: string | null;
  arch: string | null;
  kernel_version: string | null;
  description: string | null;
  content_version: string | null;
  segments: string | null;
  blob_etag: string | null;
  published_at: string | null;
  published_ms: number | null;
  thumb: string | null;
  thumb_inline?: string | null;
  /** JSON array of {keyid, name, signed_at} (a correlated subquery over `signatures`). */
  sigs: string | null;
}

export const ENTRY_COLUMNS = "e.name, e.sha256, e.size, e.data_hash, e.data_size, e.grid_size, e.type, e.distro, e.arch, e.kernel_version, e.description, e.content_version, e.segments, e.blob_etag, e.published_at, e.published_ms, e.thumb";
export const SIGS_COLUMN =
  "(SELECT json_group_array(json_object('keyid', s.keyid, 'name', s.name, 'signed_at', s.signed_at)) FROM (SELECT keyid, name, signed_at FROM signatures s WHERE s.sha256 = e.sha256 ORDER BY keyid LIMIT 16) s) AS sigs";

export function segmentsJson(segments: SegmentSummary[]): string {
  return JSON.stringify(segments.map((s) => [s.name, s.type, s.size, s.start, s.sha256]));
}

function parseSegments(text: string | null): SegmentSummary[] {
  if (!text) return [];
  try {
    return (JSON.parse(text) as unknown[]).filter(Array.isArray).map((a) => ({
      name: String(a[0]),
      type: typeof a[1] === "string" ? a[1] : null,
      size: typeof a[2] === "number" ? a[2] : null,
      start: typeof a[3] === "number" ? a[3] : null,
      sha256: typeof a[4] === "string" ? a[4] : null,
    }));
  } catch {
    return [];
  }
}

function parseSigs(text: string | null): SignatureSummaryEntry[] {
  if (!text) return [];
  try {
    return (JSON.parse(text) as SignatureSummaryEntry[]).filter((s) => s && typeof s.keyid === "string");
  } catch {
    return [];
  }
}

/** The catalog entry of a row; `thumbnail` is the inline base64 when the row carries it. */
export function entryFromRow(row: EntryRow, origin: string, source: SourceInfo): CatalogEntry {
  const record: ContainerRecord = {
    sha256: row.sha256,
    size: row.size,
    data_hash: row.data_hash,
    data_size: row.data_size,
    grid_size: row.grid_size,
    type: row.type,
    distro: row.distro,
    arch: row.arch,
    kernel_version: row.kernel_version,
    description: row.description,
    content_version: row.content_version,
    segments: parseSegments(row.segments),
    blob_etag: row.blob_etag ?? undefined,
    published_at: row.published_at ?? undefined,
    thumb: row.thumb ?? undefined,
  };
  const entry = entryFromRecord(row.name, record, origin, source, undefined, parseSigs(row.sigs));
  if (row.thumb_inline) entry.thumbnail = row.thumb_inline;
  return entry;
}

/** Values of the `entries` columns for a live pointer record (seq and etags added by the writer). */
export function recordColumns(name: string, r: ContainerRecord) {
  return {
    name,
    sha256: r.sha256,
    size: r.size,
    data_hash: r.data_hash,
    data_size: r.data_size,
    grid_size: r.grid_size,
    type: r.type,
    distro: r.distro,
    arch: r.arch,
    arch_norm: r.arch ? normalizeArch(r.arch) : null,
    kernel_version: r.kernel_version,
    description: r.description,
    content_version: r.content_version,
    segments: segmentsJson(r.segments),
    gen: r.gen ?? null,
    blob_etag: r.blob_etag ?? null,
    link: r.link ?? null,
    published_at: r.published_at ?? null,
    published_ms: r.published_at ? Date.parse(r.published_at) || 0 : 0,
    thumb: r.thumb ?? null,
  };
}
