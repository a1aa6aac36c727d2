/**
 * Reading the D1 catalog index: the one query code behind `GET /api/v1/catalog`, the merged
 * catalog's local part and the page at `/`. Filters map to indexed columns (distro, arch, type:
 * case-insensitive; arch through its aliases), `q` to an FTS5 prefix match over name,
 * description, distro, arch and kernel version (every word must match), pages to keyset
 * conditions on the sort columns (never OFFSET), so a page costs the same at any depth.
 * Every value reaches SQL as a bound parameter.
 */
import { type CatalogFilter, normalizeArch } from "../../shared/catalog";
import { httpFail } from "../errors";
import { isValidName } from "../storage/layout";
import { ENTRY_COLUMNS, type EntryRow, SIGS_COLUMN } from "./rows";

export type SortKey = "name" | "date";

export interface IndexQuery {
  filter: CatalogFilter;
  sort: SortKey;
  /** Include `thumb_inline` (the inline thumbnails). */
  thumbnails: boolean;
}

/** Where a page starts: after the row (`name`, `ms`) that ended the previous one, at position `i`. */
export interface Cursor {
  sort: SortKey;
  name: string;
  ms: number;
  i: number;
}

const b64url = (s: string) => btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

export function encodeCursor(c: Cursor): string {
  return b64url(JSON.stringify([c.sort === "date" ? "d" : "n", c.i, c.name, c.ms]));
}

/** A cursor this server issued, checked field by field (400 E_BAD_CURSOR otherwise). */
export function decodeCursor(s: string, sort: SortKey): Cursor {
  try {
    if (s.length > 400 || !/^[A-Za-z0-9_-]+$/.test(s)) throw new Error();
    const a = JSON.parse(atob(s.replace(/-/g, "+").replace(/_/g, "/"))) as unknown;
    if (Array.isArray(a) && a.length === 4) {
      const [k, i, name, ms] = a as [unknown, unknown, unknown, unknown];
      const kind: SortKey = k === "d" ? "date" : "name";
      if ((k === "n" || k === "d") && kind === sort && Number.isSafeInteger(i) && (i as number) >= 0 && typeof name === "string" && isValidName(name) && Number.isSafeInteger(ms)) {
        return { sort, i: i as number, name, ms: ms as number };
      }
    }
  } catch {
    // fall through
  }
  httpFail("E_BAD_CURSOR", "cursor is not one this server issued (for this sort order)");
}

/**
 * The FTS5 expression for `q`: each word a quoted prefix phrase (quotes doubled), all required.
 * Words without a letter or digit are dropped; null when none is left (the search matches nothing).
 */
export function ftsExpression(q: string): string | null {
  const words = q
    .split(/\s+/)
    .filter((w) => /[\p{L}\p{N}]/u.test(w))
    .slice(0, 8)
    .map((w) => `"${w.slice(0, 64).replace(/"/g, '""')}"*`);
  return words.length ? words.join(" ") : null;
}

interface Where {
  sql: string;
  params: unknown[];
  /** The filter can match nothing (a `q` without words). */
  none: boolean;
}

function whereOf(q: IndexQuery, after: Cursor | null): Where {
  const conds = ["e.live = 1"];
  const params: unknown[] = [];
  const f = q.filter;
  if (f.distro) {
    conds.push("e.distro = ? COLLATE NOCASE");
    params.push(f.distro.trim());
  }
  if (f.arch) {
    conds.push("e.arch_norm = ?");
    params.push(normalizeArch(f.arch));
  }
  if (f.type) {
    conds.push("e.type = ? COLLATE NOCASE");
    params.push(f.type.trim());
  }
  let none = false;
  if (f.q) {
    const expr = ftsExpression(f.q);
    if (expr === null) none = true;
    else {
      conds.push("e.rowid IN (SELECT rowid FROM entries_fts WHERE entries_fts MATCH ?)");
      params.push(expr);
    }
  }
  if (after) {
    if (q.sort === "date") {
      conds.push("(e.published_ms < ? OR (e.published_ms = ? AND e.name > ?))");
      params.push(after.ms, after.ms, after.name);
    } else {
      conds.push("e.name > ?");
      params.push(after.name);
    }
  }
  return { sql: conds.join(" AND "), params, none };
}

const ORDER: Record<SortKey, string> = { name: "e.name", date: "e.published_ms DESC, e.name" };

