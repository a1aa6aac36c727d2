import { isSha256Hex, type CatalogEntry } from "../../shared/catalog.js";
import { PixelRtsError, isPixelRtsError } from "../../shared/errors.js";
import type { CacheEntry, CacheSource } from "../cache/entry.js";
import { findInCatalogs, loadCatalogs, type ResolvedEntry } from "../catalog/index.js";
import type { AgentContext } from "../context.js";
import type { PullEventSink } from "../progress/events.js";
import { closest } from "../../shared/suggest.js";
import { digestFromUrl } from "./digest.js";
import { pullToCache, type PullOptions, type PullTarget } from "./pull.js";

export interface EnsureOptions {
  /** Restrict an id/name to one configured server. */
  server?: string;
  /** Revalidate even a fresh cached copy. */
  refresh?: boolean;
  /** Never touch the network: cached copy or E_OFFLINE. */
  offline?: boolean;
  emit?: PullEventSink;
  signal?: AbortSignal;
  beforeWrite?: PullOptions["beforeWrite"];
  /** Mark the item in use before returning (boot): it cannot be evicted until `release()`. */
  hold?: boolean;
  /**
   * Overall deadline of this call in ms (catalog lookup, waiting for another process, retries
   * and the download itself), then E_PULL_TIMEOUT. Default: settings.pullTimeoutMs; 0: none.
   */
  timeoutMs?: number;
}

export interface EnsureResult {
  /** Verified container bytes in the cache (read-only). */
  path: string;
  sha256: string;
  size: number;
  /** The catalog entry (fresh, or as last seen when offline), when the ref came through a catalog. */
  entry?: CatalogEntry;
  record: CacheEntry;
  /** True when no bytes were downloaded. */
  fromCache: boolean;
  /** True when the copy could not be revalidated (server unreachable) and is used anyway. */
  stale: boolean;
  /** A sentence for the user when something noteworthy happened (offline fallback). */
  note?: string;
  /** With `hold`: ends the in-use mark. Otherwise a no-op. */
  release(): Promise<void>;
}

type Ref = { kind: "url"; url: string } | { kind: "sha"; hex: string } | { kind: "name"; name: string };

export function parseRef(ref: string): Ref {
  if (/^https?:\/\//i.test(ref)) {
    try {
      return { kind: "url", url: new URL(ref).href };
    } catch {
      throw new PixelRtsError("E_USAGE", `not a valid URL: ${ref}`);
    }
  }
  const hex = ref.replace(/^sha256:/i, "").toLowerCase();
  if (isSha256Hex(hex)) return { kind: "sha", hex };
  if (!ref.trim()) throw new PixelRtsError("E_USAGE", "empty container reference");
  return { kind: "name", name: ref };
}

/** Errors that mean "could not reach/use the server", as opposed to "the server said no". */
function isUnreachable(e: unknown): boolean {
  return isPixelRtsError(e) && ["E_NETWORK", "E_TIMEOUT", "E_SERVER", "E_TRUNCATED", "E_OFFLINE", "E_TOO_SLOW", "E_PULL_TIMEOUT"].includes(e.code);
}

/** What an abort can surface as on its way out (a request, a lock wait, a catalog lookup). */
const ABORT_SHAPED = new Set(["E_PULL_TIMEOUT", "E_INTERRUPTED", "E_NETWORK", "E_TIMEOUT", "E_INTERNAL"]);

/** The overall pull deadline: an AbortSignal that fires with E_PULL_TIMEOUT, joined to the caller's. */
function pullDeadline(ms: number, outer: AbortSignal | undefined): { signal: AbortSignal | undefined; error: PixelRtsError | undefined; dispose(): void } {
  if (!(ms > 0) || !Number.isFinite(ms)) return { signal: outer, error: undefined, dispose: () => {} };
  const ctl = new AbortController();
  const shown = ms >= 60_000 ? `${Math.round(ms / 60_000)} min` : `${ms / 1000} s`;
  const error = new PixelRtsError("E_PULL_TIMEOUT", `the pull did not finish within ${shown} (pull --timeout SECONDS, PIXELRTS_PULL_TIMEOUT_MS or pullTimeoutMs in config.json)`, { timeoutMs: ms, retryable: false });
  const timer = setTimeout(() => ctl.abort(error), ms);
  timer.unref();
  return { signal: outer ? AbortSignal.any([outer, ctl.signal]) : ctl.signal, error, dispose: () => clearTimeout(timer) };
}

const when = (ms: number) => new Date(ms).toISOString().replace("T", " ").slice(0, 16) + " UTC";

