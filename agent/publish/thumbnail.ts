/**
 * Catalog thumbnails: the container's own pixels, box-filtered down to at most 256×256 (never
 * upscaled, like the original server's), alpha forced opaque so the colours show. Streams the
 * PNG once, holding one output row of sums.
 */
import { createReadStream } from "node:fs";
import zlib from "node:zlib";
import { concatBytes } from "../../shared/bytes.js";
import { fail } from "../../shared/errors.js";
import { encodeChunk, PNG_SIGNATURE, readPngChunks } from "../../shared/png/chunks.js";
import { checkSupported, parseIhdr } from "../../shared/png/ihdr.js";
import { ScanlineReader } from "../../shared/png/scanlines.js";
import type { PngHeader } from "../../shared/container/types.js";
import { NODE_CODEC } from "../codec/node-platform.js";

export const THUMBNAIL_MAX = 256;

export async function makeThumbnail(pngPath: string, max = THUMBNAIL_MAX): Promise<Uint8Array> {
  let ihdr: PngHeader | undefined;
  let palette: { rgb: Uint8Array; alpha?: Uint8Array } | undefined;
  const idat: AsyncGenerator<Uint8Array> = (async function* () {
    for await (const c of readPngChunks(createReadStream(pngPath, { highWaterMark: 1 << 20 }), { crc32: NODE_CODEC.crc32 })) {
      if (c.type === "IHDR") ihdr = parseIhdr(c.data);
      else if (c.type === "PLTE") palette = { rgb: c.data };
      else if (c.type === "IDAT") yield c.data;
    }
  })();
  // Pull the first IDAT so the header is known before sizing the output.
  const first = await idat.next();
  if (!ihdr || first.done) fail("E_PNG_CORRUPT", "no image data to make a thumbnail from");
  checkSupported(ihdr);
  const { width, height } = ihdr;
  const step = Math.max(1, Math.ceil(Math.max(width, height) / max));
  const tw = Math.ceil(width / step);
  const th = Math.ceil(height / step);
  const out = new Uint8Array(th * (tw * 3 + 1)); // RGB rows, filter byte 0
  const sums = new Float64Array(tw * 3);
  const counts = new Uint32Array(tw);
  const flush = (ty: number) => {
    const o = ty * (tw * 3 + 1) + 1;
    for (let x = 0; x < tw; x++) for (let c = 0; c < 3; c++) out[o + x * 3 + c] = Math.round(sums[x * 3 + c]! / Math.max(1, counts[x]!));
    sums.fill(0);
    counts.fill(0);
  };
  const lines = new ScanlineReader(ihdr, (y, rgba) => {
    for (let x = 0; x < width; x++) {
      const tx = Math.floor(x / step);
      sums[tx * 3] = sums[tx * 3]! + rgba[4 * x]!;
      sums[tx * 3 + 1] = sums[tx * 3 + 1]! + rgba[4 * x + 1]!;
      sums[tx * 3 + 2] = sums[tx * 3 + 2]! + rgba[4 * x + 2]!;
      counts[tx]!++;
    }
    if ((y + 1) % step === 0 || y === height - 1) flush(Math.floor(y / step));
  }, palette);
  async function* all() {
    yield first.value as Uint8Array;
    yield* idat;
  }
  for await (const piece of NODE_CODEC.zlib.inflate(all())) {
    lines.push(piece);
    if (lines.done) break;
  }
  if (!lines.done) fail("E_PNG_CORRUPT", "image data ends early");
  const header = new Uint8Array(13);
  const v = new DataView(header.buffer);
  v.setUint32(0, tw);
  v.setUint32(4, th);
  header.set([8, 2, 0, 0, 0], 8);
  return concatBytes([PNG_SIGNATURE, encodeChunk("IHDR", header, NODE_CODEC.crc32), encodeChunk("IDAT", zlib.deflateSync(out, { level: 9 }), NODE_CODEC.crc32), encodeChunk("IEND", new Uint8Array(0), NODE_CODEC.crc32)]);
}
