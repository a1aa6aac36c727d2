/**
 * The Hilbert curve as PixelRTS v2 walks it (spec §3): curve pixel i sits at column x, row y
 * = d2xy(G, i), starting top-left and ending top-right.
 *
 * PNG rows arrive top to bottom, so the codec needs, for each row y, the curve index of every
 * pixel in it. `HilbertRows` answers that without per-pixel loops over all levels: the curve
 * is cut into B×B blocks (B = 64), each a contiguous run of B² indices drawn in one of four
 * orientations. A block's start index and orientation are computed once per block row; inside
 * a block the index is a lookup in one of four B×B tables. Nothing is allocated per pixel.
 */

/** Reference mapping from the spec (index → x, y); the turn uses s, not G. */
export function d2xy(g: number, i: number): [number, number] {
  let x = 0;
  let y = 0;
  let t = i;
  for (let s = 1; s < g; s *= 2) {
    const rx = (t >>> 1) & 1;
    const ry = (t ^ rx) & 1;
    if (ry === 0) {
      if (rx === 1) {
        x = s - 1 - x;
        y = s - 1 - y;
      }
      const tmp = x;
      x = y;
      y = tmp;
    }
    x += s * rx;
    y += s * ry;
    t = Math.floor(t / 4);
  }
  return [x, y];
}

/** Reference inverse from the spec (x, y → index); the turn uses G. */
export function xy2d(g: number, x: number, y: number): number {
  let d = 0;
  for (let s = g / 2; s >= 1; s /= 2) {
    const rx = (x & s) !== 0 ? 1 : 0;
    const ry = (y & s) !== 0 ? 1 : 0;
    d += s * s * ((3 * rx) ^ ry);
    if (ry === 0) {
      if (rx === 1) {
        x = g - 1 - x;
        y = g - 1 - y;
      }
      const tmp = x;
      x = y;
      y = tmp;
    }
  }
  return d;
}

export function isPowerOfTwo(n: number): boolean {
  return Number.isSafeInteger(n) && n > 0 && 2 ** Math.round(Math.log2(n)) === n;
}

/**
 * Grid side for n stored bytes (spec §2.2), integers only. "current": n rounded up to 64
 * bytes first (the original's "AVX-512 alignment"); "older": the February 2026 rule.
 */
export function gridSizeFor(n: number, rule: "current" | "older" = "current"): number {
  if (n === 0) return 1;
  const bytes = rule === "current" ? Math.ceil(n / 64) * 64 : n;
  const pixels = Math.ceil(bytes / 4);
  let g = 1;
  while (g * g < pixels) g *= 2;
  return g;
}

const BLOCK_BITS = 6;

/** Side of the squares the streaming codecs move at a time: 256 rows (4·256·G bytes per strip), or G if smaller. */
export function squareSide(g: number): number {
  return Math.min(g, 256);
}

/** Per-row curve indices for a G×G grid (G a power of two). */
export class HilbertRows {
  private readonly block: number;
  private readonly tables: Int32Array[];
  private readonly blockBase: Float64Array;
  private readonly blockState: Uint8Array;
  private cachedBlockRow = -1;
  /** Per orientation: local curve index → offset in a strip (row stride G); built on first decode. */
  private inverse: Int32Array[] | undefined;

  constructor(readonly g: number) {
    if (!isPowerOfTwo(g)) throw new RangeError(`grid size ${g} is not a power of two`);
    this.block = Math.min(g, 1 << BLOCK_BITS);
    const b = this.block;
    // Orientation state: bit 0 = flip both coordinates, bit 1 = swap them (they commute).
    this.tables = [0, 1, 2, 3].map((state) => {
      const t = new Int32Array(b * b);
      for (let ly = 0; ly < b; ly++) {
        for (let lx = 0; lx < b; lx++) {
          let x = state & 1 ? b - 1 - lx : lx;
          let y = state & 1 ? b - 1 - ly : ly;
          if (state & 2) [x, y] = [y, x];
          t[ly * b + lx] = xy2d(b, x, y);
        }
      }
      return t;
    });
    const perRow = g / b;
    this.blockBase = new Float64Array(perRow);
    this.blockState = new Uint8Array(perRow);
  }

