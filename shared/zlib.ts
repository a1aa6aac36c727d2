/**
 * zlib (RFC 1950) streams for the codec. The default uses Web-standard Compression Streams so
 * the Worker can run it; the Node agent passes node:zlib streams (faster, and a settable level).
 */
import { byteChunks, concatBytes } from "./bytes.js";
import { fail } from "./errors.js";

/** Transforms a byte stream; errors surface when the output is iterated. */
export type ZlibTransform = (input: AsyncIterable<Uint8Array>) => AsyncIterable<Uint8Array>;

export interface ZlibPlatform {
  inflate: ZlibTransform;
  /** level: 0–9, as zlib's. */
  deflate: (level: number) => ZlibTransform;
}

function readableFrom(it: AsyncIterable<Uint8Array>): ReadableStream<Uint8Array> {
  const iterator = it[Symbol.asyncIterator]();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const r = await iterator.next();
      if (r.done) controller.close();
      else controller.enqueue(r.value);
    },
    async cancel(reason) {
      await iterator.return?.(reason);
    },
  });
}

function webTransform(make: () => { readable: ReadableStream<Uint8Array>; writable: WritableStream<Uint8Array> }): ZlibTransform {
  return (input) => byteChunks(readableFrom(input).pipeThrough(make() as unknown as ReadableWritablePair<Uint8Array, Uint8Array>));
}

export const webZlib: ZlibPlatform = {
  inflate: webTransform(() => new DecompressionStream("deflate") as unknown as { readable: ReadableStream<Uint8Array>; writable: WritableStream<Uint8Array> }),
  // Compression Streams have no level; they use zlib's default (6), which is also Pillow's.
  deflate: () => webTransform(() => new CompressionStream("deflate") as unknown as { readable: ReadableStream<Uint8Array>; writable: WritableStream<Uint8Array> }),
};

/** Inflates a whole small buffer (text chunks, compressed payloads) with an output bound. */
export async function inflateBounded(data: Uint8Array, maxBytes: number, inflate: ZlibTransform = webZlib.inflate): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let total = 0;
  async function* once() {
    yield data;
  }
  for await (const piece of inflate(once())) {
    total += piece.length;
    if (total > maxBytes) fail("E_TOO_LARGE", `compressed data inflates past the ${maxBytes}-byte limit`);
    parts.push(piece);
  }
  return concatBytes(parts, total);
}
