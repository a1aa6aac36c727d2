/**
 * Reads the head of an upload (PNG signature, IHDR, PixelRTS metadata: everything before the
 * first IDAT) and validates it with the shared codec, keeping the bytes read so they can be
 * streamed on to R2. Codec errors become 400 E_NOT_PIXELRTS with the codec's code as `reason`.
 */
import { concatBytes } from "../../shared/bytes";
import { scanContainerHead } from "../../shared/container/head";
import type { ContainerHead } from "../../shared/container/types";
import { isPixelRtsError } from "../../shared/errors";
import { httpFail } from "../errors";

/** Metadata larger than this is refused (code-mode payloads in text chunks belong in multipart uploads). */
export const MAX_HEAD_BYTES = 8 * 1024 * 1024;

export interface ReadHead {
  head: ContainerHead;
  /** Every byte read from the stream so far (≥ head.headLength), in order. */
  chunks: Uint8Array[];
  bytesRead: number;
}

async function scan(prefix: Uint8Array) {
  try {
    return await scanContainerHead(prefix, { maxTextBytes: MAX_HEAD_BYTES });
  } catch (e) {
    if (isPixelRtsError(e)) {
      httpFail("E_NOT_PIXELRTS", `not a PixelRTS container: ${e.message}`, { details: { reason: e.code } });
    }
    throw e;
  }
}

/** Reads from `reader` until the head parses; never reads past what the head needs plus one chunk. */
export async function readHead(reader: ReadableStreamDefaultReader<Uint8Array>, limit = MAX_HEAD_BYTES): Promise<ReadHead> {
  const chunks: Uint8Array[] = [];
  let bytesRead = 0;
  let need = 8 + 25; // signature + IHDR
  for (;;) {
    const { done, value } = await reader.read();
    if (!done && value.length) {
      chunks.push(value);
      bytesRead += value.length;
    }
    if (bytesRead >= need || done) {
      const r = await scan(concatBytes(chunks, bytesRead));
      if (r.done) return { head: r.head, chunks, bytesRead };
      if (done) httpFail("E_NOT_PIXELRTS", "not a PixelRTS container: the file ends inside its header", { details: { reason: "E_PNG_CORRUPT" } });
      need = r.needAtLeast;
      if (need > limit) httpFail("E_NOT_PIXELRTS", `not a PixelRTS container: header larger than ${limit} bytes`, { details: { reason: "E_TOO_LARGE" } });
    }
  }
}

/** Validates a complete prefix already in memory (multipart create, post-upload check). */
export async function headOf(bytes: Uint8Array): Promise<ContainerHead | { needAtLeast: number }> {
  const r = await scan(bytes);
  return r.done ? r.head : { needAtLeast: r.needAtLeast };
}
