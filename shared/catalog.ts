/**
 * Catalog JSON schema shared by the Worker (producer) and the agent (consumer), plus the pure
 * helpers both sides need: filtering, positions, normalising a remote server's entries and
 * de-duplicating by SHA-256. Web-standard only; no I/O.
 *
 * Compatibility (spec pixelrts-v2.md §7): every field of the original PixelRTS catalog server
 * (`id, name, path, size, kernel_version, distro, architecture, visual_description,
 * detected_objects, thumbnail, position` and `grid_dimensions`) is present with the same JSON
 * type, so an original v1.2 client can read our catalog. Everything else is an addition.
 *
 * Exports are stable: add optional fields, never rename or retype existing ones.
 */

/** Version of this schema, sent as `schema_version` in catalog responses. */
export const CATALOG_SCHEMA_VERSION = 1;

/** A catalog server an entry came from (this Worker itself, or a configured remote). */
export interface SourceInfo {
  /** Stable, URL-safe id from config (`local` for the Worker's own bucket unless configured). */
  id: string;
  /** Human name shown in UIs. */
  name: string;
  /** Base URL of the server, without a trailing `/` (empty string when unknown). */
  url: string;
  /** CSS colour used by UIs to tag entries of this source (e.g. `#4f8cff`). */
  color: string;
}

/** One segment of a container's payload, summarised from the metadata's `offsets`/`segments`. */
export interface SegmentSummary {
  /** Segment name (`kernel`, `initrd`, `disk`, or the converter's file stem). */
  name: string;
  /** Declared segment type (`kernel`, `initrd`, `disk`, `os`, ...), or null. */
  type: string | null;
  /** Segment size in bytes, or null when not recorded. */
  size: number | null;
  /** Byte offset inside the payload (boot bundles: `start`/`offset`), or null (converter files). */
  start: number | null;
  /** Lowercase hex SHA-256 of the segment, or null (may be dropped to fit the 8 KiB R2 limit). */
  sha256: string | null;
}

/** One stored signature envelope of a catalog entry, as listed (not verified by the reader). */
export interface SignatureSummaryEntry {
  /** Key id of the signer (first 16 hex digits of SHA-256 of the raw Ed25519 key). */
  keyid: string;
  /** The container name the signed statement names. */
  name: string;
  /** The statement's `signed_at` (ISO-8601 UTC). */
  signed_at: string;
}

/** One container in a catalog. */
export interface CatalogEntry {
  // ---- fields of the original PixelRTS catalog server (same JSON types) ----
  /** URL-safe, stable id (on this Worker: the container name). Never MD5(path). Remote ids are not namespaced. */
  id: string;
  /** Container name (file name without `.rts.png`). */
  name: string;
  /** Original: absolute server path. Ours: server-relative URL path of the container. */
  path: string;
  /** Size of the `.rts.png` file in bytes (not the payload). */
  size: number;
  /** Kernel version string, or null. */
  kernel_version: string | null;
  /** Distribution name (e.g. `alpine`), or null. */
  distro: string | null;
  /** CPU architecture (`x86_64`, `aarch64`, `riscv64`), or null. */
  architecture: string | null;
  /** Original `--vision` description; ours: the metadata `description`, or null. */
  visual_description: string | null;
  /** Original `--vision` labels; ours: always an array (usually empty). */
  detected_objects: string[];
  /** Base64 PNG thumbnail without a `data:` prefix; `""` when none. */
  thumbnail: string;
  /** Grid cell in listing order: x = i mod 10, y = i div 10. */
  position: { x: number; y: number };

