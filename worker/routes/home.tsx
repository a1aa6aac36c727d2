/** @jsxImportSource hono/jsx */
/**
 * The pages a person opens (hono/jsx: every value escaped by construction):
 *   GET /                          for `Accept: text/html`, the merged catalog page (worker/pages/home.tsx)
 *                                  with `q`, `distro`, `arch`, `type`, `sort=name|date`, `page`; JSON
 *                                  links to the API for anything else
 *   GET /containers/{name}         one of this Worker's containers (worker/pages/detail.tsx)
 *   GET /sources/{source}/{id}     an entry of a remote server, from the cached merged catalog
 *
 * The list is the merged catalog's own query code (routes/remote.ts planMerge over the D1 index
 * and the remote caches). Storage calls: the remote cache read (only for sources not fresh in
 * this isolate), the index version (one D1 read), then, unless the Cache API holds the page
 * rendered for that version, one D1 batch (counts, the page's rows, the filter values).
 */
import { type Context, Hono } from "hono";
import { type CatalogEntry, tagWithSource } from "../../shared/catalog";
import { indexEtag } from "../catalog/etag";
import { readIndexVersion, rowStatement, type IndexQuery } from "../db/read";
import { type EntryRow, entryFromRow } from "../db/rows";
import { httpFail } from "../errors";
import { DetailPage } from "../pages/detail";
import { HomePage, type PageQuery } from "../pages/home";
import { document } from "../pages/layout";
import { isValidName } from "../storage/layout";
import { localSource } from "../storage/store";
import { preconditions } from "./catalog";
import { planMerge, remotesFor, sourceStatuses } from "./remote";

export const homeRoutes = new Hono<{ Bindings: Env }>();

export const PAGE_SIZE = 24;
const CACHE_HTML = "public, max-age=0, must-revalidate";

const text = (v: string | null, max: number) => (v ?? "").trim().slice(0, max);

/** The page's query, leniently: a bad value is dropped (a page is for people, not a contract). */
export function parsePageQuery(url: URL): PageQuery {
  const p = url.searchParams;
  const page = Number(p.get("page") ?? "1");
  return {
    q: text(p.get("q"), 200),
    distro: text(p.get("distro"), 100),
    arch: text(p.get("arch"), 100),
    type: text(p.get("type"), 100),
    sort: p.get("sort") === "date" ? "date" : "name",
    page: Number.isSafeInteger(page) && page >= 1 && page <= 100_000 ? page : 1,
  };
}

function htmlResponse(body: string | ReadableStream | null, etag: string, status = 200): Response {
  return new Response(body, { status, headers: { "Content-Type": "text/html; charset=utf-8", "Cache-Control": CACHE_HTML, ETag: etag, Vary: "Accept, Accept-Encoding" } });
}

/** The Cache API's default cache, where there is one (none in some local modes and on workers.dev it does nothing). */
function pageCache(): Cache | null {
  try {
    return (globalThis as unknown as { caches?: { default?: Cache } }).caches?.default ?? null;
  } catch {
    return null;
  }
}

function waitUntil(c: Context, p: Promise<unknown>): void {
  try {
    c.executionCtx.waitUntil(p);
  } catch {
    // no execution context (app.request in unit tests)
  }
}

homeRoutes.get("/", async (c) => {
  const url = new URL(c.req.url);
  const origin = url.origin;
  if (!/\btext\/html\b/.test(c.req.header("accept") ?? "")) {
    return c.json({ service: "pixelrts-edge", page: `${origin}/`, catalog: `${origin}/api/v1/catalog`, remote_catalog: `${origin}/api/v1/remote/catalog`, health: `${origin}/api/v1/health` });
  }
  const query = parsePageQuery(url);
  const local = localSource(c.env, origin);
  const db = c.env.DB;
  const remotes = await remotesFor(c);
  const version = await readIndexVersion(db);
  const remoteState = remotes.map((r) => [r.result.source.id, r.result.status, r.result.fetchedAt, r.stale]);
  const etag = await indexEtag(version, ["page", origin, local, query, remoteState]);
  const early = preconditions(c, etag);
  if (early) return early;

  // the page rendered for this index version, query and remote state
  const cache = pageCache();
  const cacheKey = new Request(`https://page-cache.pixelrts.invalid/${encodeURIComponent(etag)}`);
  const hit = cache ? await cache.match(cacheKey).catch(() => undefined) : undefined;
  if (hit) return htmlResponse(hit.body, etag);

  const iq: IndexQuery = { filter: { ...(query.q ? { q: query.q } : {}), ...(query.distro ? { distro: query.distro } : {}), ...(query.arch ? { arch: query.arch } : {}), ...(query.type ? { type: query.type } : {}) }, sort: query.sort, thumbnails: true };
  const start = (query.page - 1) * PAGE_SIZE;
  const plan = await planMerge(db, iq, local, remotes, { offset: start, limit: PAGE_SIZE }, true);
  const total = plan.localCount + plan.remote.length;
  const entries: CatalogEntry[] = (plan.first ?? []).slice(0, Math.max(0, plan.localCount - start)).map((row) => {
    const e = tagWithSource(entryFromRow(row, origin, local), local);
    const also = e.sha256 ? plan.alsoFrom.get(e.sha256) : undefined;
    if (also) e.also_from = also;
    return e;
  });
  const remoteFrom = Math.max(0, start - plan.localCount);
  entries.push(...plan.remote.slice(remoteFrom, remoteFrom + (PAGE_SIZE - entries.length)));
  const html = document(
    <HomePage title={local.name} origin={origin} query={query} facets={plan.facets ?? { distro: [], arch: [], type: [] }} sources={sourceStatuses(local, plan, remotes)} entries={entries} total={total} start={start} pageSize={PAGE_SIZE} localId={local.id} />,
  );
  if (cache) waitUntil(c, cache.put(cacheKey, new Response(html, { headers: { "Content-Type": "text/html; charset=utf-8", "Cache-Control": "public, max-age=600" } })).catch(() => {}));
  return htmlResponse(html, etag);
});

homeRoutes.get("/containers/:name", async (c) => {
  const name = c.req.param("name");
  const row = isValidName(name) ? await rowStatement(c.env.DB, name).first<EntryRow>() : null;
  if (!row) httpFail("E_NOT_FOUND", `container ${name.slice(0, 200)} not found`);
  const origin = new URL(c.req.url).origin;
  const local = localSource(c.env, origin);
  const e = entryFromRow(row, origin, local);
  return c.html(document(<DetailPage e={e} origin={origin} catalogName={local.name} local={true} />));
});

homeRoutes.get("/sources/:source/:id", async (c) => {
  const sourceId = c.req.param("source");
  const id = c.req.param("id");
  const origin = new URL(c.req.url).origin;
  const local = localSource(c.env, origin);
  if (sourceId === local.id) return c.redirect(`/containers/${encodeURIComponent(id)}`, 302);
  const remotes = await remotesFor(c);
  const remote = remotes.find((r) => r.result.source.id === sourceId);
  const e = remote?.result.entries.find((x) => x.id === id);
  if (!e) httpFail("E_NOT_FOUND", `no entry ${id.slice(0, 200)} from source ${sourceId.slice(0, 100)}`);
  return c.html(document(<DetailPage e={e} origin={origin} catalogName={local.name} local={false} />));
});
