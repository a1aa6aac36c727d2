import { isSha256Hex, type CatalogEntry } from "../../shared/catalog.js";
import { PixelRtsError, isPixelRtsError } from "../../shared/errors.js";
import type { CacheEntry, CacheSource } from "../cache/entry.js";
import { findInCatalogs, loadCatalogs, type ResolvedEntry } from "../catalog/index.js";
import type { AgentContext } from "../context.js";
import type { PullEventSink } from "../progress/events.js";
import { closest } from "../../shared/suggest.js";
import type { Subject } from "../../shared/trust/verify.js";
import type { ServerConfig } from "../config/servers.js";
import { enforce, fetchEnvelopes, judge, loadEnvelopes, NOT_CHECKED, policyFor, recordAccepted, saveEnvelopes, signaturesUrlFor, type TrustInput, type TrustReport } from "../trust/policy.js";
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
  /** See DownloadDeps.onBody. */
  onBody?: PullOptions["onBody"];
  /** Mark the item in use before returning (boot): it cannot be evicted until `release()`. */
  hold?: boolean;
  /**
   * Overall deadline of this call in ms (catalog lookup, waiting for another process, retries
   * and the download itself), then E_PULL_TIMEOUT. Default: settings.pullTimeoutMs; 0: none.
   */
  timeoutMs?: number;
  /** For URL refs: the file's SHA-256, given by the user (`pull URL --sha256 HEX`), for servers that send none. */
  sha256?: string;
  /** Accept a trusted signature older than the newest one accepted for this server and name. */
  allowDowngrade?: boolean;
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
  /** What the signature policy found (docs/TRUST.md). */
  trust: TrustReport;
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

/** How a container was reached: the trust input (server, resolved name) and where its signatures are listed. */
interface Reached {
  input: TrustInput;
  signaturesUrl?: string;
}

