/**
 * Zstandard (RFC 8878) payloads (`zstd-h5`, spec §4.5) inflated under a hard output bound.
 * fzstd alone will not do: its one-shot `decompress(data, buf)` silently stops writing at the
 * end of `buf` (output past `original_size` was cut, not refused), and its streaming decoder
 * allocates whatever window a frame header asks for (up to 2 GiB from a few bytes). So the
 * frames are walked here first, their headers checked, and each frame is streamed through
 * fzstd with every output block counted against the bound.
 */
import { Decompress } from "fzstd";
import { fail } from "./errors.js";

/** Largest window descriptor accepted (libzstd's own default decoder limit, windowLog 27); a single-segment frame's window is its declared size, bounded by the output. */
export const ZSTD_MAX_WINDOW = 1 << 27;

const MAGIC = 0xfd2fb528;
const isSkippable = (magic: number) => (magic & 0xfffffff0) >>> 0 === 0x184d2a50;

function u32(d: Uint8Array, at: number): number {
  if (at + 4 > d.length) fail("E_DECOMPRESS", "Decompression failed: zstd data ends inside a frame");
  return (d[at]! | (d[at + 1]! << 8) | (d[at + 2]! << 16) | (d[at + 3]! << 24)) >>> 0;
}

function uintLE(d: Uint8Array, at: number, n: number): number {
  if (at + n > d.length) fail("E_DECOMPRESS", "Decompression failed: zstd data ends inside a frame header");
  let v = 0;
  for (let i = n - 1; i >= 0; i--) v = v * 256 + d[at + i]!;
  return v;
}

interface Frame {
  start: number;
  end: number;
  /** Frame_Content_Size when the header declares it. */
  contentSize?: number;
  windowSize: number;
}

/** One frame's extent and header values; `at` is the offset of its magic number. */
function readFrame(d: Uint8Array, at: number): Frame {
  const fhd = uintLE(d, at + 4, 1);
  const fcsFlag = fhd >> 6;
  const singleSegment = (fhd >> 5) & 1;
  if (fhd & 8) fail("E_DECOMPRESS", "Decompression failed: zstd frame header has its reserved bit set");
  const checksum = (fhd >> 2) & 1;
  const dictBytes = [0, 1, 2, 4][fhd & 3]!;
  let p = at + 5;
  let windowSize = 0;
  if (!singleSegment) {
    const wd = uintLE(d, p++, 1);
    const base = 2 ** (10 + (wd >> 3));
    windowSize = base + (base / 8) * (wd & 7);
  }
  p += dictBytes;
  const fcsBytes = fcsFlag ? 1 << fcsFlag : singleSegment;
  let contentSize: number | undefined;
  if (fcsBytes) {
    contentSize = uintLE(d, p, fcsBytes) + (fcsBytes === 2 ? 256 : 0);
    p += fcsBytes;
  }
  if (singleSegment) windowSize = contentSize!;
  // Blocks: a 3-byte header (last flag, type, size), then size bytes (1 for an RLE block).
  for (;;) {
    const h = uintLE(d, p, 3);
    const type = (h >> 1) & 3;
    if (type === 3) fail("E_DECOMPRESS", "Decompression failed: zstd block of the reserved type");
    p += 3 + (type === 1 ? 1 : h >>> 3);
    if (p > d.length) fail("E_DECOMPRESS", "Decompression failed: zstd data ends inside a block");
    if (h & 1) break;
  }
  p += checksum * 4;
  if (p > d.length) fail("E_DECOMPRESS", "Decompression failed: zstd data ends inside a frame checksum");
  return { start: at, end: p, ...(contentSize !== undefined ? { contentSize } : {}), windowSize };
}

/**
 * Decompresses every frame of `data`; more than `maxBytes` of output is E_TOO_LARGE, found
 * before it is produced where a header declares it, else as soon as a block crosses the bound.
 * Memory: the output (≤ maxBytes) plus one frame's window (≤ maxBytes or ZSTD_MAX_WINDOW).
 */
export function zstdDecompressBounded(data: Uint8Array, maxBytes: number): Uint8Array {
  const over = () => fail("E_TOO_LARGE", `zstd data decompresses past the ${maxBytes}-byte limit`, { limit: maxBytes });
  const out = new Uint8Array(maxBytes);
  let n = 0;
  let at = 0;
  while (at < data.length) {
    const magic = u32(data, at);
    if (isSkippable(magic)) {
      at += 8 + u32(data, at + 4);
      if (at > data.length) fail("E_DECOMPRESS", "Decompression failed: zstd skippable frame runs past the data");
      continue;
    }
    if (magic !== MAGIC) fail("E_DECOMPRESS", `Decompression failed: no zstd frame at byte ${at}`);
    const f = readFrame(data, at);
    if (f.contentSize !== undefined && f.contentSize > maxBytes - n) over();
    if (f.windowSize > ZSTD_MAX_WINDOW && f.windowSize !== f.contentSize) {
      fail("E_DECOMPRESS", `Decompression failed: zstd window of ${f.windowSize} bytes is over the ${ZSTD_MAX_WINDOW}-byte limit`);
    }
    const frameStart = n;
    new Decompress((chunk) => {
      if (n + chunk.length > maxBytes) over();
      out.set(chunk, n);
      n += chunk.length;
    }).push(data.subarray(f.start, f.end), true);
    if (f.contentSize !== undefined && n - frameStart !== f.contentSize) {
      fail("E_DECOMPRESS", `Decompression failed: zstd frame declares ${f.contentSize} bytes but holds ${n - frameStart}`);
    }
    at = f.end;
  }
  return out.subarray(0, n);
}
