/**
 * `GET /api/v1/remote/catalog`: this Worker's entries (from the D1 index) merged with every
 * configured remote server's (REMOTE_SERVERS, cached per source in memory and D1: remote/cache.ts),
 * each tagged with its source (`source` and the v1.2 `sourceServer*` fields), filtered (`q`,
 * `distro`, `arch`, `type`, `source`), de-duplicated by SHA-256 across sources (local first, then
 * config order; losers listed in the winner's `also_from`), then paged (`limit`/`cursor`, offsets).
 * `sources[]` reports every server; a failing one never fails the response. `Cache-Control:
 * no-cache` on the request waits for fresh answers from every remote.
 *
 * Local entries are streamed from the index like `/api/v1/catalog`; remote entries are held
 * (bounded per source by REMOTE_MAX_ENTRIES and REMOTE_THUMBNAIL_BUDGET). Storage calls: one D1
 * read of the remote cache (for sources not fresh in this isolate), one D1 batch (version, local
 * duplicates, counts, first rows), then 1 per batch of local rows; ≤ 1 subrequest per remote, none
 * when fresh. Remote `q` filtering is the shared substring rule (shared/catalog.ts); local uses FTS.
 *
 * There is deliberately no byte proxy for remote containers: clients download from each entry's
 * own `url` (so this Worker can never be used to reach anything but the configured catalogs).
 */
import { type Context, Hono } from "hono";
import { type CatalogEntry, filterEntries, normalizeArch, type RemoteCatalogResponse, type SourceInfo, type SourceStatus, tagWithSource } from "../../shared/catalog";
import { indexEtag } from "../catalog/etag";
import { parseCatalogQuery } from "../catalog/query";
import { catalogStream } from "../catalog/stream";
import { getConfig } from "../config";
import { includesLocal, liveCountStatement, localShasStatement, rowsFrom, rowsStatement, countStatement, versionStatement, type IndexQuery } from "../db/read";
import type { EntryRow } from "../db/rows";
import { httpFail } from "../errors";
import { hasConditionals } from "../http/conditionals";
import { type CachedRemote, getRemotes } from "../remote/cache";
import type { FetchFn } from "../remote/fetch";
import { localSource } from "../storage/store";
import { batchSize, indexQueryOf, preconditions } from "./catalog";

export const remoteRoutes = new Hono<{ Bindings: Env }>();

/** Outbound fetch for remotes (tests answer it through miniflare's outboundService). */
const remoteFetch: FetchFn = (input, init) => fetch(input, init);

function offsetCursor(s: string | null): number {
  if (!s) return 0;
  const m = /^o(\d{1,9})$/.exec(s);
  if (!m) httpFail("E_BAD_CURSOR", "cursor is not one this server issued");
  return Number(m[1]);
}

/** The remotes of this request, through the cache (used by this route and the page at `/`). */
export function remotesFor(c: Context<{ Bindings: Env }>): Promise<CachedRemote[]> {
  const cfg = getConfig(c.env);
  // Only an explicit no-cache waits for the remotes: browsers send max-age=0 on every reload.
  const noCache = /no-cache/i.test(c.req.header("cache-control") ?? "") || /no-cache/i.test(c.req.header("pragma") ?? "");
  const waitUntil = (p: Promise<unknown>) => {
    try {
      c.executionCtx.waitUntil(p);
    } catch {
      // no execution context (app.request in unit tests): let it run
    }
  };
  return getRemotes(
    cfg.remotes,
    { fetch: remoteFetch, timeoutMs: cfg.remoteTimeoutMs, maxBytes: cfg.remoteMaxBytes, maxEntries: cfg.remoteMaxEntries, thumbnailBudget: cfg.remoteThumbnailBudget },
    { freshMs: cfg.remoteFreshSeconds * 1000, staleMs: cfg.remoteStaleSeconds * 1000, noCache, waitUntil, db: c.env.DB },
  );
}

