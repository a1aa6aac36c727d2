/**
 * Decoding a PixelRTS v2 container to its payload (spec §5.1). Reads the PNG once, front to
 * back: chunks are CRC-checked as they arrive, IDAT data is inflated as a stream, unfiltered
 * rows are gathered into a strip of 64 (one row of Hilbert blocks) and scattered into the
 * payload along the curve. Memory: the stored bytes, a 64-row strip and two scanlines, plus the
 * inflater's read-ahead; the whole raster instead when the metadata follows the image data (its
 * byte count is not known until then); and for a compressed payload, its decompressed bytes
 * (at most `original_size`) as well.
 */
import type { ByteSource } from "../bytes.js";
import { fail, isPixelRtsError } from "../errors.js";
import { webSha256, type Sha256Fn } from "../hash.js";
import { HilbertRows, isPowerOfTwo } from "../hilbert.js";
import type { PyDict } from "../pyjson.js";
import { BROKEN_STREAM, DEFAULT_MAX_ANCILLARY_BYTES, readPngChunks, type PngChunk } from "../png/chunks.js";
import type { Crc32Fn } from "../png/crc32.js";
import { checkSupported, ihdrFromFirstChunk } from "../png/ihdr.js";
import { ScanlineReader } from "../png/scanlines.js";
import { TextChunks, type TextChunk } from "../png/text.js";
import { inflateBounded, webZlib, type ZlibPlatform, type ZlibTransform } from "../zlib.js";
import { zstdDecompressBounded } from "../zstd.js";
import { CODE, parseMetadataJson, selectMetadata, type SelectedMetadata } from "./metadata.js";
import { checkSignature, type SignatureStatus } from "./signature.js";
import type { PixelRtsMetadata, PngHeader } from "./types.js";

/** Largest grid the in-memory decoder accepts by default (256 MiB payloads; spec §2.2's minimum). */
export const DEFAULT_MAX_GRID = 8192;
/** Largest grid anything here handles (4 GiB payloads); the streaming decoders default to it. */
export { MAX_GRID_LIMIT } from "./head.js";

export interface DecodeOptions {
  crc32?: Crc32Fn;
  zlib?: ZlibPlatform;
  sha256?: Sha256Fn;
  /** Check SHA-256(payload) against data_hash (default true; false is `--no-verify`). */
  verify?: boolean;
  /** A sidecar's JSON text (spec §4.7): replaces the embedded metadata. */
  sidecarJson?: string;
  /** Largest grid side decoded (spec §2.2: at least 8192). */
  maxGrid?: number;
  maxTextBytes?: number;
  /** No metadata: return every byte of the grid in curve order instead of failing. */
  raw?: boolean;
  /** Hex Ed25519 public keys whose signatures count as trusted. */
  trustedKeys?: readonly string[];
}

export type Integrity = "verified" | "skipped" | "unverified";

export interface DecodedContainer {
  ihdr: PngHeader;
  metadata: PixelRtsMetadata;
  /** Ordered metadata document (for byte-exact re-serialisation). */
  doc: PyDict;
  metadataJson: string;
  metadataSource: "embedded" | "sidecar" | "none";
  payload: Uint8Array;
  /** SHA-256 of the payload as decoded (computed even with verify off). */
  sha256: string;
  /** verified: matched data_hash; skipped: --no-verify; unverified: the file has no data_hash. */
  integrity: Integrity;
  signature: SignatureStatus;
  warnings: string[];
}

export interface Resolved extends SelectedMetadata {
  source: "embedded" | "sidecar";
}

