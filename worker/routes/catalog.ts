/**
 * `GET /api/v1/catalog`: this Worker's containers in the original catalog server's shape plus
 * our fields (shared/catalog.ts), with `q`/`distro`/`arch`/`type`/`source` filters, `limit` +
 * `cursor` pages, inline thumbnails, ETag and 304. `GET /api/v1/catalog/{id}`: one entry.
 */
import { Hono } from "hono";
import { assignPositions, CATALOG_SCHEMA_VERSION, type CatalogResponse, gridDimensions } from "../../shared/catalog";
import { entryFromRecord } from "../catalog/entry";
import { listCatalog } from "../catalog/list";
import { parseCatalogQuery } from "../catalog/query";
import { inlineThumbnails } from "../catalog/thumbnails";
import { httpFail } from "../errors";
import { jsonWithEtag } from "../http/json";
import { isValidName } from "../storage/layout";
import { localSource, readPointer } from "../storage/store";
import { listSignatureObjects, summaryOf } from "../trust/store";
import { serveContainer } from "./containers";

export const catalogRoutes = new Hono<{ Bindings: Env }>();

catalogRoutes.get("/api/v1/catalog", async (c) => {
  const query = parseCatalogQuery(c.req.url);
  const origin = new URL(c.req.url).origin;
  const source = localSource(c.env, origin);
  const page = await listCatalog(c.env.BUCKET, { filter: query.filter, limit: query.limit, cursor: query.cursor, origin, source });
  assignPositions(page.entries, page.start);
  if (query.thumbnails) await inlineThumbnails(c.env.BUCKET, page.entries, page.thumbs);
  const body: CatalogResponse = {
    entries: page.entries,
    grid_dimensions: gridDimensions(page.entries),
    next_cursor: page.nextCursor,
    source,
    schema_version: CATALOG_SCHEMA_VERSION,
  };
  return jsonWithEtag(c, body);
});

catalogRoutes.get("/api/v1/catalog/:id", async (c) => {
  const id = c.req.param("id");
  const pointer = isValidName(id) ? await readPointer(c.env.BUCKET, id) : null;
  if (!pointer) httpFail("E_NOT_FOUND", `container ${id.slice(0, 200)} not found`);
  const origin = new URL(c.req.url).origin;
  const sigs = (await listSignatureObjects(c.env.BUCKET, pointer.target.sha256)).map(summaryOf);
  const entry = entryFromRecord(id, pointer.record, origin, localSource(c.env, origin), pointer.uploaded, sigs);
  if (pointer.record.thumb) await inlineThumbnails(c.env.BUCKET, [entry], new Map([[id, pointer.record.thumb]]));
  return jsonWithEtag(c, entry);
});

/** v1.2 client: the bytes of a catalog entry (same semantics as /api/v1/containers/{id}). */
catalogRoutes.get("/api/v1/catalog/:id/data", (c) => serveContainer(c, c.req.param("id")));
