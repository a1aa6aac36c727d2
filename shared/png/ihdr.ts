import { readU32BE } from "../bytes.js";
import { fail } from "../errors.js";
import type { PngHeader } from "../container/types.js";
import { BROKEN_STREAM, type PngChunk } from "./chunks.js";

/** Channels per pixel for the 8-bit colour types we read (Pillow converts them all to RGBA). */
export const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

export function parseIhdr(data: Uint8Array): PngHeader {
  if (data.length !== 13) fail("E_PNG_CORRUPT", `IHDR has ${data.length} bytes, not 13 (${BROKEN_STREAM})`);
  const h: PngHeader = { width: readU32BE(data, 0), height: readU32BE(data, 4), bitDepth: data[8]!, colorType: data[9]!, interlace: data[12]! };
  if (h.width === 0 || h.height === 0 || h.width > 0x7fffffff || h.height > 0x7fffffff) {
    fail("E_PNG_CORRUPT", `IHDR has impossible dimensions ${h.width}x${h.height}`);
  }
  if (data[10] !== 0 || data[11] !== 0) fail("E_PNG_CORRUPT", "IHDR names an unknown compression or filter method");
  return h;
}

/** The first chunk must be IHDR (the original fails with a broken data stream otherwise). */
export function ihdrFromFirstChunk(chunk: PngChunk): PngHeader {
  if (chunk.type !== "IHDR") fail("E_PNG_CORRUPT", `first chunk is ${chunk.type}, not IHDR (${BROKEN_STREAM})`);
  return parseIhdr(chunk.data);
}

/** Rejects what we do not decode, with a reason a person can act on. */
export function checkSupported(h: PngHeader): void {
  if (h.interlace !== 0) fail("E_PNG_UNSUPPORTED", "interlaced (Adam7) PNGs are not PixelRTS containers; re-save without interlacing");
  if (!(h.colorType in CHANNELS)) fail("E_PNG_UNSUPPORTED", `unknown PNG colour type ${h.colorType}`);
  if (h.bitDepth !== 8) fail("E_PNG_UNSUPPORTED", `PNG bit depth ${h.bitDepth} is not supported (PixelRTS uses 8-bit channels)`);
}
