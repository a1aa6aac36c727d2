/**
 * Decoding without holding the payload (large images, design.md): the PNG is read once, front
 * to back, and the stored bytes leave as positioned runs — `sink.write(offset, bytes)` — one per
 * S×S square of the Hilbert curve (S = 256: 256 KiB runs), in the order the rows complete them,
 * which is not payload order. The sink puts them at their offsets (a file, segment files); the
 * caller hashes what was written. Memory: two strips of S rows (2 × 4·S·G bytes, 64 MiB at
 * G = 32768) plus whatever the sink keeps in flight; never the payload.
 *
 * Web-standard only: the platform (zlib, CRC-32) is passed in as for `decodeContainer`.
 * Not handled here (the caller decodes those in memory): payloads carried in
 * `original_data_b64` (code mode) and compressed payloads (`compression`), both bounded by
 * their own size checks.
 */
import type { ByteSource } from "../bytes.js";
import { fail, isPixelRtsError } from "../errors.js";
import { HilbertRows, squareSide } from "../hilbert.js";
import type { PyDict } from "../pyjson.js";
import { BROKEN_STREAM, readPngChunks } from "../png/chunks.js";
import type { Crc32Fn } from "../png/crc32.js";
import { checkSupported } from "../png/ihdr.js";
import { ScanlineReader } from "../png/scanlines.js";
import { webZlib, type ZlibPlatform } from "../zlib.js";
import { checkGrid, ChunkWalk, MAX_GRID_LIMIT, pixelPlan, resolveMetadata, storedLength } from "./decode.js";
import type { PixelRtsMetadata, PngHeader } from "./types.js";

export interface PayloadSink {
  /** Called once, before any write, with the byte count that will be written (the stored size). */
  begin(info: { metadata: PixelRtsMetadata | undefined; size: number; grid: number }): void | Promise<void>;
  /** `bytes` belong at payload offset `offset`; they may be reused once the returned promise settles. */
  write(offset: number, bytes: Uint8Array): void | Promise<void>;
}

export interface StreamDecodeOptions {
  crc32?: Crc32Fn;
  zlib?: ZlibPlatform;
  sidecarJson?: string;
  maxGrid?: number;
  maxTextBytes?: number;
  /** How many strips may be waiting for the sink at once (default 2). */
  maxPendingStrips?: number;
}

export interface StreamDecoded {
  ihdr: PngHeader;
  metadata: PixelRtsMetadata;
  doc: PyDict;
  metadataJson: string;
  metadataSource: "embedded" | "sidecar";
  /** Bytes written through the sink: the stored size (data_size for uncompressed payloads). */
  size: number;
  warnings: string[];
}

/** The sink would need what this decoder does not stream (see the header): decode in memory instead. */
export function needsInMemoryDecode(m: PixelRtsMetadata): boolean {
  return m.original_data_b64 !== undefined || m.compression !== undefined;
}

/**
 * Collects rows into strips of S rows; a full strip is reordered into squares (each a contiguous
 * run of the payload) and handed to the sink, adjacent runs merged into one write.
 */
class SquareWriter {
  private readonly rows: HilbertRows;
  private readonly side: number;
  private strip: Uint32Array;
  private stripBytes: Uint8Array;
  private readonly pending: Promise<void>[] = [];
  private readonly free: Uint32Array[] = [];

  constructor(private readonly g: number, private readonly npix: number, private readonly size: number, private readonly sink: PayloadSink) {
    this.rows = new HilbertRows(g);
    this.side = squareSide(g);
    this.strip = new Uint32Array(this.side * g);
    this.stripBytes = new Uint8Array(this.strip.buffer);
  }

  get waiting(): number {
    return this.pending.length;
  }

  row(y: number, rgba: Uint8Array): void {
    const { g, side } = this;
    const k = y % side;
    this.stripBytes.set(rgba.subarray(0, 4 * g), 4 * g * k);
    if (k === side - 1) this.flushStrip((y - k) / side);
  }

