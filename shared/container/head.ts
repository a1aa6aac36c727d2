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
