import { fail } from "../errors.js";
import type { PngHeader } from "../container/types.js";
import { CHANNELS } from "./ihdr.js";
import { unfilterRow } from "./unfilter.js";

/**
 * Turns the inflated IDAT stream, in whatever pieces it arrives, into unfiltered RGBA rows.
 * Only two rows are held; each finished row goes to `onRow(y, rgba)`. Grey, grey+alpha, RGB
 * and palette images are converted to RGBA the way Pillow's convert("RGBA") does.
 */
export class ScanlineReader {
  readonly rowBytes: number;
  readonly totalBytes: number;
  private cur: Uint8Array;
  private prev: Uint8Array;
  private readonly rgba: Uint8Array;
  private readonly bpp: number;
  private filter = -1;
  private filled = 0;
  private y = 0;
  consumed = 0;

  constructor(
    private readonly ihdr: PngHeader,
    private readonly onRow: (y: number, rgba: Uint8Array) => void,
    private readonly palette?: { rgb: Uint8Array; alpha?: Uint8Array },
  ) {
    this.bpp = CHANNELS[ihdr.colorType]!;
    this.rowBytes = ihdr.width * this.bpp;
    this.totalBytes = (this.rowBytes + 1) * ihdr.height;
    this.cur = new Uint8Array(this.rowBytes);
    this.prev = new Uint8Array(this.rowBytes);
    this.rgba = this.bpp === 4 ? this.cur : new Uint8Array(ihdr.width * 4);
    if (ihdr.colorType === 3 && !palette) fail("E_PNG_CORRUPT", "palette image without a PLTE chunk");
  }

  get done(): boolean {
    return this.y >= this.ihdr.height;
  }

  /** Feeds inflated bytes; bytes past the last row are ignored (spec: stop at G·(4G+1)). */
  push(data: Uint8Array): void {
    let i = 0;
    const n = data.length;
    while (i < n && !this.done) {
      if (this.filter < 0) {
        this.filter = data[i++]!;
        if (this.filter > 4) fail("E_PNG_CORRUPT", `scanline ${this.y} has filter type ${this.filter} (broken data stream when reading image file)`);
        continue;
      }
      const k = Math.min(this.rowBytes - this.filled, n - i);
      this.cur.set(data.subarray(i, i + k), this.filled);
      this.filled += k;
      i += k;
      if (this.filled === this.rowBytes) this.finishRow();
    }
    this.consumed += i;
  }

  private finishRow(): void {
    unfilterRow(this.filter, this.cur, this.prev, this.bpp);
    this.onRow(this.y, this.toRgba(this.cur));
    const t = this.prev;
    this.prev = this.cur;
    this.cur = t;
    this.filter = -1;
    this.filled = 0;
    this.y++;
  }

  private toRgba(row: Uint8Array): Uint8Array {
    const { colorType, width } = this.ihdr;
    if (colorType === 6) return row;
    const out = this.rgba;
    for (let x = 0, o = 0; x < width; x++, o += 4) {
      switch (colorType) {
        case 0: {
          const v = row[x]!;
          out[o] = v; out[o + 1] = v; out[o + 2] = v; out[o + 3] = 255;
          break;
        }
        case 4: {
          const v = row[2 * x]!;
          out[o] = v; out[o + 1] = v; out[o + 2] = v; out[o + 3] = row[2 * x + 1]!;
          break;
        }
        case 2:
          out[o] = row[3 * x]!; out[o + 1] = row[3 * x + 1]!; out[o + 2] = row[3 * x + 2]!; out[o + 3] = 255;
          break;
        case 3: {
          const idx = row[x]!;
          const { rgb, alpha } = this.palette!;
          if (3 * idx + 2 >= rgb.length) fail("E_PNG_CORRUPT", `pixel uses palette index ${idx} beyond the PLTE chunk`);
          out[o] = rgb[3 * idx]!; out[o + 1] = rgb[3 * idx + 1]!; out[o + 2] = rgb[3 * idx + 2]!;
          out[o + 3] = alpha && idx < alpha.length ? alpha[idx]! : 255;
          break;
        }
      }
    }
    return out;
  }
}