export interface MergePlan {
  version: number;
  /** Local entries that pass the filter. */
  localCount: number;
  /** Every live local entry (for `sources[]`). */
  localTotal: number;
  /** Remote entries left after filtering and de-duplication, in order (copies: the cache's are shared). */
  remote: CatalogEntry[];
  /** Local SHA-256 → other sources listing the same file. */
  alsoFrom: Map<string, SourceInfo[]>;
  /** When the local first rows were fetched with the plan: rows from `offset`. */
  first?: EntryRow[];
  /** Values for the page's filters (local and remote), when asked for. */
  facets?: Facets;
  latencyMs: number;
}

export interface Facets {
  distro: string[];
  arch: string[];
  type: string[];
}

const FACET_SQL = (col: string) => `SELECT ${col} AS v FROM entries WHERE live = 1 AND ${col} IS NOT NULL AND ${col} <> '' GROUP BY ${col} COLLATE NOCASE ORDER BY COUNT(*) DESC LIMIT 40`;

/**
 * Filters and de-duplicates the remote entries against each other and the filtered local
 * catalog (one D1 batch: version, which remote SHA-256s the local catalog holds, counts, and
 * optionally the first local rows from `offset`).
 */
export async function planMerge(db: D1Database, iq: IndexQuery, local: SourceInfo, remotes: CachedRemote[], first?: { offset: number; limit: number }, withFacets = false): Promise<MergePlan> {
  const t0 = Date.now();
  const candidates = filterEntries(
    remotes.flatMap((r) => r.result.entries),
    iq.filter,
  );
  const shas = [...new Set(candidates.map((e) => e.sha256).filter((s): s is string => !!s))];
  const localOn = includesLocal(iq.filter, local.id);
  const shaStmt = localOn ? localShasStatement(db, iq, shas) : null;
  const countStmt = localOn ? countStatement(db, iq) : null;
  const rowsStmt = localOn && first && first.limit > 0 ? rowsStatement(db, iq, null, first.limit, first.offset) : null;
  const facetStmts = withFacets ? ["distro", "arch_norm", "type"].map((col) => db.prepare(FACET_SQL(col))) : [];
  const stmts = [versionStatement(db), liveCountStatement(db), ...(shaStmt ? [shaStmt] : []), ...(countStmt ? [countStmt] : []), ...(rowsStmt ? [rowsStmt] : []), ...facetStmts];
  const res = await db.batch<Record<string, unknown>>(stmts);
  let k = 0;
  const version = Number(res[k++]!.results[0]?.value ?? 0);
  const localTotal = Number(res[k++]!.results[0]?.n ?? 0);
  const localShas = new Set(shaStmt ? res[k++]!.results.map((r) => String(r.sha256)) : []);
  const localCount = countStmt ? Number(res[k++]!.results[0]?.n ?? 0) : 0;
  const rows = rowsStmt ? (res[k++]!.results as unknown as EntryRow[]) : undefined;
  let facets: Facets | undefined;
  if (withFacets) {
    const values = (i: number) => res[k + i]!.results.map((r) => String(r.v));
    const all = remotes.flatMap((r) => r.result.entries);
    const merge = (mine: string[], theirs: (string | null)[]) => {
      const seen = new Set(mine.map((v) => v.toLowerCase()));
      const out = [...mine];
      for (const v of theirs) if (v && !seen.has(v.toLowerCase()) && out.length < 60) (seen.add(v.toLowerCase()), out.push(v));
      return out.sort((a, b) => a.localeCompare(b));
    };
    facets = {
      distro: merge(values(0), all.map((e) => e.distro)),
      arch: merge(values(1), all.map((e) => (e.architecture ? normalizeArch(e.architecture) : null))),
      type: merge(values(2), all.map((e) => e.type)),
    };
  }

  const alsoFrom = new Map<string, SourceInfo[]>();
  const winners = new Map<string, CatalogEntry>();
  const remote: CatalogEntry[] = [];
  const addAlso = (list: SourceInfo[], s: SourceInfo) => {
    if (!list.some((x) => x.id === s.id && x.url === s.url)) list.push(s);
  };
  for (const e of candidates) {
    const sha = e.sha256;
    if (sha && localShas.has(sha)) {
      addAlso(alsoFrom.get(sha) ?? alsoFrom.set(sha, []).get(sha)!, e.source);
      continue;
    }
    const copy: CatalogEntry = { ...e, position: { ...e.position } };
    delete copy.also_from;
    if (sha) {
      const w = winners.get(sha);
      if (w && !(w.source.id === e.source.id && w.source.url === e.source.url)) {
        addAlso((w.also_from ??= []), e.source);
        continue;
      }
      if (!w) winners.set(sha, copy);
    }
    remote.push(copy);
  }
  // with sort=date, remote entries are ordered newest first too (name order keeps config order)
  if (iq.sort === "date") remote.sort((a, b) => (b.updated_at ?? "").localeCompare(a.updated_at ?? ""));
  return { version, localCount, localTotal, remote, alsoFrom, ...(rows ? { first: rows } : {}), ...(facets ? { facets } : {}), latencyMs: Date.now() - t0 };
}

