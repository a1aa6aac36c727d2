/**
 * Reads the head of an upload (PNG signature, IHDR, PixelRTS metadata: everything before the
 * first IDAT) and validates it with the shared codec, keeping the bytes read so they can be
 * streamed on to R2; then checks the head against its image (`checkAgainstImage`). Every refusal
 * is 400 E_NOT_PIXELRTS with the reason in `details.reason`: the codec's code, E_TOO_LARGE for
 * a head over MAX_HEAD_BYTES, or E_METADATA_INVALID for a head that contradicts its image; except
 * a well-formed image over the grid limit (`MAX_GRID`), which is 413 E_TOO_LARGE: a valid
 * container this catalog is configured not to take.
 */
import { concatBytes } from "../../shared/bytes";
import { checkGridLimit, type HeadScan, MAX_GRID_LIMIT, scanContainerHead } from "../../shared/container/head";
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

function notPixelRts(reason: string, message: string): never {
  httpFail("E_NOT_PIXELRTS", `not a PixelRTS container: ${message}`, { details: { reason } });
}

async function scan(prefix: Uint8Array): Promise<HeadScan> {
  try {
    return await scanContainerHead(prefix, { maxTextBytes: MAX_HEAD_BYTES });
  } catch (e) {
    if (isPixelRtsError(e)) notPixelRts(e.code, e.message);
    throw e;
  }
}

/**
 * Refuses a head that contradicts its image: no image data (the scan reached IEND), `grid_size`
 * other than the IHDR's width and height, or a stored byte count over what holds it. The stored
 * bytes S are in the pixels (width × height × 4), or in code mode (spec §3.3) in
 * `original_data_b64`, whose text of n characters decodes to at most ⌊n × 3 / 4⌋ bytes; an empty
 * one is refused. The bound applies to `encoded_size` (|S|), and to `data_size` unless compressed
 * (then it is the size after decompression, spec §4.5).
 */
export function checkAgainstImage(head: ContainerHead, stoppedAt: "IDAT" | "IEND", maxGrid = MAX_GRID_LIMIT): void {
  const { width, height } = head.ihdr;
  refuseOverGrid(Math.max(width, height), maxGrid);
  const md = head.metadata;
  if (stoppedAt !== "IDAT") notPixelRts("E_METADATA_INVALID", "the PNG has no image data (no IDAT chunk)");
  if (md.grid_size !== undefined && (md.grid_size !== width || md.grid_size !== height)) {
    notPixelRts("E_METADATA_INVALID", `grid_size ${JSON.stringify(md.grid_size)} does not match the ${width}x${height} image`);
  }
  const b64 = md.original_data_b64;
  if (b64 === "") notPixelRts("E_METADATA_INVALID", "original_data_b64 is empty");
  const [capacity, holder] = b64 !== undefined ? [Math.floor((b64.length * 3) / 4), `original_data_b64 (${b64.length} characters)`] : [width * height * 4, `the ${width}x${height} image`];
  const sizes = md.compression
    ? { encoded_size: b64 !== undefined ? md.encoded_size : (md.encoded_size ?? md.data_size) }
    : { encoded_size: md.encoded_size, data_size: md.data_size };
  for (const [field, n] of Object.entries(sizes)) {
    if (n !== undefined && n > capacity) notPixelRts("E_METADATA_INVALID", `${field} ${n} does not fit ${holder} (${capacity} bytes)`);
  }
}

/**
 * 413 E_TOO_LARGE for a grid side over this catalog's MAX_GRID: on the head of an upload, and on
 * a deduplicated publish of bytes stored when the limit was higher.
 */
export function refuseOverGrid(side: number, maxGrid: number): void {
  try {
    checkGridLimit({ width: side, height: side }, maxGrid);
  } catch (e) {
    if (isPixelRtsError(e)) httpFail("E_TOO_LARGE", `${e.message} this catalog takes (its MAX_GRID)`, { details: { grid: side, max_grid: maxGrid } });
    throw e;
  }
}

/** Reads from `reader` until the head parses and checks it; never reads past what the head needs plus one chunk. */
export async function readHead(reader: ReadableStreamDefaultReader<Uint8Array>, maxGrid: number, limit = MAX_HEAD_BYTES): Promise<ReadHead> {
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
      if (r.done) {
        checkAgainstImage(r.head, r.stoppedAt, maxGrid);
        return { head: r.head, chunks, bytesRead };
      }
      if (done) notPixelRts("E_PNG_CORRUPT", "the file ends inside its header");
      need = r.needAtLeast;
      if (need > limit) notPixelRts("E_TOO_LARGE", `header larger than ${limit} bytes`);
    }
  }
}

/** Validates and checks a prefix already in memory; `needAtLeast` when it is too short. */
export async function headOf(bytes: Uint8Array, maxGrid: number): Promise<ContainerHead | { needAtLeast: number }> {
  const r = await scan(bytes);
  if (!r.done) return { needAtLeast: r.needAtLeast };
  checkAgainstImage(r.head, r.stoppedAt, maxGrid);
  return r.head;
}
