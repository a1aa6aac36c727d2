/**
 * The catalog fields of a container, kept in R2 customMetadata (string → string). R2 caps
 * metadata at 8 KiB, but the local emulator (Miniflare) rejects customMetadata over 2048 bytes
 * (error 10012), so records are kept under 1900 to behave the same everywhere. `encodeRecord`
 * fits the budget by dropping segment digests, then segments, then shortening free text.
 * Values are plain strings; lists are compact JSON.
 */
import type { SegmentSummary } from "../../shared/catalog";
import { isSha256Hex } from "../../shared/catalog";
import type { ContainerHead, PixelRtsMetadata, SegmentInfo } from "../../shared/container/types";

export interface ContainerRecord {
  /** SHA-256 (hex) of the whole .rts.png. */
  sha256: string;
  /** File size in bytes. */
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
  segments: SegmentSummary[];
  // ---- register and pointer fields (layout.ts) ----
  /** Generation of the blob: its bytes are at `blobs/sha256/<sha256>/<gen>`. */
  gen?: string;
  /** HTTP ETag (quoted) of that blob object: the only object the record vouches for. */
  blob_etag?: string;
  // ---- register-only field ----
  /** How many times the register has been attached (1 for the first live generation): signatures record it. */
  life?: number;
  // ---- pointer-only fields ----
  name?: string;
  published_at?: string;
  /** Id of this link of the name to the blob (its ref is `refs/<sha256>/<gen>/<link>`). */
  link?: string;
  /** Id of the thumbnail object (`thumbnails/<name>/<thumb>.png`), when one was uploaded. */
  thumb?: string;
  /** Pointer version number: +1 per compare-and-swap of the pointer (orders index writes). */
  seq?: number;
  // ---- multipart upload only ----
  /** `<length>:<sha256 hex>` of the head (bytes before the first IDAT) sent at create. */
  head?: string;
}

/** Catalog fields a publisher may set beside the PNG metadata (PUT headers `X-PixelRTS-Distro` ...). */
export interface RecordOverrides {
  distro?: string | null;
  arch?: string | null;
  kernel_version?: string | null;
}

export const METADATA_BUDGET = 1900; // under Miniflare's 2048 (and R2's 8 KiB)
const MAX_FIELD = 256;

const str = (v: unknown, max = MAX_FIELD): string | null => (typeof v === "string" && v !== "" ? v.slice(0, max) : null);
const nat = (v: unknown): number | null => (typeof v === "number" && Number.isSafeInteger(v) && v >= 0 ? v : null);

function segmentsOf(md: PixelRtsMetadata): SegmentSummary[] {
  const src: Record<string, SegmentInfo> | undefined =
    md.offsets && typeof md.offsets === "object" && Object.keys(md.offsets).length ? md.offsets : md.segments && typeof md.segments === "object" ? md.segments : undefined;
  if (!src) return [];
  return Object.entries(src)
    .slice(0, 64)
    .map(([name, s]) => ({
      name: name.slice(0, 64),
      type: str(s?.type, 32),
      size: nat(s?.size),
      start: nat(s?.start) ?? nat(s?.offset),
      sha256: isSha256Hex(s?.sha256) ? s.sha256 : null,
    }));
}

function kernelVersion(md: PixelRtsMetadata, segs: Record<string, SegmentInfo> | undefined): string | null {
  const direct = str(md.kernel_version);
  if (direct) return direct;
  for (const [name, s] of Object.entries(segs ?? {})) {
    if ((s?.type === "kernel" || name === "kernel") && typeof s?.version === "string") return str(s.version);
  }
  return null;
}

/** The record of a container from its parsed head (metadata) plus what the request said. */
export function recordFromHead(head: ContainerHead, sha256: string, size: number, o: RecordOverrides = {}): ContainerRecord {
  const md = head.metadata;
  return {
    sha256,
    size,
    data_hash: isSha256Hex(md.data_hash) ? md.data_hash : null,
    data_size: nat(md.data_size),
    grid_size: nat(md.grid_size) ?? head.ihdr.width,
    type: str(md.type, 64),
    distro: o.distro ?? str(md.distro, 64),
    arch: o.arch ?? str(md.architecture, 32) ?? str(md.arch, 32) ?? str(md.boot?.arch, 32),
    kernel_version: o.kernel_version ?? kernelVersion(md, md.segments),
    description: str(md.description, 2048),
    content_version: str(md.content_version, 64),
    segments: segmentsOf(md),
  };
}