export function resolveMetadata(texts: TextChunk[], sidecarJson: string | undefined, warnings: string[]): Resolved | undefined {
  const embedded = selectMetadata(texts);
  if (sidecarJson === undefined) return embedded && { ...embedded, source: "embedded" };
  const side = parseMetadataJson(sidecarJson, "sidecar metadata");
  side.doc.delete("user_metadata");
  const m = side.metadata;
  delete m.user_metadata;
  if (embedded) {
    // The original takes original_data_b64 from the PNG when the sidecar lacks it.
    if (m.original_data_b64 === undefined && embedded.metadata.original_data_b64 !== undefined) {
      m.original_data_b64 = embedded.metadata.original_data_b64;
      side.doc.set("original_data_b64", embedded.doc.get("original_data_b64")!);
    }
    for (const k of ["data_hash", "data_size"] as const) {
      if (embedded.metadata[k] !== undefined && m[k] !== undefined && String(embedded.metadata[k]).toLowerCase() !== String(m[k]).toLowerCase()) {
        warnings.push(`sidecar ${k} (${m[k]}) differs from the embedded one (${embedded.metadata[k]}); using the sidecar's`);
      }
    }
  }
  return { ...side, source: "sidecar" };
}

function encodingMode(m: PixelRtsMetadata): string {
  return String(m.encoding_mode ?? m.encoding?.type ?? "RGBA-dense");
}

/** Stored byte count (encoded_size, else data_size), spec §5.1 step 4. */
export function storedLength(m: PixelRtsMetadata): number | undefined {
  return m.encoded_size ?? m.data_size;
}

/** The image as a grid (spec §5.1 step 3): square, a power of two, within `maxGrid`. Returns its side. */
export function checkGrid(ihdr: PngHeader, maxGrid: number): number {
  const { width, height } = ihdr;
  if (width !== height) fail("E_NOT_SQUARE", `Image must be square, got ${width}x${height}`);
  if (!isPowerOfTwo(width)) fail("E_GRID_NOT_POW2", `Invalid grid size: ${width} (not power of 2)`);
  if (width > maxGrid) fail("E_TOO_LARGE", `grid ${width}x${width} is over the ${maxGrid}x${maxGrid} limit`, { grid: width, maxGrid });
  return width;
}

/**
 * Copies curve pixels 0..npix-1 into a payload buffer as rows arrive: rows are collected into a
 * strip of 64 (one row of Hilbert blocks), then scattered block by block.
 */
class CurveScatter {
  readonly bytes: Uint8Array;
  private readonly words: Uint32Array;
  private readonly rows: HilbertRows;
  private readonly strip: Uint32Array;
  private readonly stripBytes: Uint8Array;
  constructor(private readonly g: number, private readonly npix: number) {
    this.bytes = new Uint8Array(npix * 4);
    this.words = new Uint32Array(this.bytes.buffer);
    this.rows = new HilbertRows(g);
    this.strip = new Uint32Array(this.rows.stripRows * g);
    this.stripBytes = new Uint8Array(this.strip.buffer);
  }
  row(y: number, rgba: Uint8Array): void {
    const { g } = this;
    const k = y % this.rows.stripRows;
    this.stripBytes.set(rgba.subarray(0, 4 * g), 4 * g * k);
    if (k === this.rows.stripRows - 1) this.rows.scatterStrip((y - k) / this.rows.stripRows, this.strip, this.words, this.npix);
  }
}

