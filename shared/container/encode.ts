/**
 * Encoding a payload into a PixelRTS v2 container (spec §2–§4), written as the original does:
 * signature, IHDR (RGBA8), one tEXt "PixelRTS" chunk, IDAT chunks of 64 KiB, IEND. Every row
 * uses filter 0 (None): boot payloads are mostly compressed already, so PNG filters buy
 * nothing, and None keeps both directions at memory speed.
 */
import { asciiBytes, concatBytes } from "../bytes.js";
import { fail } from "../errors.js";
import { webSha256, type Sha256Fn } from "../hash.js";
import { gridSizeFor, HilbertRows, isPowerOfTwo } from "../hilbert.js";
import type { PyDict } from "../pyjson.js";
import { encodeChunk, PNG_SIGNATURE } from "../png/chunks.js";
import type { Crc32Fn } from "../png/crc32.js";
import { webZlib, type ZlibPlatform } from "../zlib.js";
import { metadataText, TEXT_KEYWORD } from "./metadata.js";

export interface EncodeOptions {
  zlib?: ZlibPlatform;
  /** zlib level 0–9; 6 is Pillow's default. */
  level?: number;
  crc32?: Crc32Fn;
  sha256?: Sha256Fn;
  /** Explicit grid side (power of two holding the payload); default: the current rule. */
  gridSize?: number;
  gridRule?: "current" | "older";
  idatChunkSize?: number;
}

export interface MetadataContext {
  gridSize: number;
  dataHash: string;
  dataSize: number;
}

export interface EncodedContainer {
  gridSize: number;
  dataHash: string;
  doc: PyDict;
  /** The tEXt text exactly as written ("PixelRTS{...}"). */
  text: string;
  /** The PNG file, streamed: write it to disk or a request body. */
  png: AsyncIterable<Uint8Array>;
}

/** Picks and checks the grid side for n bytes. */
export function chooseGrid(n: number, explicit?: number, rule: "current" | "older" = "current"): number {
  if (explicit === undefined) return gridSizeFor(n, rule);
  if (!isPowerOfTwo(explicit)) fail("E_BAD_GRID", `Grid size must be power of 2, got ${explicit}`);
  if (n > 4 * explicit * explicit) fail("E_GRID_TOO_SMALL", `Data size (${n}) exceeds grid capacity (${4 * explicit * explicit})`);
  return explicit;
}

export async function encodeContainer(payload: Uint8Array, metadata: (ctx: MetadataContext) => PyDict, opts: EncodeOptions = {}): Promise<EncodedContainer> {
  if (payload.length === 0) fail("E_EMPTY_PAYLOAD", "refusing to write an empty payload (the original tool crashes on such files)");
  const gridSize = chooseGrid(payload.length, opts.gridSize, opts.gridRule);
  if (gridSize > 65535) fail("E_TOO_LARGE", `a ${gridSize}x${gridSize} grid is too large`);
  const dataHash = await (opts.sha256 ?? webSha256)(payload);
  const doc = metadata({ gridSize, dataHash, dataSize: payload.length });
  const text = metadataText(doc);
  return { gridSize, dataHash, doc, text, png: pngStream(payload, gridSize, text, opts) };
}

async function* pngStream(payload: Uint8Array, g: number, text: string, opts: EncodeOptions): AsyncGenerator<Uint8Array> {
  const zlib = opts.zlib ?? webZlib;
  const chunkSize = opts.idatChunkSize ?? 65536;
  yield PNG_SIGNATURE.slice();
  const ihdr = new Uint8Array(13);
  const view = new DataView(ihdr.buffer);
  view.setUint32(0, g);
  view.setUint32(4, g);
  ihdr.set([8, 6, 0, 0, 0], 8);
  yield encodeChunk("IHDR", ihdr, opts.crc32);
  yield encodeChunk("tEXt", asciiBytes(`${TEXT_KEYWORD}\0${text}`), opts.crc32);
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  const flush = (all: boolean): Uint8Array[] => {
    const out: Uint8Array[] = [];
    while (pendingBytes >= chunkSize || (all && pendingBytes > 0)) {
      const take = Math.min(chunkSize, pendingBytes);
      const data = new Uint8Array(take);
      let off = 0;
      while (off < take) {
        const p = pending[0]!;
        const k = Math.min(take - off, p.length);
        data.set(p.subarray(0, k), off);
        off += k;
        if (k === p.length) pending.shift();
        else pending[0] = p.subarray(k);
      }
      pendingBytes -= take;
      out.push(encodeChunk("IDAT", data, opts.crc32));
    }
    return out;
  };
  for await (const piece of zlib.deflate(opts.level ?? 6)(rasterRows(payload, g))) {
    pending.push(piece);
    pendingBytes += piece.length;
    yield* flush(false);
  }
  yield* flush(true);
  pending = [];
  yield encodeChunk("IEND", new Uint8Array(0), opts.crc32);
}

/** Filtered scanlines (filter byte 0 + RGBA), gathered from the payload along the curve, a strip of 64 rows at a time. */
async function* rasterRows(payload: Uint8Array, g: number): AsyncGenerator<Uint8Array> {
  const npix = Math.ceil(payload.length / 4);
  let words: Uint32Array;
  if (payload.byteOffset % 4 === 0 && payload.length % 4 === 0) words = new Uint32Array(payload.buffer, payload.byteOffset, npix);
  else {
    const padded = new Uint8Array(npix * 4);
    padded.set(payload);
    words = new Uint32Array(padded.buffer);
  }
  const rows = new HilbertRows(g);
  const stripRows = rows.stripRows;
  const strip = new Uint32Array(stripRows * g);
  const stripBytes = new Uint8Array(strip.buffer);
  const stride = 4 * g + 1;
  for (let by = 0; by < g / stripRows; by++) {
    rows.gatherStrip(by, words, npix, strip);
    const batch = new Uint8Array(stripRows * stride);
    for (let k = 0; k < stripRows; k++) batch.set(stripBytes.subarray(4 * g * k, 4 * g * (k + 1)), k * stride + 1); // filter byte stays 0
    yield batch;
  }
}

/** Collects a streamed PNG into one buffer (tests, small files). */
export async function collectBytes(stream: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const p of stream) parts.push(p);
  return concatBytes(parts);
}