  private flushStrip(s: number): void {
    const { g, side, npix, size } = this;
    const bases = this.rows.squareBases(s, side);
    if (bases.every((b) => b >= npix)) return;
    // A buffer the sink is done with (it may still be writing the previous strip's).
    const out = this.free.pop() ?? new Uint32Array(side * g);
    this.rows.scatterSquares(s, side, this.strip, out, npix);
    const bytes = new Uint8Array(out.buffer);
    const area = side * side;
    const writes: Promise<void>[] = [];
    for (let j = 0; j < bases.length; ) {
      const start = bases[j]!;
      if (start >= npix) {
        j++;
        continue;
      }
      // Squares next to each other on the strip are often next to each other on the curve.
      let end = j + 1;
      while (end < bases.length && bases[end] === bases[end - 1]! + area && bases[end]! < npix) end++;
      const offset = 4 * start;
      const length = Math.min(4 * area * (end - j), size - offset);
      const r = this.sink.write(offset, bytes.subarray(4 * area * j, 4 * area * j + length));
      if (r) writes.push(r);
      j = end;
    }
    this.pending.push(Promise.all(writes).then(() => void this.free.push(out)));
  }

  /** Waits until at most `keep` strips are still being written. */
  async drain(keep = 0): Promise<void> {
    while (this.pending.length > keep) await this.pending.shift();
  }
}

/**
 * Streams the container at `source` into `sink`. Checks everything `decodeContainer` checks
 * before hashing (chunks and CRCs, IHDR, grid rules, metadata, byte counts, stream length);
 * hashing is the caller's, over what the sink wrote (see `judgeIntegrity`).
 */
export async function decodeToSink(source: ByteSource, sink: PayloadSink, opts: StreamDecodeOptions = {}): Promise<StreamDecoded> {
  const zlib = opts.zlib ?? webZlib;
  const maxGrid = opts.maxGrid ?? MAX_GRID_LIMIT;
  const keep = Math.max(1, opts.maxPendingStrips ?? 2);
  const warnings: string[] = [];
  const walk = new ChunkWalk(readPngChunks(source, { crc32: opts.crc32, maxAncillaryBytes: opts.maxTextBytes }), zlib.inflate, opts.maxTextBytes);
  try {
    const { ihdr, firstIdat } = await walk.readHead();
    checkSupported(ihdr);
    let meta = resolveMetadata(walk.texts, opts.sidecarJson, warnings);
    if (meta && needsInMemoryDecode(meta.metadata)) fail("E_UNSUPPORTED", "compressed and code-mode payloads are decoded in memory, not streamed");
    // Metadata after the image data: the byte count is unknown while the pixels stream, so the
    // whole grid is written and the caller cuts the file to the stored size afterwards.
    let plan: { g: number; n: number };
    if (meta) plan = pixelPlan(meta.metadata, ihdr, maxGrid);
    else {
      const g = checkGrid(ihdr, maxGrid);
      plan = { g, n: 4 * g * g };
    }
    await sink.begin({ metadata: meta?.metadata, size: plan.n, grid: plan.g });
    const writer = new SquareWriter(plan.g, Math.ceil(plan.n / 4), plan.n, sink);
    const lines = new ScanlineReader(ihdr, (y, rgba) => writer.row(y, rgba), walk.palette);
    try {
      for await (const piece of zlib.inflate(walk.idatData(firstIdat))) {
        lines.push(piece);
        // Back-pressure: the inflater waits while the sink is behind.
        if (writer.waiting > keep) await writer.drain(keep);
        if (lines.done) break;
      }
    } catch (e) {
      if (isPixelRtsError(e)) throw e;
      fail("E_PNG_CORRUPT", `image data does not inflate (${BROKEN_STREAM})`, {}, e);
    }
    await writer.drain();
    if (!lines.done) fail("E_PNG_CORRUPT", `image data ends early: ${lines.consumed} of ${lines.totalBytes} raster bytes (${BROKEN_STREAM})`);
    await walk.readTail();
    if (!meta) {
      meta = resolveMetadata(walk.texts, opts.sidecarJson, warnings) ?? fail("E_NO_METADATA", "No metadata found. Please provide .meta.json sidecar file.");
      if (needsInMemoryDecode(meta.metadata)) fail("E_UNSUPPORTED", "compressed and code-mode payloads are decoded in memory, not streamed");
      plan = pixelPlan(meta.metadata, ihdr, maxGrid);
    }
    const m = meta.metadata;
    if (m.grid_size !== undefined && m.grid_size !== ihdr.width) warnings.push(`metadata grid_size ${String(m.grid_size)} differs from the image side ${ihdr.width}`);
    const size = storedLength(m)!;
    if (m.data_size !== undefined && size !== m.data_size) fail("E_SIZE_MISMATCH", `payload is ${size} bytes but data_size says ${m.data_size}`);
    return { ihdr, metadata: m, doc: meta.doc, metadataJson: meta.json, metadataSource: meta.source, size, warnings };
  } finally {
    await walk.chunks.return(undefined);
  }
}
