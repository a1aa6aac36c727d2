/**
 * Catalog JSON written entry by entry from index rows as they arrive (flat memory at any size):
 *
 *   {"entries":[…],"grid_dimensions":{…},"next_cursor":…,"source":{…},"schema_version":1}
 *
 * `grid_dimensions` and `next_cursor` come after the entries because they depend on how many
 * there were (JSON member order means nothing to clients). Positions follow listing order
 * (x = i mod 10, y = i div 10) from the page's start, as the original server assigns them.
 */
import { CATALOG_SCHEMA_VERSION, type CatalogEntry, type SourceInfo } from "../../shared/catalog";
import { type Cursor, cursorAfter, encodeCursor, type SortKey } from "../db/read";
import { type EntryRow, entryFromRow } from "../db/rows";

export interface StreamOptions {
  rows: AsyncIterable<EntryRow>;
  origin: string;
  source: SourceInfo;
  /** Position of the first entry (a page's cursor index). */
  start: number;
  /** Page size: `rows` yields up to limit + 1 rows, the extra one only says there is a next page. */
  limit: number | null;
  sort: SortKey;
  /** Entries appended after the rows (the merged catalog's remote part), already filtered. */
  extra?: AsyncIterable<CatalogEntry> | Iterable<CatalogEntry>;
  /** Final touches per entry built from a row (the merged catalog's source tags and also_from). */
  map?: (e: CatalogEntry) => CatalogEntry;
  /** Extra top-level members written at the end (the merged catalog's sources, stale...). */
  tail?: () => Record<string, unknown>;
  /** A next cursor for pages that continue past `extra` (offset cursors of the merged view). */
  nextCursor?: (count: number) => string | null;
}

const FLUSH_AT = 64 * 1024;

export function catalogStream(o: StreamOptions): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  const gen = (async function* (): AsyncGenerator<string> {
    let buf = '{"entries":[';
    let i = o.start;
    let mx = -1;
    let my = -1;
    let last: EntryRow | null = null;
    let more = false;
    const push = (e: CatalogEntry) => {
      e.position = { x: i % 10, y: Math.floor(i / 10) };
      mx = Math.max(mx, e.position.x);
      my = Math.max(my, e.position.y);
      buf += (i > o.start ? "," : "") + JSON.stringify(e);
      i++;
    };
    for await (const row of o.rows) {
      if (o.limit !== null && i - o.start >= o.limit) {
        more = true;
        break;
      }
      const e = entryFromRow(row, o.origin, o.source);
      push(o.map ? o.map(e) : e);
      last = row;
      if (buf.length >= FLUSH_AT) {
        yield buf;
        buf = "";
      }
    }
    if (o.extra) {
      for await (const e of o.extra) {
        push(e);
        if (buf.length >= FLUSH_AT) {
          yield buf;
          buf = "";
        }
      }
    }
    const count = i - o.start;
    const grid = count === 0 ? { width: 4, height: 4 } : { width: mx + 2, height: my + 2 };
    let next: string | null = null;
    if (o.nextCursor) next = o.nextCursor(count);
    else if (more && last) next = encodeCursor(cursorAfter(o.sort, last, i) as Cursor);
    const members: Record<string, unknown> = { grid_dimensions: grid, next_cursor: next, source: o.source, schema_version: CATALOG_SCHEMA_VERSION, ...(o.tail ? o.tail() : {}) };
    buf += "]";
    for (const [k, v] of Object.entries(members)) buf += `,${JSON.stringify(k)}:${JSON.stringify(v)}`;
    yield `${buf}}`;
  })();
  return new ReadableStream<Uint8Array>(
    {
      async pull(ctrl) {
        try {
          const r = await gen.next();
          if (r.done) ctrl.close();
          else ctrl.enqueue(enc.encode(r.value));
        } catch (e) {
          console.error("catalog stream failed", e);
          ctrl.error(e);
        }
      },
      async cancel() {
        await gen.return(undefined);
      },
    },
    { highWaterMark: 0 },
  );
}
