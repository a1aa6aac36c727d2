import { describe, expect, it } from "vitest";
import { d2xy, gridSizeFor, HilbertRows, xy2d } from "./hilbert.js";

describe("Hilbert curve orientation (spec §3.1)", () => {
  it("starts top-left and ends top-right for every grid size", () => {
    for (let g = 2; g <= 8192; g *= 2) {
      expect(d2xy(g, 0)).toEqual([0, 0]);
      expect(d2xy(g, g * g - 1)).toEqual([g - 1, 0]);
    }
  });

  it("takes its first step down when log2 G is odd and right when it is even", () => {
    for (let k = 1; k <= 13; k++) expect(d2xy(2 ** k, 1)).toEqual(k % 2 ? [0, 1] : [1, 0]);
  });

  it("walks G=2, G=4 and the start of G=8 exactly as the spec lists", () => {
    const walk = (g: number, n: number) => Array.from({ length: n }, (_, i) => d2xy(g, i));
    expect(walk(2, 4)).toEqual([[0, 0], [0, 1], [1, 1], [1, 0]]);
    expect(walk(4, 16)).toEqual([[0, 0], [1, 0], [1, 1], [0, 1], [0, 2], [0, 3], [1, 3], [1, 2], [2, 2], [2, 3], [3, 3], [3, 2], [3, 1], [2, 1], [2, 0], [3, 0]]);
    expect(walk(8, 16)).toEqual([[0, 0], [0, 1], [1, 1], [1, 0], [2, 0], [3, 0], [3, 1], [2, 1], [2, 2], [3, 2], [3, 3], [2, 3], [1, 3], [1, 2], [0, 2], [0, 3]]);
    expect(d2xy(8, 63)).toEqual([7, 0]);
  });

  it("xy2d inverts d2xy on every index of grids up to 128", () => {
    for (let g = 1; g <= 128; g *= 2) {
      for (let i = 0; i < g * g; i++) {
        const [x, y] = d2xy(g, i);
        expect(xy2d(g, x, y)).toBe(i);
      }
    }
  });
});

describe("HilbertRows (block tables)", () => {
  it("gives xy2d for every pixel of grids up to 512", () => {
    for (let g = 1; g <= 512; g *= 2) {
      const rows = new HilbertRows(g);
      const idx = new Int32Array(g);
      let mismatches = 0;
      for (let y = 0; y < g; y++) {
        rows.row(y, idx);
        for (let x = 0; x < g; x++) if (idx[x] !== xy2d(g, x, y)) mismatches++;
      }
      expect(mismatches, `grid ${g}`).toBe(0);
    }
  });

  it("agrees with d2xy at sampled indices of an 8192 grid, rows in any order", () => {
    const g = 8192;
    const rows = new HilbertRows(g);
    const idx = new Int32Array(g);
    let seed = 12345;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) % (g * g));
    for (let k = 0; k < 2000; k++) {
      const i = rand();
      const [x, y] = d2xy(g, i);
      rows.row(y, idx);
      expect(idx[x]).toBe(i);
    }
  });

  it("refuses a grid that is not a power of two", () => {
    expect(() => new HilbertRows(12)).toThrow(/power of two/);
  });
});

describe("grid size rules (spec §2.2)", () => {
  const table: [number, number, number][] = [
    [0, 1, 1], [1, 4, 1], [4, 4, 1], [5, 4, 2], [16, 4, 2], [17, 4, 4], [64, 4, 4], [65, 8, 8], [256, 8, 8],
    [257, 16, 16], [1024, 16, 16], [1025, 32, 32], [4096, 32, 32], [4097, 64, 64], [16384, 64, 64], [1_000_003, 512, 512], [20_000_000, 4096, 4096],
  ];
  it.each(table)("n=%i → current %i, older %i", (n, current, older) => {
    expect(gridSizeFor(n, "current")).toBe(current);
    expect(gridSizeFor(n, "older")).toBe(older);
  });
});