export function sourceStatuses(local: SourceInfo, plan: MergePlan, remotes: CachedRemote[]): SourceStatus[] {
  const nowIso = new Date().toISOString();
  return [
    { ...local, status: "ok", local: true, latency_ms: plan.latencyMs, count: plan.localTotal, error: null, fetched_at: nowIso, stale: false },
    ...remotes.map(
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
}

remoteRoutes.get("/api/v1/remote/catalog", async (c) => {
  const query = parseCatalogQuery(c.req.url);
  const origin = new URL(c.req.url).origin;
  const local = localSource(c.env, origin);
  const iq = indexQueryOf(query);
  const db = c.env.DB;
  const start = offsetCursor(query.cursor);
  const remotes = await remotesFor(c);
  const batch = batchSize(query.thumbnails);
  const firstLimit = query.limit !== undefined ? Math.min(query.limit, batch) : batch;
  // The first rows come in the same D1 call, unless the answer may well be 304 (a revalidation
  // would fetch up to a page of inline thumbnails for nothing); then they are read when needed.
  const prefetch = c.req.method !== "HEAD" && !hasConditionals(c.req.raw.headers);
  const plan = await planMerge(db, iq, local, remotes, prefetch ? { offset: start, limit: firstLimit } : undefined);
  const sources = sourceStatuses(local, plan, remotes);
  const stale = sources.some((s) => s.stale);
  // the ETag ignores timings, so an unchanged merge revalidates with 304
  const etag = await indexEtag(plan.version, ["remote", origin, local, query, sources.map((s) => [s.id, s.url, s.color, s.name, s.status, s.count, s.error, s.local ? null : s.fetched_at, s.stale])]);
  const early = preconditions(c, etag);
  if (early) return early;
  const headers = { ETag: etag, "Cache-Control": "public, max-age=0, must-revalidate", Vary: "Accept-Encoding", "Content-Type": "application/json; charset=utf-8" };
  if (c.req.method === "HEAD") return new Response(null, { headers });

  const total = plan.localCount + plan.remote.length;
  const end = query.limit !== undefined ? Math.min(total, start + query.limit) : total;
  const localTake = Math.max(0, Math.min(end, plan.localCount) - start);
  const remoteFrom = Math.max(0, start - plan.localCount);
  const remoteTo = Math.max(0, end - plan.localCount);
  const rows = localTake > 0 ? rowsFrom(db, iq, null, localTake, batch, plan.first?.slice(0, localTake), start) : (async function* () {})();
  const generatedAt = new Date().toISOString();
  const body = catalogStream({
    rows,
    origin,
    source: local,
    start,
    limit: null,
    sort: query.sort,
    map: (e) => {
      tagWithSource(e, local);
      const also = e.sha256 ? plan.alsoFrom.get(e.sha256) : undefined;
      if (also) e.also_from = also;
      return e;
    },
    extra: plan.remote.slice(remoteFrom, remoteTo),
    nextCursor: () => (end < total ? `o${end}` : null),
    tail: (): Pick<RemoteCatalogResponse, "sources" | "stale" | "generated_at"> => ({ sources, stale, generated_at: generatedAt }),
  });
  return new Response(body, { headers });
});
