/**
 * Encoding from files in bounded memory and in parallel (large images, design.md). Two passes
 * over the inputs: first their SHA-256s (data_hash and, for bundles, each segment's; in worker
 * threads, all at once), because the metadata — which carries them — precedes the image data;
 * then the raster, one 256-row strip at a time: the strip's Hilbert squares are read from the
 * files with positioned reads, reordered into scanlines, cut into bands and deflated in worker
 * threads (deflate-pool.ts), and the bands are written in order as IDAT chunks of one zlib
 * stream. Memory: a few strips (4·256·G bytes each, 32 MiB at G = 32768) and the bands in
 * flight, for any payload size.
 */
import { open, stat, type FileHandle } from "node:fs/promises";
import { chooseGrid, type MetadataContext } from "../../shared/container/encode.js";
import { metadataText } from "../../shared/container/metadata.js";
import { IdatWriter, pngHead, StripPlan } from "../../shared/container/stream-encode.js";
import { fail } from "../../shared/errors.js";
import { HilbertRows } from "../../shared/hilbert.js";
import type { PyDict } from "../../shared/pyjson.js";
import { zlibHeader, zlibTrailer } from "../../shared/zlib.js";
import { combineAdler, DeflatePool, type Band } from "./deflate-pool.js";
import { fileError, writeFileAtomic } from "../fsutil/index.js";
import { hashParts, type HashPart } from "./hash-parts.js";
import { maxGridFromEnv } from "./limits.js";
import { nodeCrc32 } from "./node-platform.js";

/** A file placed in the payload at `start` (bytes between placed files are zero). */
export interface PlacedFile {
  path: string;
  start: number;
  size: number;
}

export interface EncodeFilesOptions {
  level?: number;
  /** Deflate threads (default: one per core; 0, and the default for an image of one band: this thread). */
  threads?: number;
  gridSize?: number;
  gridRule?: "current" | "older";
  maxGrid?: number;
  /** Bytes of raster per deflate band (default 2 MiB; pigz uses 128 KiB). */
  bandBytes?: number;
  /** Called with raster bytes done and total, as bands are written. */
  onProgress?: (done: number, total: number) => void;
}

export interface EncodedFiles {
  gridSize: number;
  dataHash: string;
  dataSize: number;
  /** SHA-256 of each placed file, in input order. */
  fileHashes: string[];
  doc: PyDict;
  text: string;
  bytesWritten: number;
}

/** Sizes of the inputs (E_NOT_FOUND / E_IO / E_USAGE for what is not a readable regular file). */
export async function sizeOf(path: string, what: string): Promise<number> {
  try {
    const st = await stat(path);
    if (!st.isFile()) fail("E_USAGE", `${what} ${path} is not a regular file`);
    return st.size;
  } catch (e) {
    throw fileError(e, `${what} ${path}`);
  }
}

/** Reads payload runs from the placed files, zero-filling what no file covers. */
class PayloadReader {
  private handles: (FileHandle | undefined)[] = [];
  constructor(private readonly files: PlacedFile[]) {}

  async open(): Promise<void> {
    for (const f of this.files) this.handles.push(await open(f.path, "r").catch((e) => Promise.reject(fileError(e, `input ${f.path}`))));
  }

  /** Bytes [offset, offset+length) of the payload into `dst` at `at` (dst is zero where no file is). */
  async read(offset: number, length: number, dst: Uint8Array, at: number): Promise<void> {
    const end = offset + length;
    const jobs: Promise<void>[] = [];
    this.files.forEach((f, i) => {
      const s = Math.max(offset, f.start);
      const e = Math.min(end, f.start + f.size);
      if (s >= e) return;
      jobs.push(this.readFully(i, dst, at + (s - offset), e - s, s - f.start));
    });
    await Promise.all(jobs);
  }

  private async readFully(i: number, dst: Uint8Array, at: number, length: number, position: number): Promise<void> {
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.handles[i]!.read(dst, at + done, length - done, position + done);
      if (bytesRead === 0) fail("E_IO", `input ${this.files[i]!.path} changed while packing (it ends at byte ${position + done}, expected ${this.files[i]!.size})`);
      done += bytesRead;
    }
  }

  async close(): Promise<void> {
    for (const h of this.handles) await h?.close();
  }
}

/**
 * Writes a container for the payload made of `files` (placed at their starts; `size` bytes in
 * all) to `out`, atomically. `metadata` builds the document once the hashes are known
 * (it gets the files' own digests too: a bundle's segment hashes).
 */