  // ---- our additions ----
  /** SHA-256 (hex) of the `.rts.png` file, what a v1.2 client checks downloads against. Never `data_hash`. */
  hash: string | null;
  /** Same value as `hash` (lowercase hex SHA-256 of the file), or null when the source did not say. */
  sha256: string | null;
  /** Lowercase hex SHA-256 of the decoded payload (metadata `data_hash`), or null. */
  data_hash: string | null;
  /** Payload size in bytes (metadata `data_size`), or null. */
  data_size: number | null;
  /** Image side G (metadata `grid_size`), or null. */
  grid_size: number | null;
  /** Container type from metadata (`boot-bundle`, `vm-snapshot`, `kernel`, `os`, ...), or null. */
  type: string | null;
  /** Metadata `description`, or null. */
  description: string | null;
  /** Metadata `content_version`, or null. */
  content_version: string | null;
  /** Payload segments in payload order (may be truncated to fit storage limits). */
  segments: SegmentSummary[];
  /** Absolute URL that serves the `.rts.png` (GET/HEAD, ranges, conditionals), or null if unknown. */
  url: string | null;
  /** Absolute immutable content-addressed URL (`…/blobs/sha256/<hex>`), or null. */
  blob_url: string | null;
  /** Absolute URL of the PNG thumbnail, or null when there is none. */
  thumbnail_url: string | null;
  /** Strong ETag of the container file as served at `url` (quoted), or null. */
  etag: string | null;
  /** ISO-8601 time the container was last published, or null. */
  updated_at: string | null;
  /** Where this entry comes from. */
  source: SourceInfo;
  /** Other sources that list the same file (same `sha256`), after de-duplication. */
  also_from?: SourceInfo[];
  /**
   * Signature envelopes the source stores for this file, summarised (one per publisher key id;
   * the envelopes themselves: `GET {blob_url}/signatures`). Empty when unsigned; absent from
   * servers that do not store signatures. A summary is not a verdict: hosts verify the envelopes.
   */
  signatures?: SignatureSummaryEntry[];

  // ---- tags of the original v1.2 client (RemoteCatalogClient.js), set on aggregated entries ----
  sourceServerId?: string;
  sourceServerName?: string;
  sourceServerColor?: string;
  sourceServerUrl?: string;
}

/** Width/height of the entry grid: max x + 2 by max y + 2, or 4×4 when empty (original rule). */
export interface GridDimensions {
  width: number;
  height: number;
}

/** `GET /api/v1/catalog`. */
export interface CatalogResponse {
  entries: CatalogEntry[];
  grid_dimensions: GridDimensions;
  /** Opaque cursor for the next page (`?cursor=`), or null when this is the last page. */
  next_cursor: string | null;
  /** This server. */
  source: SourceInfo;
  /** `CATALOG_SCHEMA_VERSION` of the producer. */
  schema_version: number;
}

/** Health of one server inside an aggregated response. */
export interface SourceStatus extends SourceInfo {
  /** `ok`; `error` (HTTP error, invalid JSON, too large, network); `timeout`. */
  status: "ok" | "error" | "timeout";
  /** True for this Worker's own bucket. */
  local: boolean;
  /** Milliseconds until the answer (or the timeout), or null. */
  latency_ms: number | null;
  /** Entries contributed before filtering and de-duplication. */
  count: number;
  /** What went wrong, or null when `status` is `ok`. */
  error: { code: string; message: string } | null;
  /** ISO-8601 time of the answer these entries come from. */
  fetched_at: string;
  /** True when the entries are a cached copy older than the freshness window (a refresh is under way or failed). */
  stale: boolean;
}

/** `GET /api/v1/remote/catalog`: the local catalog merged with every configured remote. */
export interface RemoteCatalogResponse extends CatalogResponse {
  /** One row per server (local first), in config order. */
  sources: SourceStatus[];
  /** True when any source's entries are older than the freshness window (served while revalidating). */
  stale: boolean;
  /** ISO-8601 time this merged answer was assembled. */
  generated_at: string;
}

/** Query parameters shared by both catalog routes (all optional; empty = no filter). */
export interface CatalogFilter {
  /** Words that must all occur (case-insensitive) in id, name, description, visual_description or distro. */
  q?: string;
  /** Exact distro, case-insensitive. */
  distro?: string;
  /** Architecture, case-insensitive, with aliases (amd64 = x86_64, arm64 = aarch64). */
  arch?: string;
  /** Exact container type, case-insensitive. */
  type?: string;
  /** Source id(s), comma-separated, case-insensitive. */
  source?: string;
}

const ARCH_ALIASES: Record<string, string> = {
  amd64: "x86_64",
  x64: "x86_64",
  "x86-64": "x86_64",
  arm64: "aarch64",
  riscv: "riscv64",
};

/** Canonical architecture name (`amd64` → `x86_64`, `arm64` → `aarch64`), lowercase. */
export function normalizeArch(arch: string): string {
  const a = arch.trim().toLowerCase();
  return ARCH_ALIASES[a] ?? a;
}

/** Reads the filter parameters from a query string; blank values are dropped. */
export function parseCatalogFilter(params: URLSearchParams): CatalogFilter {
  const f: CatalogFilter = {};
  for (const key of ["q", "distro", "arch", "type", "source"] as const) {
    const v = params.get(key)?.trim();
    if (v) f[key] = v;
  }
  return f;
}