function strictBase64(s: string): Uint8Array {
  const clean = s.replace(/[\r\n]/g, "");
  if (clean.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(clean)) fail("E_METADATA_INVALID", "original_data_b64 is not valid base64");
  const bin = atob(clean);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

async function decompressPayload(stored: Uint8Array, m: PixelRtsMetadata, zlib: ZlibPlatform, maxPayload: number): Promise<Uint8Array> {
  const c = m.compression!;
  const type = String(c.type ?? "");
  const expected = c.original_size;
  // The output size is bounded before anything is inflated: a few bytes of zstd or zlib can
  // claim gigabytes.
  if (typeof expected !== "number" || !Number.isSafeInteger(expected) || expected < 0) {
    fail("E_METADATA_INVALID", "compression.original_size must be a non-negative integer");
  }
  if (expected > maxPayload) fail("E_TOO_LARGE", `compression.original_size ${expected} is over the ${maxPayload}-byte payload limit`);
  let out: Uint8Array;
  if (type === "none" && stored.length === 0) out = stored;
  else {
    const isZstd = stored.length >= 4 && stored[0] === 0x28 && stored[1] === 0xb5 && stored[2] === 0x2f && stored[3] === 0xfd;
    if (!isZstd && type !== "zlib" && type !== "zstd-h5") fail("E_UNSUPPORTED_COMPRESSION", `compression type ${JSON.stringify(type)} is not supported`);
    try {
      // Follow the magic when it disagrees with the type, as the original tries zstd then zlib.
      // Both bounded at original_size: more output is refused, not cut.
      out = isZstd ? zstdDecompressBounded(stored, expected) : await inflateBounded(stored, expected, zlib.inflate);
    } catch (e) {
      if (isPixelRtsError(e) && e.code === "E_TOO_LARGE") fail("E_DECOMPRESS", `Decompression failed: output exceeds original_size ${expected}`);
      fail("E_DECOMPRESS", `Decompression failed: ${(e as Error).message}`, {}, e);
    }
  }
  if (out.length !== expected) {
    fail("E_DECOMPRESS", `Decompression failed: got ${out.length} bytes, compression.original_size says ${expected}`);
  }
  return out;
}

/** The chunk stream and what has been collected from it, shared by the decoding steps. */
export class ChunkWalk {
  private readonly text: TextChunks;
  palette: { rgb: Uint8Array; alpha?: Uint8Array } | undefined;
  sawIend = false;
  private idatEnded = false;

  constructor(readonly chunks: AsyncGenerator<PngChunk>, inflate: ZlibTransform, maxText: number | undefined) {
    this.text = new TextChunks(maxText ?? DEFAULT_MAX_ANCILLARY_BYTES, inflate);
  }

  get texts(): TextChunk[] {
    return this.text.texts;
  }

  private async next(): Promise<PngChunk | undefined> {
    const r = await this.chunks.next();
    return r.done ? undefined : r.value;
  }

  /** Text, palette and IEND chunks; others are ignored. */
  private async collect(c: PngChunk): Promise<void> {
    if (await this.text.take(c)) return;
    if (c.type === "PLTE") this.palette = { rgb: c.data };
    else if (c.type === "tRNS" && this.palette) this.palette.alpha = c.data;
    else if (c.type === "IEND") this.sawIend = true;
  }

  /** A chunk met after the first IDAT; true when it is more image data. */
  private async afterFirstIdat(c: PngChunk): Promise<boolean> {
    if (c.type === "IDAT") {
      if (this.idatEnded) fail("E_PNG_CORRUPT", `IDAT chunks are not consecutive (byte ${c.offset}; ${BROKEN_STREAM})`);
      return true;
    }
    this.idatEnded = true;
    await this.collect(c);
    return false;
  }

  /** Step 1: IHDR first, then every chunk up to the first IDAT. */
  async readHead(): Promise<{ ihdr: PngHeader; firstIdat: PngChunk }> {
    let ihdr: PngHeader | undefined;
    for (;;) {
      const c = (await this.next()) ?? fail("E_PNG_CORRUPT", "PNG ends without image data");
      if (!ihdr) {
        ihdr = ihdrFromFirstChunk(c);
        continue;
      }
      if (c.type === "IDAT") return { ihdr, firstIdat: c };
      await this.collect(c);
      if (this.sawIend) fail("E_PNG_CORRUPT", "PNG has no image data (IEND before any IDAT)");
    }
  }

  /** The image data: `first`, then the IDATs that follow it, up to the first other chunk. */
  async *idatData(first: PngChunk): AsyncGenerator<Uint8Array> {
    yield first.data;
    for (;;) {
      const c = await this.next();
      if (!c || !(await this.afterFirstIdat(c))) return;
      yield c.data;
    }
  }

  /** Step 3: the rest of the file (CRCs checked, late text chunks collected) up to IEND. */
  async readTail(): Promise<void> {
    while (!this.sawIend) {
      const c = await this.next();
      if (!c) return;
      await this.afterFirstIdat(c);
    }
  }
}

/** What step 2 read from the pixels: the stored bytes already on the curve, or the raster. */
type Pixels = { scatter: CurveScatter } | { raster: Uint8Array };

/**
 * Step 2: inflates the image data and scatters rows along the curve when the metadata (and so
 * the byte count) is known, else keeps the raster until the metadata turns up.
 */
async function readPixels(walk: ChunkWalk, firstIdat: PngChunk, ihdr: PngHeader, metadata: PixelRtsMetadata | undefined, maxGrid: number, zlib: ZlibPlatform): Promise<Pixels> {
  let pixels: Pixels;
  let onRow: (y: number, rgba: Uint8Array) => void;
  if (metadata) {
    const { g, n } = pixelPlan(metadata, ihdr, maxGrid);
    const scatter = new CurveScatter(g, Math.ceil(n / 4));
    pixels = { scatter };
    onRow = (y, rgba) => scatter.row(y, rgba);
  } else {
    if (ihdr.width > maxGrid || ihdr.height > maxGrid) fail("E_TOO_LARGE", `image ${ihdr.width}x${ihdr.height} is over the ${maxGrid}x${maxGrid} limit`);
    const raster = new Uint8Array(ihdr.width * ihdr.height * 4);
    pixels = { raster };
    const stride = ihdr.width * 4;
    onRow = (y, rgba) => raster.set(rgba.subarray(0, stride), y * stride);
  }
  const lines = new ScanlineReader(ihdr, onRow, walk.palette);
  try {
    for await (const piece of zlib.inflate(walk.idatData(firstIdat))) {
      lines.push(piece);
      if (lines.done) break;
    }
  } catch (e) {
    if (isPixelRtsError(e)) throw e;
    fail("E_PNG_CORRUPT", `image data does not inflate (${BROKEN_STREAM})`, {}, e);
  }
  if (!lines.done) fail("E_PNG_CORRUPT", `image data ends early: ${lines.consumed} of ${lines.totalBytes} raster bytes (${BROKEN_STREAM})`);
  return pixels;
}

/** Step 4: the stored bytes, from original_data_b64 or the pixels (the whole grid in raw mode). */
function storedBytes(meta: Resolved | undefined, ihdr: PngHeader, pixels: Pixels | undefined, maxGrid: number, warnings: string[]): { metadata: PixelRtsMetadata; stored: Uint8Array } {
  if (!meta) {
    const g = checkGrid(ihdr, maxGrid);
    return { metadata: {}, stored: curveFromRaster((pixels as { raster: Uint8Array }).raster, g, 4 * g * g) };
  }
  const metadata = meta.metadata;
  if (metadata.grid_size !== undefined && metadata.grid_size !== ihdr.width) {
    warnings.push(`metadata grid_size ${String(metadata.grid_size)} differs from the image side ${ihdr.width}`);
  }
  if (metadata.original_data_b64 !== undefined) return { metadata, stored: strictBase64(metadata.original_data_b64) };
  if (pixels && "scatter" in pixels) return { metadata, stored: pixels.scatter.bytes.subarray(0, storedLength(metadata)!) };
  const { g, n } = pixelPlan(metadata, ihdr, maxGrid);
  return { metadata, stored: curveFromRaster((pixels as { raster: Uint8Array }).raster, g, n) };
}

/**
 * Step 5: integrity, on by default with a distinct error on mismatch; then the signature, which
 * is only judged against the payload's actual SHA-256 (a signed hash of other bytes is invalid).
 */
export async function checkIntegrity(payload: Uint8Array, metadata: PixelRtsMetadata, opts: DecodeOptions): Promise<{ sha256: string; integrity: Integrity; signature: SignatureStatus }> {
  return judgeIntegrity(await (opts.sha256 ?? webSha256)(payload), metadata, opts);
}

/** Step 5 for a payload hashed elsewhere (the streaming decoders hash what they wrote). */
export async function judgeIntegrity(sha256: string, metadata: PixelRtsMetadata, opts: Pick<DecodeOptions, "verify" | "trustedKeys">): Promise<{ sha256: string; integrity: Integrity; signature: SignatureStatus }> {
  let integrity: Integrity;
  const expected = metadata.data_hash?.toLowerCase();
  if (expected === undefined) integrity = "unverified";
  else if (opts.verify === false) integrity = "skipped";
  else if (expected !== sha256) fail("E_HASH_MISMATCH", `Hash mismatch: expected ${expected}, got ${sha256}`, { expected, actual: sha256 });
  else integrity = "verified";
  const signature = await checkSignature(metadata, sha256, opts.trustedKeys);
  if (signature.state === "invalid" && opts.verify !== false) fail("E_SIGNATURE_INVALID", signature.reason);
  return { sha256, integrity, signature };
}

export async function decodeContainer(source: ByteSource, opts: DecodeOptions = {}): Promise<DecodedContainer> {
  const zlib = opts.zlib ?? webZlib;
  const maxGrid = opts.maxGrid ?? DEFAULT_MAX_GRID;
  const warnings: string[] = [];
  const walk = new ChunkWalk(readPngChunks(source, { crc32: opts.crc32, maxAncillaryBytes: opts.maxTextBytes }), zlib.inflate, opts.maxTextBytes);
  try {
    const { ihdr, firstIdat } = await walk.readHead();
    checkSupported(ihdr);
    let meta = resolveMetadata(walk.texts, opts.sidecarJson, warnings);
    // The image data is skipped when the payload is carried in the metadata (code mode).
    const pixels = !meta || meta.metadata.original_data_b64 === undefined ? await readPixels(walk, firstIdat, ihdr, meta?.metadata, maxGrid, zlib) : undefined;
    await walk.readTail();
    if (!meta) {
      meta = resolveMetadata(walk.texts, opts.sidecarJson, warnings);
      if (!meta && !opts.raw) fail("E_NO_METADATA", "No metadata found. Please provide .meta.json sidecar file.");
    }
    const { metadata, stored } = storedBytes(meta, ihdr, pixels, maxGrid, warnings);
    const payload = metadata.compression ? await decompressPayload(stored, metadata, zlib, 4 * maxGrid * maxGrid) : stored;
    if (metadata.data_size !== undefined && payload.length !== metadata.data_size) {
      fail("E_SIZE_MISMATCH", `payload is ${payload.length} bytes but data_size says ${metadata.data_size}`);
    }
    const { sha256, integrity, signature } = await checkIntegrity(payload, metadata, opts);
    return {
      ihdr,
      metadata,
      doc: meta?.doc ?? new Map(),
      metadataJson: meta?.json ?? "",
      metadataSource: meta?.source ?? "none",
      payload,
      sha256,
      integrity,
      signature,
      warnings,
    };
  } finally {
    await walk.chunks.return(undefined);
  }
}

/** Grid side and stored byte count for reading pixels (spec §5.1 steps 3–4), all checks made. */
export function pixelPlan(m: PixelRtsMetadata, ihdr: PngHeader, maxGrid: number): { g: number; n: number } {
  const g = checkGrid(ihdr, maxGrid);
  checkEncodingDecodable(m);
  const n = storedLength(m) ?? fail("E_METADATA_INVALID", "metadata has neither data_size nor encoded_size");
  if (n > 4 * g * g) fail("E_SIZE_EXCEEDS_GRID", `metadata says ${n} bytes but a ${g}x${g} grid holds only ${4 * g * g}`, { bytes: n, capacity: 4 * g * g });
  return { g, n };
}

function checkEncodingDecodable(m: PixelRtsMetadata): void {
  const mode = encodingMode(m);
  if (mode === CODE || mode === "RGBA-semantic") {
    fail("E_UNSUPPORTED_ENCODING", `${mode} containers without original_data_b64 cannot be decoded (the pixels are a lossy colouring)`);
  }
}

function curveFromRaster(raster: Uint8Array, g: number, n: number): Uint8Array {
  const s = new CurveScatter(g, Math.ceil(n / 4));
  const stride = g * 4;
  for (let y = 0; y < g; y++) s.row(y, raster.subarray(y * stride, (y + 1) * stride));
  return s.bytes.subarray(0, n);
}