  /** Start index and low-bit orientation of every block in block row `by`. */
  private computeBlockRow(by: number): void {
    const { g, block: b } = this;
    for (let bx = 0; bx < g / b; bx++) {
      let x = bx * b;
      let y = by * b;
      let d = 0;
      let state = 0;
      for (let s = g / 2; s >= b; s /= 2) {
        const rx = (x & s) !== 0 ? 1 : 0;
        const ry = (y & s) !== 0 ? 1 : 0;
        d += s * s * ((3 * rx) ^ ry);
        if (ry === 0) {
          if (rx === 1) {
            x = g - 1 - x;
            y = g - 1 - y;
            state ^= 1;
          }
          const tmp = x;
          x = y;
          y = tmp;
          state ^= 2;
        }
      }
      this.blockBase[bx] = d;
      this.blockState[bx] = state;
    }
    this.cachedBlockRow = by;
  }

  /** Fills out[x] with the curve index of pixel (x, y); out.length >= G. */
  row(y: number, out: Int32Array | Uint32Array): void {
    const b = this.block;
    const by = Math.floor(y / b);
    if (by !== this.cachedBlockRow) this.computeBlockRow(by);
    const off = (y % b) * b;
    const blocks = this.g / b;
    for (let bx = 0; bx < blocks; bx++) {
      const base = this.blockBase[bx]!;
      const table = this.tables[this.blockState[bx]!]!;
      const x0 = bx * b;
      for (let lx = 0; lx < b; lx++) out[x0 + lx] = base + table[off + lx]!;
    }
  }

  /** Rows per strip: the codec moves pixels a strip (one row of blocks) at a time. */
  get stripRows(): number {
    return this.block;
  }

  /**
   * Decoding: copies the pixels of strip `by` (rows by·B … by·B+B−1, row-major in `strip`,
   * G words per row) whose curve index is below `count` to `curve[index]`. Block by block, so
   * each block's writes land in one contiguous run of B² words; blocks past `count` are skipped.
   */
  scatterStrip(by: number, strip: Uint32Array, curve: Uint32Array, count: number): void {
    const { g, block: b } = this;
    if (by !== this.cachedBlockRow) this.computeBlockRow(by);
    // Walk each block in curve order: the writes to `curve` are sequential, the reads stay
    // inside the block's B×B pixels of the strip (inverse tables have the row stride G baked in).
    this.inverse ??= this.buildInverse();
    const span = b * b;
    for (let bx = 0; bx < g / b; bx++) {
      const base = this.blockBase[bx]!;
      if (base >= count) continue;
      const inv = this.inverse[this.blockState[bx]!]!;
      const x0 = bx * b;
      const n = Math.min(span, count - base);
      for (let k = 0; k < n; k++) curve[base + k] = strip[x0 + inv[k]!]!;
    }
  }

  /**
   * Square strips, for codecs that stream to or from a file: strip `s` is rows s·S … s·S+S−1 with
   * S = `squareSide(g)`. Each S×S square of it is one contiguous run of S² curve indices starting
   * at a multiple of S² (an aligned square of a Hilbert curve is visited in one go), so a strip
   * maps to G/S runs of the payload: `squareBases` names them, `scatterSquares` moves a row-major
   * strip into "square order" (square j's pixels, in curve order, at j·S²) and `gatherSquares`
   * does the reverse. Memory and I/O per strip: S·G pixels, in G/S positioned runs of 4·S² bytes.
   */
  squareBases(s: number, side: number): number[] {
    const { g, block: b } = this;
    const bases: number[] = [];
    if ((s * side) / b !== this.cachedBlockRow) this.computeBlockRow((s * side) / b);
    for (let j = 0; j < g / side; j++) {
      const base = this.blockBase[(j * side) / b]!;
      bases.push(base - (base % (side * side)));
    }
    return bases;
  }

  /** Row-major strip `s` (S·G words) → square order (`out`, S·G words); squares at or past `count` are skipped. */
  scatterSquares(s: number, side: number, strip: Uint32Array, out: Uint32Array, count: number): void {
    this.moveSquares(s, side, strip, out, count, true);
  }

  /** Square order → row-major strip `s`; pixels at or past `count` become zero. */
  gatherSquares(s: number, side: number, squares: Uint32Array, strip: Uint32Array, count: number): void {
    this.moveSquares(s, side, strip, squares, count, false);
  }