/** Does `filter.source` leave this Worker's own entries in? */
export function includesLocal(f: CatalogFilter, localId: string): boolean {
  if (!f.source) return true;
  const wanted = f.source.split(",").map((s) => s.trim().toLowerCase()).filter(Boolean);
  return !wanted.length || wanted.includes(localId.toLowerCase());
}

export const VERSION_SQL = "SELECT value FROM meta WHERE key = 'version'";

export function versionStatement(db: D1Database): D1PreparedStatement {
  return db.prepare(VERSION_SQL);
}

export async function readIndexVersion(db: D1Database): Promise<number> {
  return (await versionStatement(db).first<number>("value")) ?? 0;
}

/**
 * Rows of one page: at most `limit` rows after `after` (or, for the merged catalog's offset
 * pages, after skipping `offset` rows); null when the filter matches nothing.
 */
export function rowsStatement(db: D1Database, q: IndexQuery, after: Cursor | null, limit: number, offset = 0): D1PreparedStatement | null {
  const w = whereOf(q, after);
  if (w.none) return null;
  const cols = `${ENTRY_COLUMNS}, ${q.thumbnails ? "e.thumb_inline" : "NULL AS thumb_inline"}, ${SIGS_COLUMN}`;
  return db.prepare(`SELECT ${cols} FROM entries e WHERE ${w.sql} ORDER BY ${ORDER[q.sort]} LIMIT ? OFFSET ?`).bind(...w.params, limit, offset);
}

/** Which of `shas` the filtered local catalog holds (the merged catalog's de-duplication). */
export function localShasStatement(db: D1Database, q: IndexQuery, shas: readonly string[]): D1PreparedStatement | null {
  const w = whereOf(q, null);
  if (w.none || !shas.length) return null;
  return db.prepare(`SELECT DISTINCT e.sha256 FROM entries e WHERE ${w.sql} AND e.sha256 IN (SELECT value FROM json_each(?))`).bind(...w.params, JSON.stringify(shas));
}

export function liveCountStatement(db: D1Database): D1PreparedStatement {
  return db.prepare("SELECT COUNT(*) AS n FROM entries WHERE live = 1");
}

/** How many rows match (for the page at `/`); null when nothing can. */
export function countStatement(db: D1Database, q: IndexQuery): D1PreparedStatement | null {
  const w = whereOf(q, null);
  return w.none ? null : db.prepare(`SELECT COUNT(*) AS n FROM entries e WHERE ${w.sql}`).bind(...w.params);
}

/** One live row by name (with its inline thumbnail and signature summary). */
export function rowStatement(db: D1Database, name: string): D1PreparedStatement {
  return db.prepare(`SELECT ${ENTRY_COLUMNS}, e.thumb_inline, ${SIGS_COLUMN} FROM entries e WHERE e.name = ? AND e.live = 1`).bind(name);
}

/** The cursor that continues after `row`, the entry at position `i - 1`. */
export function cursorAfter(sort: SortKey, row: EntryRow, i: number): Cursor {
  return { sort, name: row.name, ms: row.published_ms ?? 0, i };
}

/** The first batch's size for `rowsFrom` (fetch it with the version in one call). */
export const firstBatchSize = (total: number, batch: number) => Math.min(batch, total);

/**
 * Rows in order from `after`, fetched in batches of `batch` (one D1 call each), at most `total`
 * (Infinity: all). `first` is the first batch (firstBatchSize rows asked for) when the caller
 * already has it, fetched together with the index version in one D1 call. One batch is held at a time.
 */
export async function* rowsFrom(db: D1Database, q: IndexQuery, after: Cursor | null, total: number, batch: number, first?: EntryRow[], offset = 0): AsyncGenerator<EntryRow> {
  let cursor = after;
  let sent = 0;
  let rows = first;
  let asked = firstBatchSize(total, batch);
  for (;;) {
    if (!rows) {
      asked = Math.min(batch, total - sent);
      if (asked <= 0) return;
      const stmt = rowsStatement(db, q, cursor, asked, sent === 0 ? offset : 0);
      if (!stmt) return;
      rows = (await stmt.all<EntryRow>()).results;
    }
    for (const r of rows) {
      yield r;
      sent++;
    }
    const last = rows[rows.length - 1];
    if (rows.length < asked || !last || sent >= total) return; // a short batch is the end
    cursor = cursorAfter(q.sort, last, 0);
    rows = undefined;
  }
}
