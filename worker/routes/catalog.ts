/**
 * `GET /api/v1/catalog`: this Worker's containers in the original catalog server's shape plus
 * our fields (shared/catalog.ts), from the D1 index (db/read.ts): `q` (FTS5), `distro`, `arch`,
 * `type`, `source` filters, `sort=name|date`, `limit` + `cursor` keyset pages, inline thumbnails
 * (`thumbnails=0` leaves them out). The answer is streamed row batch by row batch (flat memory
 * for the unpaged catalog at any size). ETag from the index version: a revalidation costs one
 * D1 read. `GET /api/v1/catalog/{id}`: one entry (one D1 read).
 *
 * Storage calls: a page of ≤ 250 entries (≤ 1000 without thumbnails) or a 304 = 1 D1 call; the
 * unpaged catalog = 1 + ceil(N / batch) D1 calls; never an R2 call (docs/WORKER.md, "Limits").
 */
import { type Context, Hono } from "hono";
import { indexEtag } from "../catalog/etag";
import { parseCatalogQuery, type CatalogQuery } from "../catalog/query";
import { catalogStream } from "../catalog/stream";
import { decodeCursor, firstBatchSize, includesLocal, type IndexQuery, readIndexVersion, rowsFrom, rowsStatement, rowStatement, versionStatement } from "../db/read";
import { type EntryRow, entryFromRow } from "../db/rows";
import { httpFail } from "../errors";
import { evaluateConditionals, hasConditionals } from "../http/conditionals";
import { CACHE_CATALOG, jsonWithEtag } from "../http/json";
import { isValidName } from "../storage/layout";
import { localSource } from "../storage/store";
import { serveContainer } from "./containers";

export const catalogRoutes = new Hono<{ Bindings: Env }>();

/** Rows per D1 call while streaming: thumbnails inline are up to ~44 KB a row (≤ ~11 MB a batch). */
export const batchSize = (thumbnails: boolean) => (thumbnails ? 250 : 1000);

const headersFor = (etag: string) => ({ ETag: etag, "Cache-Control": CACHE_CATALOG, Vary: "Accept-Encoding" });

/** 304/412 from the ETag alone, or null to go on. */
export function preconditions(c: Context, etag: string): Response | null {
  const outcome = evaluateConditionals(c.req.raw.headers, { etag }, c.req.method);
  if (outcome === "not-modified") return new Response(null, { status: 304, headers: headersFor(etag) });
  if (outcome === "precondition-failed") httpFail("E_PRECONDITION_FAILED", "precondition failed", { headers: headersFor(etag) });
  return null;
}

export function indexQueryOf(q: CatalogQuery): IndexQuery {
  return { filter: q.filter, sort: q.sort, thumbnails: q.thumbnails };
}

catalogRoutes.get("/api/v1/catalog", async (c) => {
  const query = parseCatalogQuery(c.req.url);
  const origin = new URL(c.req.url).origin;
  const source = localSource(c.env, origin);
  const db = c.env.DB;
  const iq = indexQueryOf(query);
  const cursor = query.cursor ? decodeCursor(query.cursor, query.sort) : null;
  const etagOf = (version: number) => indexEtag(version, ["catalog", origin, source, query]);

  // Revalidations and HEAD need the version only: one D1 read, nothing built.
  if (hasConditionals(c.req.raw.headers) || c.req.method === "HEAD") {
    const etag = await etagOf(await readIndexVersion(db));
    const early = preconditions(c, etag);
    if (early) return early;
    if (c.req.method === "HEAD") return new Response(null, { headers: { ...headersFor(etag), "Content-Type": "application/json; charset=utf-8" } });
  }

  const total = query.limit !== undefined ? query.limit + 1 : Infinity;
  const batch = batchSize(query.thumbnails);
  const stmt = includesLocal(query.filter, source.id) ? rowsStatement(db, iq, cursor, firstBatchSize(total, batch)) : null;
  let version: number;
  let first: EntryRow[] = [];
  if (stmt) {
    // the version and the first rows in one D1 call (one transaction: the ETag names these rows)
    const [v, rows] = await db.batch<unknown>([versionStatement(db), stmt]);
    version = (v!.results[0] as { value: number } | undefined)?.value ?? 0;
    first = rows!.results as EntryRow[];
  } else {
    version = await readIndexVersion(db);
  }
  const etag = await etagOf(version);
  const body = catalogStream({
    rows: stmt ? rowsFrom(db, iq, cursor, total, batch, first) : (async function* () {})(),
    origin,
    source,
    start: cursor?.i ?? 0,
    limit: query.limit ?? null,
    sort: query.sort,
  });
  return new Response(body, { headers: { ...headersFor(etag), "Content-Type": "application/json; charset=utf-8" } });
});

catalogRoutes.get("/api/v1/catalog/:id", async (c) => {
  const id = c.req.param("id");
  const row = isValidName(id) ? await rowStatement(c.env.DB, id).first<EntryRow>() : null;
  if (!row) httpFail("E_NOT_FOUND", `container ${id.slice(0, 200)} not found`);
  const origin = new URL(c.req.url).origin;
  return jsonWithEtag(c, entryFromRow(row, origin, localSource(c.env, origin)));
});

/** v1.2 client: the bytes of a catalog entry (same semantics as /api/v1/containers/{id}). */
catalogRoutes.get("/api/v1/catalog/:id/data", (c) => serveContainer(c, c.req.param("id")));
