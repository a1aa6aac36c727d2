/**
 * The inline thumbnail the catalog index keeps per name (at most INLINE_THUMBNAIL_BYTES): the
 * uploaded PNG when it is that small, else a box-filtered RGB copy at 128, 64 or 32 pixels a
 * side (the first that fits), so original clients still get a `thumbnail` in every entry of the
 * unpaged catalog while the index stays small. The full upload stays at `thumbnail_url`.
 * Decoding is bounded: 8-bit non-interlaced PNGs up to 4096 pixels a side, rows streamed (only
 * the downscaled sums are held); anything else gets no inline copy (null), never an error.
 */
import { concatBytes } from "../../shared/bytes";
import { isPixelRtsError } from "../../shared/errors";
import { encodeChunk, PNG_SIGNATURE, readPngChunks } from "../../shared/png/chunks";
import { checkSupported, parseIhdr } from "../../shared/png/ihdr";
import { ScanlineReader } from "../../shared/png/scanlines";
import type { PngHeader } from "../../shared/container/types";
import { webZlib } from "../../shared/zlib";

/** Largest thumbnail upload accepted (served at `thumbnail_url`). */
export const MAX_THUMBNAIL_BYTES = 256 * 1024;
/** Largest inline copy kept in the index and sent in catalogs. */
export const INLINE_THUMBNAIL_BYTES = 32 * 1024;
const MAX_SIDE = 4096;

async function deflate(data: Uint8Array): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  async function* once() {
    yield data;
  }
  for await (const p of webZlib.deflate(6)(once())) parts.push(p);
  return concatBytes(parts);
}

async function encodeRgb(rgb: Uint8Array, w: number, h: number): Promise<Uint8Array> {
  const raw = new Uint8Array(h * (w * 3 + 1));
  for (let y = 0; y < h; y++) raw.set(rgb.subarray(y * w * 3, (y + 1) * w * 3), y * (w * 3 + 1) + 1);
  const ihdr = new Uint8Array(13);
  const dv = new DataView(ihdr.buffer);
  dv.setUint32(0, w);
  dv.setUint32(4, h);
  ihdr[8] = 8;
  ihdr[9] = 2;
  return concatBytes([PNG_SIGNATURE, encodeChunk("IHDR", ihdr), encodeChunk("IDAT", await deflate(raw)), encodeChunk("IEND", new Uint8Array(0))]);
}

/** Halves an RGB image (box filter), at least 1 pixel a side. */
function halve(rgb: Uint8Array, w: number, h: number): { rgb: Uint8Array; w: number; h: number } {
  const nw = Math.max(1, Math.ceil(w / 2));
  const nh = Math.max(1, Math.ceil(h / 2));
  const out = new Uint8Array(nw * nh * 3);
  for (let y = 0; y < nh; y++) {
    for (let x = 0; x < nw; x++) {
      for (let c = 0; c < 3; c++) {
        let sum = 0;
        let n = 0;
        for (let dy = 0; dy < 2; dy++) {
          for (let dx = 0; dx < 2; dx++) {
            const sx = 2 * x + dx;
            const sy = 2 * y + dy;
            if (sx < w && sy < h) {
              sum += rgb[(sy * w + sx) * 3 + c]!;
              n++;
            }
          }
        }
        out[(y * nw + x) * 3 + c] = Math.round(sum / n);
      }
    }
  }
  return { rgb: out, w: nw, h: nh };
}

/** Decodes `png` into an RGB image of at most `side` pixels a side (box filter over RGBA rows, alpha dropped). */
async function decodeDown(png: Uint8Array, side: number): Promise<{ rgb: Uint8Array; w: number; h: number } | null> {
  let ihdr: PngHeader | undefined;
  let palette: { rgb: Uint8Array; alpha?: Uint8Array } | undefined;
  const idat: Uint8Array[] = [];
  for await (const c of readPngChunks(png, { maxAncillaryBytes: 1 << 20 })) {
    if (c.type === "IHDR") ihdr = parseIhdr(c.data);
    else if (c.type === "PLTE") palette = { rgb: c.data };
    else if (c.type === "tRNS" && palette) palette.alpha = c.data;
    else if (c.type === "IDAT") idat.push(c.data);
    else if (c.type === "IEND") break;
  }
  if (!ihdr || !idat.length) return null;
  checkSupported(ihdr);
  const { width, height } = ihdr;
  if (width > MAX_SIDE || height > MAX_SIDE) return null;
  const step = Math.max(1, Math.ceil(Math.max(width, height) / side));
  const w = Math.ceil(width / step);
  const h = Math.ceil(height / step);
  const sums = new Float64Array(w * h * 3);
  const counts = new Uint32Array(w * h);
  const rows = new ScanlineReader(
    ihdr,
    (y, rgba) => {
      const ty = Math.floor(y / step);
      for (let x = 0; x < width; x++) {
        const t = ty * w + Math.floor(x / step);
        sums[t * 3] = sums[t * 3]! + rgba[x * 4]!;
        sums[t * 3 + 1] = sums[t * 3 + 1]! + rgba[x * 4 + 1]!;
        sums[t * 3 + 2] = sums[t * 3 + 2]! + rgba[x * 4 + 2]!;
        counts[t] = counts[t]! + 1;
      }
    },
    palette,
  );
  async function* compressed() {
    for (const d of idat) yield d;
  }
  let inflated = 0;
  const cap = (width * 4 + 1) * height + 1024;
  for await (const piece of webZlib.inflate(compressed())) {
    inflated += piece.length;
    if (inflated > cap) break; // more than the image holds: what follows is ignored (spec)
    rows.push(piece);
    if (rows.done) break;
  }
  if (!rows.done) return null;
  const rgb = new Uint8Array(w * h * 3);
  for (let t = 0; t < w * h; t++) for (let c = 0; c < 3; c++) rgb[t * 3 + c] = Math.round(sums[t * 3 + c]! / Math.max(1, counts[t]!));
  return { rgb, w, h };
}

/** The inline copy of an uploaded thumbnail PNG (≤ INLINE_THUMBNAIL_BYTES), or null when none can be made. */
export async function smallThumbnail(png: Uint8Array, budget = INLINE_THUMBNAIL_BYTES): Promise<Uint8Array | null> {
  if (png.length <= budget) return png;
  try {
    let img = await decodeDown(png, 128);
    while (img) {
      const out = await encodeRgb(img.rgb, img.w, img.h);
      if (out.length <= budget) return out;
      if (img.w <= 16 && img.h <= 16) return null;
      img = halve(img.rgb, img.w, img.h);
    }
    return null;
  } catch (e) {
    if (isPixelRtsError(e)) return null; // a damaged or unsupported PNG: served by URL only
    throw e;
  }
}