/** Size as the strictest meter counts it: max of UTF-8 bytes and Miniflare's (2 per unit if any unit ≥ 256). */
function measure(s: string): number {
  const utf8 = new TextEncoder().encode(s).length;
  return Math.max(utf8, /[^\u0000-\u00ff]/.test(s) ? s.length * 2 : s.length);
}

export function metadataSize(meta: Record<string, string>): number {
  let n = 0;
  for (const [k, v] of Object.entries(meta)) n += measure(k) + measure(v);
  return n;
}

function toMeta(r: ContainerRecord): Record<string, string> {
  const m: Record<string, string> = { v: "1", sha256: r.sha256, size: String(r.size) };
  const put = (k: string, v: string | number | null | undefined) => {
    if (v !== null && v !== undefined && v !== "") m[k] = String(v);
  };
  put("data_hash", r.data_hash);
  put("data_size", r.data_size);
  put("grid_size", r.grid_size);
  put("type", r.type);
  put("distro", r.distro);
  put("arch", r.arch);
  put("kernel_version", r.kernel_version);
  put("description", r.description);
  put("content_version", r.content_version);
  if (r.segments.length) m.segments = JSON.stringify(r.segments.map((s) => [s.name, s.type, s.size, s.start, s.sha256]));
  for (const k of ["gen", "blob_etag", "life", "name", "published_at", "link", "thumb", "seq", "head"] as const) put(k, r[k]);
  return m;
}

/** customMetadata for a record, shrunk to fit the budget. */
export function encodeRecord(r: ContainerRecord): Record<string, string> {
  const fits = (m: Record<string, string>) => metadataSize(m) <= METADATA_BUDGET;
  let meta = toMeta(r);
  if (fits(meta)) return meta;
  let segs = r.segments.map((s) => ({ ...s, sha256: null }));
  meta = toMeta({ ...r, segments: segs });
  while (!fits(meta) && segs.length) {
    segs = segs.slice(0, Math.floor(segs.length / 2));
    meta = toMeta({ ...r, segments: segs });
  }
  for (const max of [512, 128, 32, 0]) {
    if (fits(meta)) break;
    const cut = (v: string | null) => (v === null ? null : v.slice(0, max) || null);
    meta = toMeta({ ...r, segments: [], description: cut(r.description), distro: cut(r.distro), kernel_version: cut(r.kernel_version), content_version: cut(r.content_version), type: cut(r.type), arch: cut(r.arch) });
  }
  return meta;
}

/** Reads a record back; null when the metadata is not one of ours. */
export function decodeRecord(m: Record<string, string> | undefined): ContainerRecord | null {
  if (!m || m.v !== "1" || !isSha256Hex(m.sha256)) return null;
  const num = (v: string | undefined) => (v !== undefined && /^\d+$/.test(v) ? Number(v) : null);
  let segments: SegmentSummary[] = [];
  if (m.segments) {
    try {
      const raw = JSON.parse(m.segments) as unknown[];
      segments = raw.filter(Array.isArray).map((a) => ({
        name: String(a[0]),
        type: typeof a[1] === "string" ? a[1] : null,
        size: typeof a[2] === "number" ? a[2] : null,
        start: typeof a[3] === "number" ? a[3] : null,
        sha256: isSha256Hex(a[4]) ? a[4] : null,
      }));
    } catch {
      segments = [];
    }
  }
  return {
    sha256: m.sha256,
    size: num(m.size) ?? 0,
    data_hash: isSha256Hex(m.data_hash) ? m.data_hash : null,
    data_size: num(m.data_size),
    grid_size: num(m.grid_size),
    type: m.type ?? null,
    distro: m.distro ?? null,
    arch: m.arch ?? null,
    kernel_version: m.kernel_version ?? null,
    description: m.description ?? null,
    content_version: m.content_version ?? null,
    segments,
    gen: m.gen,
    blob_etag: m.blob_etag,
    life: num(m.life) ?? undefined,
    name: m.name,
    published_at: m.published_at,
    link: m.link,
    thumb: m.thumb,
    seq: num(m.seq) ?? undefined,
    head: m.head,
  };
}
