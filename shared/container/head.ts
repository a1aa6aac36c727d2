/**
 * Reads what precedes the image data: PNG signature, IHDR, and the PixelRTS metadata. The
 * Worker validates uploads with this before storing a byte; `inspect` uses it to answer
 * without inflating the pixels.
 */
import { fail } from "../errors.js";
import { DEFAULT_MAX_ANCILLARY_BYTES, NeedMoreBytes, readPngChunks, type ChunkReaderOptions } from "../png/chunks.js";
import { ihdrFromFirstChunk } from "../png/ihdr.js";
import { TextChunks } from "../png/text.js";
import type { ZlibTransform } from "../zlib.js";
import { isPowerOfTwo } from "../hilbert.js";
import { selectMetadata } from "./metadata.js";
import type { ContainerHead } from "./types.js";

export interface HeadOptions extends Pick<ChunkReaderOptions, "crc32"> {
  maxTextBytes?: number;
  inflate?: ZlibTransform;
}

/** `stoppedAt`: the chunk that ended the head, IDAT (image data follows) or IEND (the PNG has none). */
export type HeadScan = { done: true; head: ContainerHead; stoppedAt: "IDAT" | "IEND" } | { done: false; needAtLeast: number };

/**
 * Parses a prefix of a container. `done: false` asks for a longer prefix; errors are
 * PixelRtsErrors (E_NOT_PNG, E_PNG_CRC, E_PNG_CORRUPT, E_NO_METADATA, E_METADATA_INVALID, ...).
 */
export async function scanContainerHead(prefix: Uint8Array, opts: HeadOptions = {}): Promise<HeadScan> {
  const maxText = opts.maxTextBytes ?? DEFAULT_MAX_ANCILLARY_BYTES;
  const text = new TextChunks(maxText, opts.inflate);
  let ihdr: ContainerHead["ihdr"] | undefined;
  try {
    for await (const chunk of readPngChunks(prefix, { crc32: opts.crc32, maxAncillaryBytes: maxText, prefix: true, stopAt: "IDAT" })) {
      if (!ihdr) {
        ihdr = ihdrFromFirstChunk(chunk);
        continue;
      }
      if (await text.take(chunk)) continue;
      if (chunk.type === "IDAT" || chunk.type === "IEND") {
        const selected = selectMetadata(text.texts);
        if (!selected) fail("E_NO_METADATA", "No metadata found: no PixelRTS text chunk before the image data");
        return { done: true, head: { ihdr, metadata: selected.metadata, metadataJson: selected.json, headLength: chunk.offset }, stoppedAt: chunk.type };
      }
    }
  } catch (e) {
    if (e instanceof NeedMoreBytes) return { done: false, needAtLeast: e.needAtLeast };
    throw e;
  }
  fail("E_PNG_CORRUPT", "PNG ends before any image data");
}

/** Largest grid anything here handles (4 GiB payloads); the streaming decoders default to it. */
export const MAX_GRID_LIMIT = 32768;

/** Smallest configurable grid limit: spec §2.2 says every decoder handles 8192x8192. */
export const MIN_MAX_GRID = 8192;

/**
 * A grid limit from configuration text (the agent's PIXELRTS_MAX_GRID; for the Worker, a
 * `MAX_GRID` var): a power of two from 8192 to 32768, `fallback` when unset. `undefined` for
 * anything else, so each program reports it its own way (E_CONFIG).
 */
export function parseMaxGrid(text: string | undefined, fallback = MAX_GRID_LIMIT): number | undefined {
  const t = text?.trim();
  if (!t) return fallback;
  const n = Number(t);
  return /^\d+$/.test(t) && isPowerOfTwo(n) && n >= MIN_MAX_GRID && n <= MAX_GRID_LIMIT ? n : undefined;
}

/** E_TOO_LARGE for an image over `maxGrid` on a side (the publish and multipart head checks, decoders). */
export function checkGridLimit(ihdr: { width: number; height: number }, maxGrid: number = MAX_GRID_LIMIT): void {
  if (ihdr.width > maxGrid || ihdr.height > maxGrid) {
    fail("E_TOO_LARGE", `grid ${ihdr.width}x${ihdr.height} is over the ${maxGrid}x${maxGrid} limit`, { grid: Math.max(ihdr.width, ihdr.height), maxGrid });
  }
}
