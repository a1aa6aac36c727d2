/**
 * The original catalog server's read and layout routes, served from the merged view:
 *
 *   GET  /api/v1/catalog                  {entries, grid_dimensions, next_cursor, source, schema_version, sources}
 *   GET  /api/v1/catalog/{id}             one entry
 *   GET  /api/v1/catalog/{id}/data        the container's bytes (pulled first when not cached)
 *   GET  /api/container/{id}/download     the same (the v1.2 client's name)
 *   GET  /api/v1/catalog/{id}/thumbnail   PNG
 *   GET|POST /api/v1/catalog/refresh      {success, entries_count, message, sources}
 *   POST /api/v1/catalog/layout           {entry_id, new_position:{x,y}} → {success, entry_id, position, swapped_with}
 *   POST /api/v1/catalog/layout/batch     {updates:[…]} → {success, updated, results}
 *   POST /api/v1/catalog/{id}/layout      {gridX, gridY} (an earlier CatalogBridge) → as /layout
 */
import { CATALOG_SCHEMA_VERSION, parseCatalogFilter } from "../../../shared/catalog.js";
import type { Context } from "hono";
import { fileResponse } from "../bytes.js";
import type { Item } from "../catalog-view.js";
import { httpFail } from "../errors.js";
import type { Position } from "../layout.js";
import { requestTrust } from "../security.js";
import type { ServeApp, ServeState } from "../state.js";
import { inlineThumbnail } from "../thumbnails.js";
import { checkEntryId, layoutUpdate, onlyKeys, positionOf, readJsonObject, type LayoutUpdate } from "../validate.js";

const MAX_BATCH = 1000;

export function originOf(c: Context): string {
  return `http://${c.req.header("host")}`;
}

/** The entry `id` names, after the first merge; 404 when there is none. */
export async function itemOr404(s: ServeState, id: string): Promise<Item> {
  checkEntryId(id);
  await s.view.ready();
  return s.view.find(id) ?? httpFail("E_NOT_FOUND", `no catalog entry ${id} (GET /api/v1/catalog lists them; POST /api/v1/catalog/refresh looks again)`, { id });
}