async function resolveToCache(agent: AgentContext, refText: string, opts: EnsureOptions): Promise<EnsureResult> {
  const emit: PullEventSink = opts.emit ?? (() => {});
  const ref = parseRef(refText);
  const { cache, settings } = agent;
  await cache.init();
  const pullOpts: PullOptions = { emit, ...(opts.signal ? { signal: opts.signal } : {}), ...(opts.beforeWrite ? { beforeWrite: opts.beforeWrite } : {}), ...(opts.onBody ? { onBody: opts.onBody } : {}) };
  const trustInput = (server: ServerConfig | undefined, name?: string): TrustInput => ({
    policy: policyFor(settings.signatures, server),
    ...(server ? { server: server.name } : {}),
    ...(name !== undefined ? { name } : {}),
    ...(opts.allowDowngrade ? { allowDowngrade: true } : {}),
  });

  /** A cached copy, its saved envelopes judged again (keys may have changed since). */
  const cachedResult = async (record: CacheEntry, stale: boolean, reached: Reached, note?: string): Promise<EnsureResult> => {
    const trust = await checkCached(agent, record, reached, opts);
    const touched = await cache.touch(record.sha256);
    return { path: cache.blobPath(record.sha256), sha256: record.sha256, size: record.size, ...(touched.entry ? { entry: touched.entry } : {}), record: touched, fromCache: true, stale, trust, ...(note ? { note } : {}), release: NO_RELEASE };
  };
  const offlineNote = (record: CacheEntry, e: unknown) => `server unreachable (${(e as Error).message}); using the cached copy${lastChecked(record)}`;
  /** Judged before a byte is fetched (and pinned to what the trusted signature names), then pulled. */
  const pulled = async (target: PullTarget, reached: Reached): Promise<EnsureResult> => {
    const pre = await checkBeforePull(agent, target, reached, opts);
    const r = await pullToCache(agent, pre.target, pullOpts);
    const trust = pre.envelopes ? await checkAfterPull(agent, r.sha256, r.size, pre.envelopes, reached) : pre.report;
    return { path: r.path, sha256: r.sha256, size: r.size, ...(r.record.entry ? { entry: r.record.entry } : {}), record: r.record, fromCache: r.fromCache, stale: false, trust, release: NO_RELEASE };
  };

  // ---- by digest: immutable, the cache answers or a catalog tells where to get it ----
  if (ref.kind === "sha") {
    const c = await cache.get(ref.hex);
    if (c) return cachedResult(c, false, { input: trustInput(undefined) });
    if (opts.offline) throw new PixelRtsError("E_OFFLINE", `sha256:${ref.hex.slice(0, 12)}… is not cached and --offline forbids fetching it`);
    const found = await resolveInCatalogs(agent, ref.hex, opts);
    return pulled(targetFor(found, refText), reachedVia(found, trustInput(found.server)));
  }

  // ---- by URL ----
  if (ref.kind === "url") {
    const given = opts.sha256?.toLowerCase();
    if (given !== undefined && !isSha256Hex(given)) throw new PixelRtsError("E_USAGE", `--sha256 takes the file's SHA-256 as 64 hex digits, got '${opts.sha256}'`);
    const urlHex = digestFromUrl(ref.url) ?? given;
    const reached: Reached = { input: trustInput(undefined), ...withUrl(signaturesUrlFor(ref.url)) };
    const candidates = urlHex ? [await cache.get(urlHex)].filter((x): x is CacheEntry => !!x) : (await cache.list()).filter((e) => e.sources.some((s) => s.url === ref.url));
    const c = newest(candidates, (s) => s.url === ref.url);
    if (urlHex && !c) {
      const any = await cache.get(urlHex);
      if (any) return cachedResult(any, false, reached);
    }
    if (c && (urlHex || (!opts.refresh && Date.now() - c.src.checkedAt < settings.containerFreshMs) || opts.offline)) {
      return cachedResult(c.record, !urlHex && Date.now() - c.src.checkedAt >= settings.containerFreshMs, reached, opts.offline && !urlHex ? "offline: using the cached copy without revalidating" : undefined);
    }
    if (opts.offline) throw new PixelRtsError("E_OFFLINE", `${ref.url} is not cached and --offline forbids fetching it`);
    const target: PullTarget = {
      url: ref.url,
      ref: refText,
      source: {},
      ...(urlHex ? { expectedSha256: urlHex, expectedFrom: given && !digestFromUrl(ref.url) ? "--sha256" : "the URL" } : {}),
      ...(c?.src.etag ? { ifNoneMatch: c.src.etag, cachedSha256: c.record.sha256 } : {}),
    };
    try {
      return await pulled(target, reached);
    } catch (e) {
      if (c && isUnreachable(e)) return cachedResult(c.record, true, reached, offlineNote(c.record, e));
      throw e;
    }
  }

  // ---- by catalog id or name: asked again each time (a cheap conditional request), like
  // `docker pull`, so a republished name is seen at once; the cache only answers offline ----
  const local = await cache.resolve(ref.name, opts.server);
  const c = newest(local, (s) => (s.id === ref.name || s.name === ref.name) && (opts.server === undefined || s.server === opts.server));
  const cachedServer = c?.src.server ? await agent.servers.get(c.src.server).catch(() => undefined) : undefined;
  const cachedReach = (): Reached => ({ input: trustInput(cachedServer, ref.name) });
  if (opts.offline) {
    if (c) return cachedResult(c.record, true, cachedReach(), `offline: using the cached copy${lastChecked(c.record)}`);
    throw new PixelRtsError("E_OFFLINE", `'${ref.name}' is not cached and --offline forbids fetching it`);
  }
  let found: ResolvedEntry;
  try {
    found = await resolveInCatalogs(agent, ref.name, { ...opts, ...(c?.src.server && !opts.server ? { server: c.src.server } : {}) }, true);
  } catch (e) {
    if (c && isUnreachable(e)) return cachedResult(c.record, true, cachedReach(), offlineNote(c.record, e));
    throw e;
  }
  const reached = reachedVia(found, trustInput(found.server, ref.name));
  try {
    return await pulled(targetFor(found, refText), reached);
  } catch (e) {
    if (c && isUnreachable(e) && found.entry.sha256 === c.record.sha256) return cachedResult(c.record, true, reached, offlineNote(c.record, e));
    throw e;
  }
}

