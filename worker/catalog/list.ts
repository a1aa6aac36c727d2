/**
 * Builds this Worker's catalog from the live `containers/` pointers in R2 (tombstones of deleted
 * names are skipped), following R2's list pages. Filters are applied while listing, so a page
 * holds up to `limit` matches; the cursor is opaque (last key + position of the next entry),
 * stable under inserts.
 */
import { type CatalogEntry, type CatalogFilter, type SignatureSummaryEntry, type SourceInfo, isEmptyFilter, matchesFilter } from "../../shared/catalog";
import { summaryOf } from "../trust/store";
import { httpFail } from "../errors";
import { PREFIX } from "../storage/layout";
import { pointerRecord } from "../storage/store";
import { entryFromRecord } from "./entry";

export interface ListOptions {
  filter: CatalogFilter;
  /** Max entries; undefined = all (what original clients expect). */
  limit?: number;
  cursor?: string | null;
  origin: string;
  source: SourceInfo;
}

export interface ListResult {
  entries: CatalogEntry[];
  nextCursor: string | null;
  /** Position index of the first entry (for `position`). */
  start: number;
  /** Entry id → thumbnail id, for entries that have a thumbnail. */
  thumbs: Map<string, string>;
}

interface Cursor {
  k: string;
  i: number;
}

function b64url(s: string): string {
  return btoa(String.fromCharCode(...new TextEncoder().encode(s))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function unb64url(s: string): string {
  const bin = atob(s.replace(/-/g, "+").replace(/_/g, "/"));
  return new TextDecoder().decode(Uint8Array.from(bin, (ch) => ch.charCodeAt(0)));
}

export function encodeCursor(c: Cursor): string {
  return b64url(JSON.stringify(c));
}

export function decodeCursor(s: string): Cursor {
  try {
    const c = JSON.parse(unb64url(s)) as Cursor;
    if (typeof c.k === "string" && c.k.startsWith(PREFIX.containers) && Number.isSafeInteger(c.i) && c.i >= 0) return c;
  } catch {
    // fall through
  }
  httpFail("E_BAD_CURSOR", "cursor is not one this server issued");
}

/** Every stored signature, summarised per blob (one listing of `signatures/`, following its pages). */
async function allSignatureSummaries(bucket: R2Bucket): Promise<Map<string, SignatureSummaryEntry[]>> {
  const out = new Map<string, SignatureSummaryEntry[]>();
  let cursor: string | undefined;
  for (;;) {
    const page: R2Objects = await bucket.list({ prefix: PREFIX.signatures, limit: 1000, include: ["customMetadata"], ...(cursor ? { cursor } : {}) });
    for (const o of page.objects) {
      const hex = o.key.slice(PREFIX.signatures.length).split("/")[0]!;
      const list = out.get(hex) ?? [];
      list.push(summaryOf(o));
      out.set(hex, list);
    }
    if (!page.truncated) return out;
    cursor = page.cursor;
  }
}

export async function listCatalog(bucket: R2Bucket, o: ListOptions): Promise<ListResult> {
  const sigs = await allSignatureSummaries(bucket);
  const cur = o.cursor ? decodeCursor(o.cursor) : null;
  const start = cur?.i ?? 0;
  const want = o.limit ?? Infinity;
  const entries: CatalogEntry[] = [];
  const thumbs = new Map<string, string>();
  let lastKey: string | null = null;
  let more = false;
  let r2cursor: string | undefined;
  const filtered = !isEmptyFilter(o.filter);
  outer: for (;;) {
    const page: R2Objects = await bucket.list({
      prefix: PREFIX.containers,
      limit: 1000,
      include: ["customMetadata"],
      ...(r2cursor ? { cursor: r2cursor } : cur ? { startAfter: cur.k } : {}),
    });
    for (const obj of page.objects) {
      const rec = pointerRecord(obj.customMetadata);
      if (!rec) continue;
      const name = obj.key.slice(PREFIX.containers.length);
      const entry = entryFromRecord(name, rec, o.origin, o.source, obj.uploaded, sigs.get(rec.sha256) ?? []);
      if (filtered && !matchesFilter(entry, o.filter)) continue;
      if (entries.length >= want) {
        more = true;
        break outer;
      }
      entries.push(entry);
      if (rec.thumb) thumbs.set(name, rec.thumb);
      lastKey = obj.key;
    }
    if (!page.truncated) break;
    r2cursor = page.cursor;
  }
  return { entries, start, thumbs, nextCursor: more && lastKey ? encodeCursor({ k: lastKey, i: start + entries.length }) : null };
}
