/**
 * `GET /api/v1/remote/catalog`: this Worker's entries merged with every configured remote
 * server's (REMOTE_SERVERS), fetched in parallel with a per-server timeout and cached
 * stale-while-revalidate (remote/cache.ts). Entries are tagged with their source (`source` and
 * the v1.2 `sourceServer*` fields), filtered (`q`, `distro`, `arch`, `type`, `source`), then
 * de-duplicated by SHA-256 across sources (local first, then config order), then paged
 * (`limit`/`cursor`). `sources[]` reports every server; a failing one never fails the response.
 * `Cache-Control: no-cache` on the request waits for fresh answers from every remote.
 *
 * There is deliberately no byte proxy for remote containers: clients download from each entry's
 * own `url` (so this Worker can never be used to reach anything but the configured catalogs).
 */
import { Hono } from "hono";
import {
  assignPositions,
  CATALOG_SCHEMA_VERSION,
  type CatalogEntry,
  dedupeBySha256,
  filterEntries,
  gridDimensions,
  type RemoteCatalogResponse,
  type SourceStatus,
  tagWithSource,
} from "../../shared/catalog";
import { listCatalog } from "../catalog/list";
import { parseCatalogQuery } from "../catalog/query";
import { inlineThumbnails } from "../catalog/thumbnails";
import { getConfig } from "../config";
import { httpFail } from "../errors";
import { jsonWithEtag } from "../http/json";
import { getRemote } from "../remote/cache";
import type { FetchFn } from "../remote/fetch";
import { localSource } from "../storage/store";

export const remoteRoutes = new Hono<{ Bindings: Env }>();

/** Outbound fetch for remotes (tests answer it through miniflare's outboundService). */
const remoteFetch: FetchFn = (input, init) => fetch(input, init);

function offsetCursor(s: string | null): number {
  if (!s) return 0;
  const m = /^o(\d{1,9})$/.exec(s);
  if (!m) httpFail("E_BAD_CURSOR", "cursor is not one this server issued");
  return Number(m[1]);
}

remoteRoutes.get("/api/v1/remote/catalog", async (c) => {
  const cfg = getConfig(c.env);
  const query = parseCatalogQuery(c.req.url);
  const origin = new URL(c.req.url).origin;
  const local = localSource(c.env, origin);
  // Only an explicit no-cache waits for the remotes: browsers send max-age=0 on every reload.
  const noCache = /no-cache/i.test(c.req.header("cache-control") ?? "") || /no-cache/i.test(c.req.header("pragma") ?? "");
  const waitUntil = (p: Promise<unknown>) => {
    try {
      c.executionCtx.waitUntil(p);
    } catch {
      // no execution context (app.request in unit tests): let it run
    }
  };

  const t0 = Date.now();
  const localPage = listCatalog(c.env.BUCKET, { filter: {}, origin, source: local }).then(
    (page) => ({ page, latency: Date.now() - t0, error: null as null | { code: string; message: string } }),
    (e) => ({ page: null, latency: Date.now() - t0, error: { code: "E_LOCAL", message: String((e as Error)?.message ?? e).slice(0, 200) } }),
  );
  const remotes = cfg.remotes.map((source) =>
    getRemote(source, { fetch: remoteFetch, timeoutMs: cfg.remoteTimeoutMs, maxBytes: cfg.remoteMaxBytes }, {
      freshMs: cfg.remoteFreshSeconds * 1000,
      staleMs: cfg.remoteStaleSeconds * 1000,
      noCache,
      waitUntil,
    }),
  );
  const [l, ...rs] = await Promise.all([localPage, ...remotes]);

  const nowIso = new Date().toISOString();
  const localEntries = (l.page?.entries ?? []).map((e) => tagWithSource(e, local));
  const sources: SourceStatus[] = [
    { ...local, status: l.error ? "error" : "ok", local: true, latency_ms: l.latency, count: localEntries.length, error: l.error, fetched_at: nowIso, stale: false },
    ...rs.map(
      ({ result: r, stale }): SourceStatus => ({
        ...r.source,
        status: r.status,
        local: false,
        latency_ms: r.latencyMs,
        count: r.entries.length,
        error: r.error,
        fetched_at: new Date(r.fetchedAt).toISOString(),
        stale,
      }),
    ),
  ];
  // cached entries are shared between requests: copy before positions/also_from are written
  const all: CatalogEntry[] = [...localEntries, ...rs.flatMap(({ result }) => result.entries.map((e) => structuredClone(e)))];
  const merged = dedupeBySha256(filterEntries(all, query.filter));
  const start = offsetCursor(query.cursor);
  const end = query.limit ? start + query.limit : merged.length;
  const page = merged.slice(start, end);
  assignPositions(page, start);
  if (query.thumbnails && l.page) await inlineThumbnails(c.env.BUCKET, page.filter((e) => e.source.id === local.id), l.page.thumbs);

  const body: RemoteCatalogResponse = {
    entries: page,
    grid_dimensions: gridDimensions(page),
    next_cursor: end < merged.length ? `o${end}` : null,
    source: local,
    schema_version: CATALOG_SCHEMA_VERSION,
    sources,
    stale: sources.some((s) => s.stale),
    generated_at: nowIso,
  };
  // the ETag ignores timings, so an unchanged merge revalidates with 304
  const stable = { ...body, generated_at: null, sources: sources.map((s) => ({ ...s, latency_ms: null, fetched_at: s.local ? null : s.fetched_at })) };
  return jsonWithEtag(c, body, "public, max-age=0, must-revalidate", stable);
});
