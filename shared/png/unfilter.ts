import { fail } from "../errors.js";

/** Reverses one scanline's PNG filter in place (types 0–4; anything else is corrupt). */
export function unfilterRow(filter: number, cur: Uint8Array, prev: Uint8Array, bpp: number): void {
  const n = cur.length;
  switch (filter) {
    case 0:
      return;
    case 1:
      for (let i = bpp; i < n; i++) cur[i] = (cur[i]! + cur[i - bpp]!) & 0xff;
      return;
    case 2:
      for (let i = 0; i < n; i++) cur[i] = (cur[i]! + prev[i]!) & 0xff;
      return;
    case 3:
      for (let i = 0; i < bpp; i++) cur[i] = (cur[i]! + (prev[i]! >>> 1)) & 0xff;
      for (let i = bpp; i < n; i++) cur[i] = (cur[i]! + ((cur[i - bpp]! + prev[i]!) >>> 1)) & 0xff;
      return;
    case 4:
      for (let i = 0; i < bpp; i++) cur[i] = (cur[i]! + prev[i]!) & 0xff;
      for (let i = bpp; i < n; i++) {
        const a = cur[i - bpp]!;
        const b = prev[i]!;
        const c = prev[i - bpp]!;
        const p = a + b - c;
        const pa = Math.abs(p - a);
        const pb = Math.abs(p - b);
        const pc = Math.abs(p - c);
        cur[i] = (cur[i]! + (pa <= pb && pa <= pc ? a : pb <= pc ? b : c)) & 0xff;
      }
      return;
    default:
      fail("E_PNG_CORRUPT", `scanline filter type ${filter} does not exist (broken data stream when reading image file)`);
  }
}
