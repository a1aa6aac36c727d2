/**
 * Pieces for encoding without holding the payload (large images, design.md), as pure functions
 * over byte chunks; the agent reads the payload from files and deflates in worker threads
 * (agent/codec/encode-file.ts). The raster is produced one strip of S rows at a time
 * (S = squareSide(G)): a strip needs G/S runs of the payload (its S×S squares, each a contiguous
 * run of 4·S² bytes), which `stripRuns` names; `stripRows` turns the runs, read in "square order",
 * into filtered scanlines. The zlib stream may be cut into independently deflated bands and
 * framed with `zlibHeader`/`zlibTrailer` (shared/zlib.ts); `IdatWriter` cuts it into IDAT chunks.
 */
import { asciiBytes } from "../bytes.js";
import { HilbertRows, squareSide } from "../hilbert.js";
import { encodeChunk, PNG_SIGNATURE } from "../png/chunks.js";
import type { Crc32Fn } from "../png/crc32.js";
import { TEXT_KEYWORD } from "./metadata.js";

/** Signature, IHDR (RGBA8, G×G) and the PixelRTS tEXt chunk: everything before the image data. */
export function pngHead(g: number, text: string, crc32?: Crc32Fn): Uint8Array[] {
  const ihdr = new Uint8Array(13);
  const view = new DataView(ihdr.buffer);
  view.setUint32(0, g);
  view.setUint32(4, g);
  ihdr.set([8, 6, 0, 0, 0], 8);
  return [PNG_SIGNATURE.slice(), encodeChunk("IHDR", ihdr, crc32), encodeChunk("tEXt", asciiBytes(`${TEXT_KEYWORD}\0${text}`), crc32)];
}

/** Cuts a byte stream into IDAT chunks of `chunkSize` (the original's 65 536), then IEND. */
export class IdatWriter {
  private buf: Uint8Array;
  private fill = 0;
  constructor(private readonly crc32?: Crc32Fn, private readonly chunkSize = 65536) {
    this.buf = new Uint8Array(chunkSize);
  }

  /** Chunks completed by `data` (each a fresh buffer). */
  push(data: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = [];
    let i = 0;
    while (i < data.length) {
      const k = Math.min(this.chunkSize - this.fill, data.length - i);
      this.buf.set(data.subarray(i, i + k), this.fill);
      this.fill += k;
      i += k;
      if (this.fill === this.chunkSize) {
        out.push(encodeChunk("IDAT", this.buf, this.crc32));
        this.fill = 0;
      }
    }
    return out;
  }

  /** The last IDAT (if any bytes are left) and IEND. */
  finish(): Uint8Array[] {
    const out: Uint8Array[] = [];
    if (this.fill) out.push(encodeChunk("IDAT", this.buf.subarray(0, this.fill), this.crc32));
    this.fill = 0;
    out.push(encodeChunk("IEND", new Uint8Array(0), this.crc32));
    return out;
  }
}

/** One run of the payload a strip needs: bytes [offset, offset+length) go to `at` in the square-order buffer. */
export interface StripRun {
  offset: number;
  length: number;
  at: number;
}

/** Strip geometry and the raster rows for a payload of `size` bytes on a G×G grid. */
export class StripPlan {
  readonly side: number;
  readonly strips: number;
  /** Bytes of a strip in square order (and of its unfiltered rows): 4·S·G. */
  readonly stripBytes: number;
  /** Bytes of a strip's filtered scanlines: S·(4G+1). */
  readonly rasterBytes: number;
  private readonly rows: HilbertRows;
  private readonly npix: number;
  private readonly strip: Uint32Array;

  constructor(readonly g: number, readonly size: number) {
    this.side = squareSide(g);
    this.strips = g / this.side;
    this.stripBytes = 4 * this.side * g;
    this.rasterBytes = this.side * (4 * g + 1);
    this.rows = new HilbertRows(g);
    this.npix = Math.ceil(size / 4);
    this.strip = new Uint32Array(this.side * g);
  }

  /** The payload runs strip `s` needs (adjacent squares merged); squares past the payload need none. */
  runs(s: number): StripRun[] {
    const area = this.side * this.side;
    const bases = this.rows.squareBases(s, this.side);
    const out: StripRun[] = [];
    for (let j = 0; j < bases.length; ) {
      const start = bases[j]!;
      if (start >= this.npix) {
        j++;
        continue;
      }
      let end = j + 1;
      while (end < bases.length && bases[end] === bases[end - 1]! + area && bases[end]! < this.npix) end++;
      const offset = 4 * start;
      out.push({ offset, length: Math.min(4 * area * (end - j), this.size - offset), at: 4 * area * j });
      j = end;
    }
    return out;
  }

  /**
   * Filtered scanlines (filter 0) of strip `s` from its runs in square order (`squares`,
   * `stripBytes` long; bytes outside the runs must be zero) into `raster` (`rasterBytes` long).
   */
  rasterRows(s: number, squares: Uint8Array, raster: Uint8Array): void {
    const { g, side } = this;
    const words = new Uint32Array(squares.buffer, squares.byteOffset, side * g);
    this.rows.gatherSquares(s, side, words, this.strip, this.npix);
    const bytes = new Uint8Array(this.strip.buffer);
    const stride = 4 * g + 1;
    for (let k = 0; k < side; k++) {
      raster[k * stride] = 0;
      raster.set(bytes.subarray(4 * g * k, 4 * g * (k + 1)), k * stride + 1);
    }
  }
}