const withUrl = (url: string | undefined) => (url ? { signaturesUrl: url } : {});

function reachedVia(found: ResolvedEntry, input: TrustInput): Reached {
  return { input, ...withUrl(signaturesUrlFor(found.entry.blob_url ?? found.downloadUrl, found.entry.sha256)) };
}

function lastChecked(record: CacheEntry): string {
  const last = Math.max(0, ...record.sources.map((s) => s.checkedAt));
  return last ? ` last checked ${when(last)} (${ageOf(last)} ago)` : "";
}

function ageOf(ms: number): string {
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  return s < 90 ? `${s} s` : s < 5400 ? `${Math.round(s / 60)} min` : s < 129_600 ? `${Math.round(s / 3600)} h` : `${Math.round(s / 86_400)} days`;
}

/**
 * Before a download: the server's envelopes for what the catalog names, judged and enforced
 * (nothing is fetched under `require` unless a trusted key signed it), and the download pinned
 * to the trusted statement's digest and size, so bytes anyone else serves are refused before
 * they reach the cache.
 */
async function checkBeforePull(agent: AgentContext, target: PullTarget, reached: Reached, opts: EnsureOptions): Promise<{ target: PullTarget; envelopes?: unknown[]; report: TrustReport }> {
  const { input } = reached;
  if (input.policy === "off") return { target, report: NOT_CHECKED(input.policy) };
  let envelopes: unknown[] = [];
  if (reached.signaturesUrl) {
    try {
      envelopes = await fetchEnvelopes(agent.http, reached.signaturesUrl, agent.settings.catalogTimeoutMs, opts.signal);
    } catch (e) {
      if (input.policy === "require") throw e;
      opts.emit?.({ event: "note", ref: target.ref, message: `could not fetch the signatures (${(e as Error).message})` });
    }
  }
  const subject: Subject = { ...(target.expectedSha256 ? { sha256: target.expectedSha256 } : {}), ...(target.expectedSize ? { size: target.expectedSize } : {}), ...(input.name !== undefined ? { name: input.name } : {}) };
  const { summary, report } = await judge(agent.paths.configDir, envelopes, subject, input);
  await enforce(agent.paths.configDir, `'${target.ref}'`, summary, input);
  const t = summary.trusted;
  const pinned: PullTarget = t ? { ...target, expectedSha256: t.statement.sha256, expectedSize: t.statement.size, expectedFrom: `the signature of ${t.key_name}` } : target;
  return { target: pinned, envelopes, report };
}

/** After a download: judged once more against the bytes that arrived, then saved beside them. */
async function checkAfterPull(agent: AgentContext, sha256: string, size: number, envelopes: unknown[], reached: Reached): Promise<TrustReport> {
  const { summary, report } = await judge(agent.paths.configDir, envelopes, { sha256, size, ...(reached.input.name !== undefined ? { name: reached.input.name } : {}) }, reached.input);
  await enforce(agent.paths.configDir, `sha256:${sha256.slice(0, 12)}…`, summary, reached.input);
  await saveEnvelopes(agent.cache.layout, sha256, envelopes, reached.signaturesUrl);
  await recordAccepted(agent.paths.configDir, summary, reached.input);
  return report;
}

/** A cached copy: its saved envelopes (fetched now when none were saved and the server is reachable), judged and enforced. */
async function checkCached(agent: AgentContext, record: CacheEntry, reached: Reached, opts: EnsureOptions): Promise<TrustReport> {
  const { input } = reached;
  if (input.policy === "off") return NOT_CHECKED(input.policy);
  let envelopes = await loadEnvelopes(agent.cache.layout, record.sha256);
  let fetchError: unknown;
  if (envelopes.length === 0 && reached.signaturesUrl && !opts.offline) {
    envelopes = await fetchEnvelopes(agent.http, reached.signaturesUrl, agent.settings.catalogTimeoutMs, opts.signal).catch((e: unknown) => {
      fetchError = e;
      return [];
    });
    if (envelopes.length) await saveEnvelopes(agent.cache.layout, record.sha256, envelopes, reached.signaturesUrl);
  }
  // Under `require`, signatures that could not be fetched are that failure (network, timeout …),
  // not "this container is unsigned".
  if (fetchError !== undefined && input.policy === "require") throw fetchError;
  const { summary, report } = await judge(agent.paths.configDir, envelopes, { sha256: record.sha256, size: record.size, ...(input.name !== undefined ? { name: input.name } : {}) }, input);
  await enforce(agent.paths.configDir, `the cached copy sha256:${record.sha256.slice(0, 12)}…`, summary, input);
  await recordAccepted(agent.paths.configDir, summary, input);
  return report;
}