  private moveSquares(s: number, side: number, strip: Uint32Array, sq: Uint32Array, count: number, scatter: boolean): void {
    const { g, block: b } = this;
    const area = side * side;
    if (!scatter) strip.fill(0);
    for (let k = 0; k < side / b; k++) {
      const by = (s * side) / b + k;
      if (by !== this.cachedBlockRow) this.computeBlockRow(by);
      const rowOff = k * b * g;
      for (let bx = 0; bx < g / b; bx++) {
        const base = this.blockBase[bx]!;
        if (base >= count) continue;
        // Row by row through the block: strip accesses run along rows, the square's stay inside
        // one block's B² words (16 KiB), so both sides stay in cache.
        const table = this.tables[this.blockState[bx]!]!;
        const dst = Math.floor((bx * b) / side) * area + (base % area);
        const full = base + b * b <= count;
        const limit = count - base;
        if (full && b % 4 === 0) {
          // The common case, unrolled: no bounds test per pixel.
          let src = rowOff + bx * b;
          for (let t = 0; t < b * b; t += b, src += g) {
            if (scatter)
              for (let lx = 0; lx < b; lx += 4) {
                sq[dst + table[t + lx]!] = strip[src + lx]!;
                sq[dst + table[t + lx + 1]!] = strip[src + lx + 1]!;
                sq[dst + table[t + lx + 2]!] = strip[src + lx + 2]!;
                sq[dst + table[t + lx + 3]!] = strip[src + lx + 3]!;
              }
            else
              for (let lx = 0; lx < b; lx += 4) {
                strip[src + lx] = sq[dst + table[t + lx]!]!;
                strip[src + lx + 1] = sq[dst + table[t + lx + 1]!]!;
                strip[src + lx + 2] = sq[dst + table[t + lx + 2]!]!;
                strip[src + lx + 3] = sq[dst + table[t + lx + 3]!]!;
              }
          }
          continue;
        }
        for (let ly = 0; ly < b; ly++) {
          const src = rowOff + ly * g + bx * b;
          const t = ly * b;
          for (let lx = 0; lx < b; lx++) {
            const d = table[t + lx]!;
            if (d >= limit) continue;
            if (scatter) sq[dst + d] = strip[src + lx]!;
            else strip[src + lx] = sq[dst + d]!;
          }
        }
      }
    }
  }

  /**
   * What a worker needs to gather strip `s` itself (see gatherSquares): per 64-row sub-strip k,
   * per block bx, the block's offset in square order (`dst`) and its orientation (`state`, an
   * index into `orientationTables`). Lets the per-pixel work run beside the main thread.
   */
  squarePlan(s: number, side: number): { dst: Int32Array; state: Uint8Array }[] {
    const { g, block: b } = this;
    const area = side * side;
    const out: { dst: Int32Array; state: Uint8Array }[] = [];
    for (let k = 0; k < side / b; k++) {
      const by = (s * side) / b + k;
      if (by !== this.cachedBlockRow) this.computeBlockRow(by);
      const dst = new Int32Array(g / b);
      for (let bx = 0; bx < g / b; bx++) dst[bx] = Math.floor((bx * b) / side) * area + (this.blockBase[bx]! % area);
      out.push({ dst, state: this.blockState.slice() });
    }
    return out;
  }

  /** The four B×B tables (local x, y → local curve index), one per orientation; B = min(G, 64). */
  orientationTables(): { block: number; tables: Int32Array[] } {
    return { block: this.block, tables: this.tables.map((t) => t.slice()) };
  }

  private buildInverse(): Int32Array[] {
    const { g, block: b } = this;
    return this.tables.map((t) => {
      const inv = new Int32Array(b * b);
      for (let i = 0; i < b * b; i++) inv[t[i]!] = Math.floor(i / b) * g + (i % b);
      return inv;
    });
  }

  /** Encoding: fills strip `by` from `curve[index]`, zero where the index is past `count`. */
  gatherStrip(by: number, curve: Uint32Array, count: number, strip: Uint32Array): void {
    const { g, block: b } = this;
    if (by !== this.cachedBlockRow) this.computeBlockRow(by);
    strip.fill(0);
    for (let bx = 0; bx < g / b; bx++) {
      const base = this.blockBase[bx]!;
      if (base >= count) continue;
      const table = this.tables[this.blockState[bx]!]!;
      const full = base + b * b <= count;
      for (let ly = 0; ly < b; ly++) {
        const dst = ly * g + bx * b;
        const t = ly * b;
        if (full) for (let lx = 0; lx < b; lx++) strip[dst + lx] = curve[base + table[t + lx]!]!;
        else
          for (let lx = 0; lx < b; lx++) {
            const d = base + table[t + lx]!;
            if (d < count) strip[dst + lx] = curve[d]!;
          }
      }
    }
  }
}
