/**
 * Tile positions on the console's grid, persisted in the config dir (`serve-layout.json`), so a
 * tile stays where it was dragged across catalog refreshes and serve restarts.
 *
 * Rules, as the original catalog server's layout manager had them: an entry without a position
 * gets the first free cell in row-major order over 10 columns (and keeps it: it is saved); a
 * move onto an occupied cell swaps the two entries. Positions of entries that left the catalog
 * are kept, so they come back where they were.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "../fsutil/index.js";

export interface Position {
  x: number;
  y: number;
}

export const LAYOUT_FILE = "serve-layout.json";
export const LAYOUT_COLUMNS = 10;
/** Grid bounds accepted from clients. */
export const MAX_X = 999;
export const MAX_Y = 99_999;
/** Positions remembered at most (the oldest unknown ones are forgotten past it). */
const MAX_POSITIONS = 100_000;

interface LayoutFile {
  version: 1;
  positions: Record<string, Position>;
}

const key = (p: Position) => `${p.x},${p.y}`;

export function isPosition(v: unknown): v is Position {
  const p = v as Position;
  return typeof p === "object" && p !== null && Number.isInteger(p.x) && Number.isInteger(p.y) && p.x >= 0 && p.y >= 0 && p.x <= MAX_X && p.y <= MAX_Y;
}

export class LayoutStore {
  private readonly positions = new Map<string, Position>();
  private readonly occupied = new Map<string, string>();
  private saving: Promise<void> = Promise.resolve();
  private dirty = false;

  private constructor(readonly file: string) {}

  /** Loads the saved layout; a missing or unreadable file starts empty (and says why, once). */
  static async open(configDir: string, warn: (message: string) => void = () => {}): Promise<LayoutStore> {
    const store = new LayoutStore(join(configDir, LAYOUT_FILE));
    let text: string | undefined;
    try {
      text = await readFile(store.file, "utf8");
    } catch {
      return store;
    }
    try {
      const doc = JSON.parse(text) as LayoutFile;
      if (doc.version !== 1 || typeof doc.positions !== "object" || doc.positions === null) throw new Error("not a layout file");
      for (const [id, p] of Object.entries(doc.positions)) if (isPosition(p) && !store.occupied.has(key(p))) store.set(id, { x: p.x, y: p.y });
    } catch (e) {
      warn(`${store.file} is not a layout file (${(e as Error).message}); starting with an empty layout`);
    }
    return store;
  }

  get(id: string): Position | undefined {
    return this.positions.get(id);
  }

  get size(): number {
    return this.positions.size;
  }

  private set(id: string, p: Position): void {
    const old = this.positions.get(id);
    if (old && this.occupied.get(key(old)) === id) this.occupied.delete(key(old));
    this.positions.set(id, p);
    this.occupied.set(key(p), id);
  }

  /** Gives every id without a position the first free cell; true when any was added (then `save`). */
  assign(ids: Iterable<string>): boolean {
    let cursor = 0;
    let added = false;
    for (const id of ids) {
      if (this.positions.has(id)) continue;
      while (this.occupied.has(`${cursor % LAYOUT_COLUMNS},${Math.floor(cursor / LAYOUT_COLUMNS)}`)) cursor++;
      this.set(id, { x: cursor % LAYOUT_COLUMNS, y: Math.floor(cursor / LAYOUT_COLUMNS) });
      added = true;
    }
    if (added) {
      this.dirty = true;
      this.trim();
    }
    return added;
  }

  /** Moves `id` to `to`; whoever was there takes `id`'s old cell. */
  move(id: string, to: Position): { position: Position; swapped: { entry_id: string; position: Position } | null } {
    const from = this.positions.get(id);
    const other = this.occupied.get(key(to));
    let swapped: { entry_id: string; position: Position } | null = null;
    if (other !== undefined && other !== id) {
      this.occupied.delete(key(to));
      if (from) {
        this.set(other, from);
        swapped = { entry_id: other, position: from };
      } else {
        this.positions.delete(other);
      }
    }
    this.set(id, { x: to.x, y: to.y });
    this.dirty = true;
    return { position: { x: to.x, y: to.y }, swapped };
  }

  private trim(): void {
    const extra = this.positions.size - MAX_POSITIONS;
    if (extra <= 0) return;
    let n = 0;
    for (const [id, p] of this.positions) {
      if (n++ >= extra) break;
      this.positions.delete(id);
      this.occupied.delete(key(p));
    }
  }

  /** Writes the layout if it changed (atomically; saves are serialised). */
  save(): Promise<void> {
    this.saving = this.saving.catch(() => {}).then(async () => {
      if (!this.dirty) return;
      this.dirty = false;
      const doc: LayoutFile = { version: 1, positions: Object.fromEntries(this.positions) };
      try {
        await writeFileAtomic(this.file, JSON.stringify(doc));
      } catch (e) {
        this.dirty = true;
        throw e;
      }
    });
    return this.saving;
  }
}