/**
 * Cache-first resolution used by `pull` and `boot`: returns a verified local file for
 * `ref` (catalog id or name, URL, or sha256), downloading only when needed.
 *
 * - A cached copy reached by SHA-256 or content-addressed URL is always fresh (immutable).
 * - One reached by id/URL is used without network while younger than `containerFreshMs`
 *   (v1.2: 7 days); after that it is revalidated (catalog digest, or If-None-Match on the URL).
 * - If revalidation cannot reach the server, the cached copy is returned with `stale` and a note.
 * - Nothing cached and nothing reachable → E_OFFLINE (or the network error itself).
 * - The whole call ends by its deadline (`timeoutMs`, settings.pullTimeoutMs): E_PULL_TIMEOUT.
 */
export async function ensureCached(agent: AgentContext, refText: string, opts: EnsureOptions = {}): Promise<EnsureResult> {
  const deadline = pullDeadline(opts.timeoutMs ?? agent.settings.pullTimeoutMs, opts.signal);
  const inner: EnsureOptions = { ...opts, ...(deadline.signal ? { signal: deadline.signal } : {}) };
  try {
    for (let tries = 0; ; tries++) {
      const r = await resolveToCache(agent, refText, inner);
      if (!opts.hold) return r;
      const release = await agent.cache.acquireUse(r.sha256);
      // Evicted by another process between the two steps? Then get it again (rare; bounded).
      if ((await agent.cache.get(r.sha256)) || tries >= 2) return { ...r, release };
      await release();
    }
  } catch (e) {
    // The deadline fired: whatever the abort surfaced as (a reset request, a catalog lookup that
    // "failed"), say so. Errors with their own meaning (integrity, disk) stay what they are.
    if (deadline.error && deadline.signal?.reason === deadline.error && isPixelRtsError(e) && ABORT_SHAPED.has(e.code)) throw deadline.error;
    throw e;
  } finally {
    deadline.dispose();
  }
}

const NO_RELEASE = async () => {};

async function resolveToCache(agent: AgentContext, refText: string, opts: EnsureOptions): Promise<EnsureResult> {
  const emit: PullEventSink = opts.emit ?? (() => {});
  const ref = parseRef(refText);
  const { cache, settings } = agent;
  await cache.init();
  const pullOpts: PullOptions = { emit, ...(opts.signal ? { signal: opts.signal } : {}), ...(opts.beforeWrite ? { beforeWrite: opts.beforeWrite } : {}) };

  const cachedResult = async (record: CacheEntry, stale: boolean, note?: string): Promise<EnsureResult> => {
    const touched = await cache.touch(record.sha256);
    return { path: cache.blobPath(record.sha256), sha256: record.sha256, size: record.size, ...(touched.entry ? { entry: touched.entry } : {}), record: touched, fromCache: true, stale, ...(note ? { note } : {}), release: NO_RELEASE };
  };
  const offlineNote = (record: CacheEntry, e: unknown) => {
    const last = Math.max(0, ...record.sources.map((s) => s.checkedAt));
    return `server unreachable (${(e as Error).message}); using the cached copy${last ? ` last checked ${when(last)}` : ""}`;
  };
  const pulled = async (target: PullTarget): Promise<EnsureResult> => {
    const r = await pullToCache(agent, target, pullOpts);
    return { path: r.path, sha256: r.sha256, size: r.size, ...(r.record.entry ? { entry: r.record.entry } : {}), record: r.record, fromCache: r.fromCache, stale: false, release: NO_RELEASE };
  };

  // ---- by digest: immutable, the cache answers or a catalog tells where to get it ----
  if (ref.kind === "sha") {
    const c = await cache.get(ref.hex);
    if (c) return cachedResult(c, false);
    if (opts.offline) throw new PixelRtsError("E_OFFLINE", `sha256:${ref.hex.slice(0, 12)}… is not cached and --offline forbids fetching it`);
    const found = await resolveInCatalogs(agent, ref.hex, opts);
    return pulled(targetFor(found, refText));
  }

  // ---- by URL ----
  if (ref.kind === "url") {
    const urlHex = digestFromUrl(ref.url);
    const candidates = urlHex ? [await cache.get(urlHex)].filter((x): x is CacheEntry => !!x) : (await cache.list()).filter((e) => e.sources.some((s) => s.url === ref.url));
    const c = newest(candidates, (s) => s.url === ref.url);
    if (c && (urlHex || (!opts.refresh && Date.now() - c.src.checkedAt < settings.containerFreshMs) || opts.offline)) {
      return cachedResult(c.record, !urlHex && Date.now() - c.src.checkedAt >= settings.containerFreshMs, opts.offline && !urlHex ? "offline: using the cached copy without revalidating" : undefined);
    }
    if (opts.offline) throw new PixelRtsError("E_OFFLINE", `${ref.url} is not cached and --offline forbids fetching it`);
    const target: PullTarget = { url: ref.url, ref: refText, source: {}, ...(urlHex ? { expectedSha256: urlHex } : {}), ...(c?.src.etag ? { ifNoneMatch: c.src.etag, cachedSha256: c.record.sha256 } : {}) };
    try {
      return await pulled(target);
    } catch (e) {
      if (c && isUnreachable(e)) return cachedResult(c.record, true, offlineNote(c.record, e));
      throw e;
    }
  }

  // ---- by catalog id or name ----
  const local = await cache.resolve(ref.name, opts.server);
  const c = newest(local, (s) => (s.id === ref.name || s.name === ref.name) && (opts.server === undefined || s.server === opts.server));
  if (c && ((!opts.refresh && Date.now() - c.src.checkedAt < settings.containerFreshMs) || opts.offline)) {
    return cachedResult(c.record, opts.offline === true && Date.now() - c.src.checkedAt >= settings.containerFreshMs);
  }
  if (opts.offline) throw new PixelRtsError("E_OFFLINE", `'${ref.name}' is not cached and --offline forbids fetching it`);
  let found: ResolvedEntry;
  try {
    found = await resolveInCatalogs(agent, ref.name, { ...opts, ...(c?.src.server && !opts.server ? { server: c.src.server } : {}) });
  } catch (e) {
    if (c && isUnreachable(e)) return cachedResult(c.record, true, offlineNote(c.record, e));
    throw e;
  }
  try {
    return await pulled(targetFor(found, refText));
  } catch (e) {
    if (c && isUnreachable(e) && found.entry.sha256 === c.record.sha256) return cachedResult(c.record, true, offlineNote(c.record, e));
    throw e;
  }
}