export function catalogRoutes(app: ServeApp, s: ServeState): void {
  app.get("/api/v1/catalog", async (c) => {
    await s.view.ready();
    s.view.revalidate();
    const origin = originOf(c);
    const { body, etag } = s.view.catalogJson(origin, parseCatalogFilter(new URL(c.req.url).searchParams), { source: s.source(origin), schema_version: CATALOG_SCHEMA_VERSION });
    const headers = { etag, "cache-control": "no-cache", "content-type": "application/json; charset=utf-8" };
    if (c.req.header("if-none-match") === etag) return new Response(null, { status: 304, headers });
    return new Response(c.req.method === "HEAD" ? null : body, { headers });
  });

  const refresh = async (c: Context) => {
    if (c.req.method === "POST") onlyKeys(await readJsonObject(c, { allowEmpty: true }), []);
    const r = await s.view.refresh();
    const servers = r.sources.filter((x) => x.id !== "cache");
    const failed = servers.filter((x) => x.status !== "ok");
    return c.json({
      success: true,
      entries_count: r.entries,
      message: `${r.entries} containers: ${servers.length} server${servers.length === 1 ? "" : "s"} asked${failed.length ? ` (${failed.map((f) => `${f.name}: ${f.error?.code ?? f.status}`).join(", ")})` : ""}, ${r.sources.find((x) => x.id === "cache")?.entries ?? 0} cached here`,
      sources: r.sources,
    });
  };
  app.get("/api/v1/catalog/refresh", refresh);
  app.post("/api/v1/catalog/refresh", refresh);

  const move = async (updates: LayoutUpdate[]) => {
    await s.view.ready();
    for (const u of updates) if (!s.view.find(u.entry_id)) httpFail("E_NOT_FOUND", `Entry not found: ${u.entry_id}`, { id: u.entry_id });
    const results = updates.map((u) => ({ entry_id: u.entry_id, ...s.layout.move(u.entry_id, u.position) }));
    await s.layout.save();
    s.view.positionsChanged();
    s.bus.publish("catalog", { reason: "layout", entries_count: s.view.all().length, moved: results.flatMap((r) => [{ entry_id: r.entry_id, position: r.position }, ...(r.swapped ? [r.swapped] : [])]) });
    return results;
  };
  app.post("/api/v1/catalog/layout/batch", async (c) => {
    const body = await readJsonObject(c);
    onlyKeys(body, ["updates"]);
    if (!Array.isArray(body.updates) || body.updates.length > MAX_BATCH) httpFail("E_BAD_REQUEST", `updates must be an array of at most ${MAX_BATCH} moves`);
    const updates = (body.updates as unknown[]).map((u, i) => layoutUpdate(u, `updates[${i}]`));
    const results = await move(updates);
    return c.json({ success: true, updated: results.length, results: results.map((r) => ({ entry_id: r.entry_id, position: r.position, swapped_with: r.swapped })) });
  });
  app.post("/api/v1/catalog/layout", async (c) => {
    const [r] = await move([layoutUpdate(await readJsonObject(c))]);
    return c.json({ success: true, entry_id: r!.entry_id, position: r!.position as Position, swapped_with: r!.swapped });
  });

  // An earlier CatalogBridge posts one move as {gridX, gridY} (or {x, y}) to the entry's own URL.
  app.post("/api/v1/catalog/:id/layout", async (c) => {
    const id = checkEntryId(c.req.param("id"));
    const body = await readJsonObject(c);
    onlyKeys(body, ["gridX", "gridY", "x", "y", "worldX", "worldY"]);
    const [r] = await move([{ entry_id: id, position: positionOf(body, "the body") }]);
    return c.json({ success: true, entry_id: r!.entry_id, position: r!.position as Position, swapped_with: r!.swapped });
  });

  app.get("/api/v1/catalog/:id", async (c) => {
    const item = await itemOr404(s, c.req.param("id"));
    return c.json(s.view.consoleEntry(item, originOf(c)));
  });

  app.get("/api/v1/catalog/:id/thumbnail", async (c) => {
    const item = await itemOr404(s, c.req.param("id"));
    let png: Uint8Array | undefined;
    if (item.cache) png = await s.thumbs.get(item.cache.sha256, s.agent.cache.blobPath(item.cache.sha256));
    else png = inlineThumbnail(item.entry.thumbnail);
    if (!png) httpFail("E_NOT_FOUND", `${item.entry.id} has no thumbnail here${item.entry.thumbnail_url ? ` (its source has one: ${item.entry.thumbnail_url})` : ""}`);
    return new Response(new Uint8Array(png), { headers: { "content-type": "image/png", "cache-control": "private, max-age=3600", "x-content-type-options": "nosniff" } });
  });

  const bytes = async (c: Context) => {
    const item = await itemOr404(s, c.req.param("id")!);
    const sha = item.cache?.sha256 ?? item.entry.sha256;
    const cached = sha ? await s.agent.cache.get(sha) : undefined;
    if (cached) {
      const release = await s.agent.cache.acquireUse(cached.sha256);
      return fileResponse(c, { path: s.agent.cache.blobPath(cached.sha256), sha256: cached.sha256, size: cached.size, name: item.entry.name }, release);
    }
    // Not here yet: fetch it first (the pull is seen on the events stream like any other), unless
    // a page of another origin asked (reading is for everyone, fetching is not) or it is a HEAD.
    if (c.req.method === "HEAD") httpFail("E_NOT_CACHED", `${item.entry.id} is not cached here; a GET fetches it first`);
    if (requestTrust(c).foreignOrigin) httpFail("E_FORBIDDEN_ORIGIN", `${item.entry.id} is not cached here, and a page of another origin may not make this host fetch it (--allow-origin)`);
    const got = await s.pulls.start(item, { hold: true }).done;
    return fileResponse(c, { path: got.path, sha256: got.sha256, size: got.size, name: item.entry.name }, got.release);
  };
  app.on(["GET", "HEAD"], "/api/v1/catalog/:id/data", bytes);
  app.on(["GET", "HEAD"], "/api/container/:id/download", bytes);
}
