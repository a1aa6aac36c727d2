/**
 * Builds PNG files chunk by chunk for tests: any colour type, filters, chunk order and text,
 * including the broken ones (bad CRCs, truncation) that the codec must refuse.
 */
import zlib from "node:zlib";
import { asciiBytes, concatBytes } from "../../shared/bytes.js";
import { encodeChunk, PNG_SIGNATURE } from "../../shared/png/chunks.js";
import { HilbertRows } from "../../shared/hilbert.js";

export interface RawChunk {
  type: string;
  data: Uint8Array;
  /** Overrides the CRC (to write a wrong one). */
  crc?: number;
}

export function ihdr(width: number, height: number, colorType = 6, bitDepth = 8, interlace = 0): RawChunk {
  const d = new Uint8Array(13);
  const v = new DataView(d.buffer);
  v.setUint32(0, width);
  v.setUint32(4, height);
  d.set([bitDepth, colorType, 0, 0, interlace], 8);
  return { type: "IHDR", data: d };
}

export function text(keyword: string, value: string): RawChunk {
  return { type: "tEXt", data: asciiBytes(`${keyword}\0${value}`) };
}

export function ztxt(keyword: string, value: string): RawChunk {
  return { type: "zTXt", data: concatBytes([asciiBytes(`${keyword}\0\0`), zlib.deflateSync(Buffer.from(value, "latin1"))]) };
}

export function itxt(keyword: string, value: string, compressed = false): RawChunk {
  const body = compressed ? zlib.deflateSync(Buffer.from(value, "utf8")) : Buffer.from(value, "utf8");
  return { type: "iTXt", data: concatBytes([asciiBytes(keyword), new Uint8Array([0, compressed ? 1 : 0, 0, 0, 0]), body]) };
}

/** Filtered scanlines: `rows` are unfiltered pixel rows; filter f applied per row (PNG rules). */
export function filterRows(rows: Uint8Array[], bpp: number, filters: number[] | number = 0): Uint8Array {
  const out: Uint8Array[] = [];
  let prev: Uint8Array = new Uint8Array(rows[0]?.length ?? 0);
  rows.forEach((row, y) => {
    const f = typeof filters === "number" ? filters : filters[y % filters.length]!;
    const line = new Uint8Array(row.length + 1);
    line[0] = f;
    for (let i = 0; i < row.length; i++) {
      const a = i >= bpp ? row[i - bpp]! : 0;
      const b = prev[i]!;
      const c = i >= bpp ? prev[i - bpp]! : 0;
      let pred = 0;
      if (f === 1) pred = a;
      else if (f === 2) pred = b;
      else if (f === 3) pred = (a + b) >>> 1;
      else if (f === 4) {
        const p = a + b - c;
        const pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
        pred = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      line[i + 1] = (row[i]! - pred) & 0xff;
    }
    out.push(line);
    prev = row;
  });
  return concatBytes(out);
}

/** zlib stream of `raw`, cut into IDAT chunks of `split` bytes (0 = one chunk). */
export function idats(raw: Uint8Array, split = 0, level = 6): RawChunk[] {
  const z = zlib.deflateSync(raw, { level });
  if (!split) return [{ type: "IDAT", data: z }];
  const out: RawChunk[] = [];
  for (let i = 0; i < z.length; i += split) out.push({ type: "IDAT", data: z.subarray(i, i + split) });
  return out;
}

export function buildPng(chunks: RawChunk[]): Uint8Array {
  return concatBytes([
    PNG_SIGNATURE,
    ...chunks.map((c) => {
      const enc = encodeChunk(c.type, c.data);
      if (c.crc !== undefined) new DataView(enc.buffer).setUint32(enc.length - 4, c.crc);
      return enc;
    }),
  ]);
}

export const iend = (): RawChunk => ({ type: "IEND", data: new Uint8Array(0) });

/** Pixel rows (RGBA) holding `payload` along the Hilbert curve of a g×g grid: the spec's mapping. */
export function rgbaRowsFor(payload: Uint8Array, g: number): Uint8Array[] {
  const rows: Uint8Array[] = [];
  const h = new HilbertRows(g);
  const idx = new Int32Array(g);
  for (let y = 0; y < g; y++) {
    h.row(y, idx);
    const row = new Uint8Array(4 * g);
    for (let x = 0; x < g; x++) {
      const d = idx[x]!;
      for (let c = 0; c < 4; c++) {
        const k = 4 * d + c;
        if (k < payload.length) row[4 * x + c] = payload[k]!;
      }
    }
    rows.push(row);
  }
  return rows;
}

/** The RGBA raster of a PNG, row-major (independent of the codec's curve code). */
export async function readRaster(png: Uint8Array): Promise<{ width: number; height: number; rgba: Uint8Array }> {
  const { readPngChunks } = await import("../../shared/png/chunks.js");
  const { parseIhdr } = await import("../../shared/png/ihdr.js");
  const { ScanlineReader } = await import("../../shared/png/scanlines.js");
  const parts: Uint8Array[] = [];
  let header;
  for await (const c of readPngChunks(png)) {
    if (c.type === "IHDR") header = parseIhdr(c.data);
    if (c.type === "IDAT") parts.push(c.data);
  }
  const h = header!;
  const rgba = new Uint8Array(h.width * h.height * 4);
  const lines = new ScanlineReader(h, (y, row) => rgba.set(row.subarray(0, h.width * 4), y * h.width * 4));
  lines.push(zlib.inflateSync(concatBytes(parts)));
  return { width: h.width, height: h.height, rgba };
}