function targetFor(found: ResolvedEntry, ref: string): PullTarget {
  const { entry, server, downloadUrl } = found;
  return {
    url: downloadUrl,
    ref,
    // An entry without any URL is an original PixelRTS server's: its `path` is a file on that server's disk.
    ...(!entry.url && !entry.blob_url ? { noBytesHint: `${server.name} lists '${entry.id}' without a download URL (an original PixelRTS catalog server lists files on its own disk${entry.path ? `: ${entry.path}` : ""})` } : {}),
    ...(entry.sha256 ? { expectedSha256: entry.sha256 } : {}),
    ...(entry.size > 0 ? { expectedSize: entry.size } : {}),
    source: { server: server.name, id: entry.id, name: entry.name },
    entry,
  };
}

/**
 * Looks `ref` up in the servers' catalogs, then (when they do not list it) in the catalogs they
 * aggregate (`/api/v1/remote/catalog`, "federated"): one rule for pull, boot and serve. With
 * `revalidate` every catalog is asked again (a conditional GET: 304 when unchanged), so a
 * republished name resolves to its new bytes at once; otherwise a copy younger than
 * catalogFreshMs answers. A stale saved copy never decides what to pull.
 */
async function resolveInCatalogs(agent: AgentContext, ref: string, opts: EnsureOptions, revalidate = false): Promise<ResolvedEntry> {
  const load = (federated: boolean) => loadCatalogs(agent, { ...(opts.server ? { only: opts.server } : {}), ...(opts.signal ? { signal: opts.signal } : {}), ...(revalidate ? { freshMs: 0 } : {}), federated });
  const catalogs = await load(false);
  if (catalogs.length === 0) throw new PixelRtsError("E_NOT_FOUND", `'${ref}' is not cached and no servers are configured (add one with 'pixelrts servers add URL')`);
  const live = catalogs.filter((c) => !c.error);
  const found = findInCatalogs(live, ref);
  if (found) return found;
  const failed = catalogs.filter((c) => c.error);
  if (failed.length === catalogs.length) {
    const why = failed.map((c) => `${c.server.name}: ${c.error!.message}`).join("; ");
    throw new PixelRtsError(failed.every((c) => c.error!.code === "E_TIMEOUT") ? "E_TIMEOUT" : "E_NETWORK", `cannot look up '${ref}': no server answered (${why})`, { ref });
  }
  const federated = (await load(true)).filter((c) => !c.error);
  const remote = findInCatalogs(federated, ref);
  if (remote) return remote;
  const unreachable = failed.length ? ` (not reachable: ${failed.map((c) => c.server.name).join(", ")})` : "";
  const near = closest(ref, [...live, ...federated].flatMap((c) => c.entries.flatMap((e) => [e.id, e.name])));
  const hint = near.length ? `; did you mean ${near.join(" or ")}?` : "; see 'pixelrts catalog' for what there is";
  throw new PixelRtsError("E_NOT_FOUND", `'${ref}' is in no catalog of ${live.map((c) => c.server.name).join(", ")} (nor in the catalogs they aggregate)${unreachable}${hint}`, { ref, suggestions: near });
}

function newest(records: CacheEntry[], match: (s: CacheSource) => boolean): { record: CacheEntry; src: CacheSource } | undefined {
  let best: { record: CacheEntry; src: CacheSource } | undefined;
  for (const record of records) for (const src of record.sources) if (match(src) && (!best || src.checkedAt > best.src.checkedAt)) best = { record, src };
  return best;
}
