/**
 * Node implementations of the codec's platform hooks: native zlib streams (faster than
 * Compression Streams, and with a level), native CRC-32 and SHA-256.
 */
import { createHash } from "node:crypto";
import { Readable, pipeline } from "node:stream";
import zlib from "node:zlib";
import { crc32 as jsCrc32, type Crc32Fn } from "../../shared/png/crc32.js";
import type { Sha256Fn } from "../../shared/hash.js";
import type { ZlibPlatform, ZlibTransform } from "../../shared/zlib.js";

const CHUNK = 1 << 20;
// Let zlib (which runs on the libuv pool) work ahead of the consumer, so inflating the next
// megabytes overlaps with scattering the previous rows on the main thread.
const READ_AHEAD = 8 << 20;

/**
 * Hands zlib ~1 MiB at a time instead of 64 KiB IDAT chunks: each write is one job on the
 * libuv pool that needs the (busy) main thread to start the next, so fewer, larger jobs keep
 * zlib running while rows are being scattered.
 */
async function* coalesce(input: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  let parts: Uint8Array[] = [];
  let size = 0;
  for await (const p of input) {
    parts.push(p);
    size += p.length;
    if (size >= CHUNK) {
      yield parts.length === 1 ? parts[0]! : Buffer.concat(parts, size);
      parts = [];
      size = 0;
    }
  }
  if (size) yield parts.length === 1 ? parts[0]! : Buffer.concat(parts, size);
}

function nodeTransform(make: () => zlib.Inflate | zlib.Deflate): ZlibTransform {
  return (input) => {
    const t = make();
    // pipeline: an error on either side destroys both, and stopping early (the decoder has
    // every row it needs) ends the input generator too.
    pipeline(Readable.from(coalesce(input), { objectMode: false }), t, () => {});
    return t as AsyncIterable<Uint8Array>;
  };
}

export const nodeZlib: ZlibPlatform = {
  inflate: nodeTransform(() => zlib.createInflate({ chunkSize: CHUNK, readableHighWaterMark: READ_AHEAD } as zlib.ZlibOptions)),
  deflate: (level) => nodeTransform(() => zlib.createDeflate({ level, chunkSize: CHUNK, readableHighWaterMark: READ_AHEAD } as zlib.ZlibOptions)),
};

const native = (zlib as unknown as { crc32?: (d: Uint8Array, v?: number) => number }).crc32;
export const nodeCrc32: Crc32Fn = native ? (d, v = 0) => native(d, v) : jsCrc32;

export const nodeSha256: Sha256Fn = (data) => createHash("sha256").update(data).digest("hex");

/** Everything the shared codec accepts as platform options, Node flavour. */
export const NODE_CODEC = { zlib: nodeZlib, crc32: nodeCrc32, sha256: nodeSha256 } as const;
