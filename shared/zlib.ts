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

/**
 * Framing for a zlib stream made of independently deflated bands (pigz's way of compressing in
 * parallel): a 2-byte header, the raw-deflate bands in order (every one but the last ended with a
 * sync flush, so it stops on a byte boundary without a final block), and the Adler-32 of all the
 * uncompressed bytes, combined from the bands' own checksums.
 */
const ADLER_BASE = 65521;
/** Largest n such that 255·n·(n+1)/2 + (n+1)·(BASE−1) fits in 2^32 − 1 (zlib's NMAX). */
const ADLER_NMAX = 5552;

/** Adler-32 (RFC 1950) of `data`, continuing from `adler` (1 for a fresh checksum). */
export function adler32(data: Uint8Array, adler = 1): number {
  let a = adler & 0xffff;
  let b = (adler >>> 16) & 0xffff;
  let i = 0;
  const n = data.length;
  while (i < n) {
    const end = Math.min(n, i + ADLER_NMAX);
    for (; i < end; i++) {
      a += data[i]!;
      b += a;
    }
    a %= ADLER_BASE;
    b %= ADLER_BASE;
  }
  return ((b << 16) | a) >>> 0;
}

/**
 * Adler-32 of A‖B from adler32(A), adler32(B) and |B| (zlib's adler32_combine): with
 * a = 1 + ΣA and b = n + Σ(n−i)·A_i over the bytes, appending B of length m shifts
 * b_AB = b_A + m·(a_A − 1) + b_B and a_AB = a_A + a_B − 1, all mod 65521.
 */
export function adler32Combine(adlerA: number, adlerB: number, lengthB: number): number {
  const rem = lengthB % ADLER_BASE;
  const a1 = adlerA & 0xffff;
  const b1 = (adlerA >>> 16) & 0xffff;
  const a2 = adlerB & 0xffff;
  const b2 = (adlerB >>> 16) & 0xffff;
  let sumA = a1 + a2 - 1 + ADLER_BASE;
  // rem·a1 < 2^32 (both < 65521), so this stays exact in doubles.
  let sumB = ((rem * a1) % ADLER_BASE) + b1 + b2 - rem + ADLER_BASE;
  sumA %= ADLER_BASE;
  sumB %= ADLER_BASE;
  return ((sumB << 16) | sumA) >>> 0;
}

/** The 2-byte zlib header zlib itself writes for `level` (deflate, 32 KiB window, FLEVEL from the level). */
export function zlibHeader(level: number): Uint8Array {
  const flevel = level <= 1 ? 0 : level < 6 ? 1 : level === 6 ? 2 : 3;
  const cmf = 0x78;
  let flg = flevel << 6;
  flg += 31 - ((cmf * 256 + flg) % 31);
  return new Uint8Array([cmf, flg]);
}

/** The zlib trailer: Adler-32, big-endian. */
export function zlibTrailer(adler: number): Uint8Array {
  return new Uint8Array([(adler >>> 24) & 0xff, (adler >>> 16) & 0xff, (adler >>> 8) & 0xff, adler & 0xff]);
}