function targetFor(found: ResolvedEntry, ref: string): PullTarget {
  const { entry, server, downloadUrl } = found;
  return {
    url: downloadUrl,
    ref,
    ...(entry.sha256 ? { expectedSha256: entry.sha256 } : {}),
    ...(entry.size > 0 ? { expectedSize: entry.size } : {}),
    source: { server: server.name, id: entry.id, name: entry.name },
    entry,
  };
}

/** Looks `ref` up in catalogs younger than catalogFreshMs (else asked again); a stale saved copy never decides what to pull. */
async function resolveInCatalogs(agent: AgentContext, ref: string, opts: EnsureOptions): Promise<ResolvedEntry> {
  const catalogs = await loadCatalogs(agent, { ...(opts.server ? { only: opts.server } : {}), ...(opts.signal ? { signal: opts.signal } : {}) });
  if (catalogs.length === 0) throw new PixelRtsError("E_NOT_FOUND", `'${ref}' is not cached and no servers are configured (add one with 'pixelrts servers add URL')`);
  const live = catalogs.filter((c) => !c.error);
  const found = findInCatalogs(live, ref);
  if (found) return found;
  const failed = catalogs.filter((c) => c.error);
  if (failed.length === catalogs.length) {
    const why = failed.map((c) => `${c.server.name}: ${c.error!.message}`).join("; ");
    throw new PixelRtsError(failed.every((c) => c.error!.code === "E_TIMEOUT") ? "E_TIMEOUT" : "E_NETWORK", `cannot look up '${ref}': no server answered (${why})`, { ref });
  }
  const unreachable = failed.length ? ` (not reachable: ${failed.map((c) => c.server.name).join(", ")})` : "";
  const near = closest(ref, live.flatMap((c) => c.entries.flatMap((e) => [e.id, e.name])));
  const hint = near.length ? `; did you mean ${near.join(" or ")}?` : "; see 'pixelrts catalog' for what there is";
  throw new PixelRtsError("E_NOT_FOUND", `'${ref}' is in no catalog of ${live.map((c) => c.server.name).join(", ")}${unreachable}${hint}`, { ref, suggestions: near });
}

function newest(records: CacheEntry[], match: (s: CacheSource) => boolean): { record: CacheEntry; src: CacheSource } | undefined {
  let best: { record: CacheEntry; src: CacheSource } | undefined;
  for (const record of records) for (const src of record.sources) if (match(src) && (!best || src.checkedAt > best.src.checkedAt)) best = { record, src };
  return best;
}
