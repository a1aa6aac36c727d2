/**
 * The largest grid the agent decodes, encodes and publishes: PIXELRTS_MAX_GRID, a power of two
 * from 8192 (the spec's floor: every decoder handles 8192x8192) to 32768 (4 GiB payloads, the
 * most the streaming codec supports); default 32768. Larger grids are E_TOO_LARGE before any
 * pixel is read or written.
 */
import { MAX_GRID_LIMIT } from "../../shared/container/decode.js";
import { MIN_MAX_GRID, parseMaxGrid } from "../../shared/container/head.js";
import { fail } from "../../shared/errors.js";

export function maxGridFromEnv(env: Record<string, string | undefined> = process.env): number {
  const text = env.PIXELRTS_MAX_GRID;
  return parseMaxGrid(text) ?? fail("E_CONFIG", `PIXELRTS_MAX_GRID must be a power of two from ${MIN_MAX_GRID} to ${MAX_GRID_LIMIT}, got ${JSON.stringify(text?.trim())}`);
}

/** Largest payload a grid of side `maxGrid` holds (4·G² bytes). */
export function maxPayloadBytes(maxGrid: number): number {
  return 4 * maxGrid * maxGrid;
}
