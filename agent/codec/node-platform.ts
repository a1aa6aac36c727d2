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

function nodeTransform(make: () => zlib.Inflate | zlib.Deflate): ZlibTransform {
  return (input) => {
    const t = make();
    // pipeline: an error on either side destroys both, and stopping early (the decoder has
    // every row it needs) ends the input generator too.
    pipeline(Readable.from(input, { objectMode: false }), t, () => {});
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