/** True when no filter is set. */
export function isEmptyFilter(f: CatalogFilter): boolean {
  return !f.q && !f.distro && !f.arch && !f.type && !f.source;
}

/** Does one entry pass the filter? */
export function matchesFilter(entry: CatalogEntry, f: CatalogFilter): boolean {
  const eq = (a: string | null | undefined, b: string) => (a ?? "").toLowerCase() === b.trim().toLowerCase();
  if (f.distro && !eq(entry.distro, f.distro)) return false;
  if (f.type && !eq(entry.type, f.type)) return false;
  if (f.arch && normalizeArch(entry.architecture ?? "") !== normalizeArch(f.arch)) return false;
  if (f.source) {
    const wanted = f.source.split(",").map((s) => s.trim().toLowerCase()).filter(Boolean);
    if (wanted.length && !wanted.includes(entry.source.id.toLowerCase())) return false;
  }
  if (f.q) {
    const hay = [entry.id, entry.name, entry.description, entry.visual_description, entry.distro]
      .filter((s): s is string => typeof s === "string")
      .join("\n")
      .toLowerCase();
    for (const word of f.q.toLowerCase().split(/\s+/)) if (word && !hay.includes(word)) return false;
  }
  return true;
}

/** The entries that pass the filter, in their original order. */
export function filterEntries(entries: readonly CatalogEntry[], f: CatalogFilter): CatalogEntry[] {
  return isEmptyFilter(f) ? entries.slice() : entries.filter((e) => matchesFilter(e, f));
}

/** Sets `position` by listing order (x = i mod 10, y = i div 10), like the original server. */
export function assignPositions<T extends { position: { x: number; y: number } }>(entries: T[], start = 0): T[] {
  entries.forEach((e, i) => {
    e.position = { x: (start + i) % 10, y: Math.floor((start + i) / 10) };
  });
  return entries;
}

/** `grid_dimensions` as the original computes it: max x + 2 by max y + 2, 4×4 when empty. */
export function gridDimensions(entries: readonly { position: { x: number; y: number } }[]): GridDimensions {
  if (entries.length === 0) return { width: 4, height: 4 };
  let mx = 0;
  let my = 0;
  for (const e of entries) {
    mx = Math.max(mx, e.position.x);
    my = Math.max(my, e.position.y);
  }
  return { width: mx + 2, height: my + 2 };
}

const SHA256_RE = /^[0-9a-f]{64}$/;

/** Is `s` a lowercase 64-digit hex SHA-256? */
export function isSha256Hex(s: unknown): s is string {
  return typeof s === "string" && SHA256_RE.test(s);
}

/** Adds the original v1.2 client's `sourceServer*` tags (and `source`) to an entry, in place. */
export function tagWithSource(entry: CatalogEntry, source: SourceInfo): CatalogEntry {
  entry.source = source;
  entry.sourceServerId = source.id;
  entry.sourceServerName = source.name;
  entry.sourceServerColor = source.color;
  entry.sourceServerUrl = source.url;
  return entry;
}

const str = (v: unknown): string | null => (typeof v === "string" ? v : null);
const nonNegInt = (v: unknown): number | null => (typeof v === "number" && Number.isSafeInteger(v) && v >= 0 ? v : null);

function absUrl(v: unknown, base: string): string | null {
  if (typeof v !== "string" || v === "") return null;
  try {
    const u = new URL(v, base + "/");
    return u.protocol === "http:" || u.protocol === "https:" ? u.toString() : null;
  } catch {
    return null;
  }
}

function normalizeSegments(v: unknown): SegmentSummary[] {
  if (!Array.isArray(v)) return [];
  const out: SegmentSummary[] = [];
  for (const s of v) {
    if (typeof s !== "object" || s === null) continue;
    const r = s as Record<string, unknown>;
    const name = str(r.name);
    if (!name) continue;
    out.push({ name, type: str(r.type), size: nonNegInt(r.size), start: nonNegInt(r.start), sha256: isSha256Hex(r.sha256) ? r.sha256 : null });
  }
  return out;
}