export async function encodeFilesToPng(files: PlacedFile[], size: number, out: string, metadata: (ctx: MetadataContext, fileHashes: string[]) => PyDict, opts: EncodeFilesOptions = {}): Promise<EncodedFiles> {
  if (size === 0) fail("E_EMPTY_PAYLOAD", "refusing to write an empty payload (the original tool crashes on such files)");
  const maxGrid = opts.maxGrid ?? maxGridFromEnv();
  const gridSize = chooseGrid(size, opts.gridSize, opts.gridRule);
  if (gridSize > maxGrid) fail("E_TOO_LARGE", `a ${size}-byte payload needs a ${gridSize}x${gridSize} grid, over the ${maxGrid}x${maxGrid} limit (PIXELRTS_MAX_GRID)`, { grid: gridSize, maxGrid });
  // Pass 1: the digests, in payload order (gaps as zeros), all at once.
  const payloadParts: HashPart[] = [];
  let pos = 0;
  for (const f of [...files].sort((a, b) => a.start - b.start)) {
    if (f.start > pos) payloadParts.push({ zeros: f.start - pos });
    payloadParts.push({ path: f.path, start: 0, length: f.size });
    pos = f.start + f.size;
  }
  if (pos < size) payloadParts.push({ zeros: size - pos });
  const single = files.length === 1 && files[0]!.start === 0 && files[0]!.size === size;
  const digests = await hashParts(single ? [payloadParts] : [payloadParts, ...files.map((f) => [{ path: f.path, start: 0, length: f.size }])]).catch((e) => Promise.reject(fileError(e, "cannot read the input")));
  const dataHash = digests[0]!;
  const fileHashes = single ? [dataHash] : digests.slice(1);
  const doc = metadata({ gridSize, dataHash, dataSize: size }, fileHashes);
  const text = metadataText(doc);
  const bytesWritten = await writeFileAtomic(out, pngStream(files, size, gridSize, text, opts));
  return { gridSize, dataHash, dataSize: size, fileHashes, doc, text, bytesWritten };
}

async function* pngStream(files: PlacedFile[], size: number, g: number, text: string, opts: EncodeFilesOptions): AsyncGenerator<Uint8Array> {
  const level = opts.level ?? 6;
  const plan = new StripPlan(g, size);
  const rows = new HilbertRows(g);
  // The workers gather scanlines from each strip's squares themselves, then deflate them: the
  // main thread only reads the files, frames the bands and writes.
  const rowBytes = 4 * g + 1;
  const rowsPerBand = Math.min(plan.side, Math.max(1, Math.floor((opts.bandBytes ?? 2 << 20) / rowBytes)));
  const totalRaster = g * rowBytes;
  // An image of one band cannot be split: deflated on this thread unless told otherwise.
  const pool = new DeflatePool(level, opts.threads ?? (rowsPerBand >= g ? 0 : undefined), { g, ...rows.orientationTables() });
  const reader = new PayloadReader(files);
  const idat = new IdatWriter(nodeCrc32);
  // Two strip buffers, shared with the workers: one being read while the other's bands deflate.
  const buffers = [new SharedArrayBuffer(plan.stripBytes), new SharedArrayBuffer(plan.stripBytes)];
  const stripBands: Promise<Band>[][] = [[], []];
  const maxInFlight = Math.max(1, pool.threads) * 3;
  const inFlight: Promise<Band>[] = [];
  const done: { adler: number; length: number }[] = [];
  let written = 0;
  try {
    await reader.open();
    yield* pngHead(g, text, nodeCrc32);
    yield* idat.push(zlibHeader(level));
    const settle = function* (band: Band): Generator<Uint8Array> {
      done.push({ adler: band.adler, length: band.length });
      written += band.length;
      opts.onProgress?.(written, totalRaster);
      yield* idat.push(band.deflated);
    };
    for (let s = 0; s < plan.strips; s++) {
      const slot = s % 2;
      // The bands of strip s-2 read this buffer: they must be done before it is refilled.
      await Promise.all(stripBands[slot]!);
      const sab = buffers[slot]!;
      const squares = new Uint8Array(sab);
      const runs = plan.runs(s);
      // Squares past the payload, and the end of its last square, must read as zero.
      if (runs.reduce((n, r) => n + r.length, 0) < plan.stripBytes) squares.fill(0);
      await Promise.all(runs.map((r) => reader.read(r.offset, r.length, squares, r.at)));
      const squarePlan = rows.squarePlan(s, plan.side);
      stripBands[slot] = [];
      for (let r0 = 0; r0 < plan.side; r0 += rowsPerBand) {
        const r1 = Math.min(plan.side, r0 + rowsPerBand);
        const band = pool.gatherDeflate(sab, r0, r1, squarePlan, s === plan.strips - 1 && r1 === plan.side);
        stripBands[slot]!.push(band);
        inFlight.push(band);
        while (inFlight.length >= maxInFlight) yield* settle(await inFlight.shift()!);
      }
    }
    while (inFlight.length) yield* settle(await inFlight.shift()!);
    yield* idat.push(zlibTrailer(combineAdler(done)));
    yield* idat.finish();
  } finally {
    // Settle what is still running (an error upstream) before the workers go.
    await Promise.allSettled(inFlight);
    await pool.close();
    await reader.close();
  }
}