const KEYID_RE = /^[0-9a-f]{16}$/;
const SIGNED_AT_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/;
const SIG_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** A remote's `signatures` summary, strictly: well-formed items only (at most 16); undefined when absent. */
function normalizeSignatureSummaries(v: unknown): SignatureSummaryEntry[] | undefined {
  if (!Array.isArray(v)) return undefined;
  const out: SignatureSummaryEntry[] = [];
  for (const s of v.slice(0, 16)) {
    if (typeof s !== "object" || s === null) continue;
    const r = s as Record<string, unknown>;
    if (typeof r.keyid !== "string" || !KEYID_RE.test(r.keyid)) continue;
    if (typeof r.signed_at !== "string" || !SIGNED_AT_RE.test(r.signed_at)) continue;
    const name = typeof r.name === "string" && SIG_NAME_RE.test(r.name) && !r.name.includes("..") ? r.name : "";
    out.push({ keyid: r.keyid, name, signed_at: r.signed_at });
  }
  return out;
}

/**
 * Turns one entry of any server's catalog (an original PixelRTS server or another instance of
 * this Worker) into a well-typed `CatalogEntry` tagged with `source`. Relative URLs are resolved
 * against `source.url`. Returns null when the value is not an object with a usable `id`.
 * `hash`/`sha256` are kept only if they are 64-digit hex (the file's SHA-256, lowercased).
 */
export function normalizeRemoteEntry(raw: unknown, source: SourceInfo): CatalogEntry | null {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return null;
  const r = raw as Record<string, unknown>;
  const id = typeof r.id === "string" ? r.id : typeof r.id === "number" ? String(r.id) : null;
  if (!id) return null;
  const lower = (v: unknown) => (typeof v === "string" ? v.toLowerCase() : v);
  const sha = isSha256Hex(lower(r.sha256)) ? (lower(r.sha256) as string) : isSha256Hex(lower(r.hash)) ? (lower(r.hash) as string) : null;
  const pos = typeof r.position === "object" && r.position !== null ? (r.position as Record<string, unknown>) : {};
  const base = source.url;
  const entry: CatalogEntry = {
    id,
    name: str(r.name) ?? id,
    path: str(r.path) ?? "",
    size: nonNegInt(r.size) ?? 0,
    kernel_version: str(r.kernel_version),
    distro: str(r.distro),
    architecture: str(r.architecture),
    visual_description: str(r.visual_description),
    detected_objects: Array.isArray(r.detected_objects) ? r.detected_objects.filter((x): x is string => typeof x === "string") : [],
    thumbnail: str(r.thumbnail) ?? "",
    position: { x: nonNegInt(pos.x) ?? 0, y: nonNegInt(pos.y) ?? 0 },
    hash: sha,
    sha256: sha,
    data_hash: isSha256Hex(lower(r.data_hash)) ? (lower(r.data_hash) as string) : null,
    data_size: nonNegInt(r.data_size),
    grid_size: nonNegInt(r.grid_size),
    type: str(r.type),
    description: str(r.description),
    content_version: str(r.content_version),
    segments: normalizeSegments(r.segments),
    url: absUrl(r.url, base),
    blob_url: absUrl(r.blob_url, base),
    thumbnail_url: absUrl(r.thumbnail_url, base),
    etag: str(r.etag),
    updated_at: str(r.updated_at),
    source,
  };
  const sigs = normalizeSignatureSummaries(r.signatures);
  if (sigs) entry.signatures = sigs;
  return tagWithSource(entry, source);
}

/**
 * De-duplicates entries by `sha256` across sources (entries without one are all kept, and so are
 * several names for one file on the same server): the first source's entry wins, the same file
 * from later sources is dropped and those sources are appended to the winner's `also_from`.
 * Order is preserved. Returns new arrays; the winners are mutated (`also_from`).
 */
export function dedupeBySha256(entries: readonly CatalogEntry[]): CatalogEntry[] {
  const seen = new Map<string, CatalogEntry>();
  const out: CatalogEntry[] = [];
  for (const e of entries) {
    if (!e.sha256) {
      out.push(e);
      continue;
    }
    const first = seen.get(e.sha256);
    if (!first) {
      seen.set(e.sha256, e);
      out.push(e);
      continue;
    }
    if (sameSource(first.source, e.source)) {
      out.push(e); // one server listing the same file under two names: both are real entries
      continue;
    }
    const also = (first.also_from ??= []);
    if (!also.some((s) => sameSource(s, e.source))) also.push(e.source);
  }
  return out;
}

function sameSource(a: SourceInfo, b: SourceInfo): boolean {
  return a.id === b.id && a.url === b.url;
}
