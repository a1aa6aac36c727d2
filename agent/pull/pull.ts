import type { CatalogEntry } from "../../shared/catalog.js";
import { readFile, stat } from "node:fs/promises";
import { hostname } from "node:os";
import type { CacheEntry, CacheSource } from "../cache/entry.js";
import type { CacheLayout } from "../cache/layout.js";
import { acquireLock, type HeldLock, type LockInfo } from "../cache/lock.js";
import { evictToBudget } from "../cache/maintenance.js";
import type { Settings } from "../config/settings.js";
import type { AgentContext } from "../context.js";
import type { PullEventSink } from "../progress/events.js";
import { downloadKey, downloadVerified, type DownloadDeps, type DownloadTarget, type PartialPaths } from "./download.js";
import { claimPartial, dropIdlePartials, holderPaths, releasePartial } from "./partials.js";

export interface PullTarget extends DownloadTarget {
  /** Recorded in the cache index as where the bytes came from. */
  source: Omit<CacheSource, "checkedAt" | "url">;
  entry?: CatalogEntry;
  /** When revalidating a cached copy: its digest (paired with `ifNoneMatch`). */
  cachedSha256?: string;
}

export interface PullResult {
  sha256: string;
  size: number;
  path: string;
  record: CacheEntry;
  /** False when bytes were downloaded by this process. */
  fromCache: boolean;
}

export interface PullOptions {
  emit: PullEventSink;
  signal?: AbortSignal;
  /** Test seam, see DownloadDeps.beforeWrite. */
  beforeWrite?: (position: number, length: number) => void | Promise<void>;
  /** See DownloadDeps.onBody. */
  onBody?: DownloadDeps["onBody"];
}

/**
 * Gets `target` into the cache, once per machine: under a per-object lock, so a second process
 * asking for the same object waits (reporting the first one's progress) and then finds it
 * cached instead of downloading it again — unless the first one dies or stalls, in which case
 * it takes the download over, resuming from the bytes already saved. Eviction to the budget
 * runs after a commit, never touching what was just pulled. (The overall deadline is the
 * caller's `signal`: ensureCached sets it.)
 */
export async function pullToCache(agent: AgentContext, target: PullTarget, opts: PullOptions): Promise<PullResult> {
  const r = await pullOnce(agent, target, opts);
  // 304 for a copy that is no longer cached (evicted meanwhile): fetch it for real.
  return r ?? (await pullToCache(agent, { ...target, ifNoneMatch: undefined, cachedSha256: undefined }, opts));
}

async function pullOnce(agent: AgentContext, target: PullTarget, opts: PullOptions): Promise<PullResult | undefined> {
  const { cache } = agent;
  await cache.init();
  const hit = async (sha256: string, validators: { etag?: string; lastModified?: string } = {}): Promise<PullResult | undefined> => {
    if (!(await cache.get(sha256))) return undefined;
    const record = await cache.touch(sha256, sourceRecord(target, validators), target.entry);
    return { sha256, size: record.size, path: cache.blobPath(sha256), record, fromCache: true };
  };
  if (target.expectedSha256) {
    const r = await hit(target.expectedSha256);
    if (r) return r;
  }

  const key = downloadKey(target);
  const lock = await waitForLock(agent, target, key, opts);
  let work: PartialPaths | undefined;
  try {
    if (target.expectedSha256) {
      const r = await hit(target.expectedSha256);
      if (r) return r;
    }
    work = await claimPartial(cache.layout, key, lock.token);
    const res = await downloadVerified(target, { http: agent.http, cache, settings: agent.settings, emit: opts.emit, partial: work, ...(opts.signal ? { signal: opts.signal } : {}), ...(opts.beforeWrite ? { beforeWrite: opts.beforeWrite } : {}), ...(opts.onBody ? { onBody: opts.onBody } : {}) });
    let result: PullResult | undefined;
    if (res.kind === "downloaded") {
      const record = await cache.commit(res.path, { sha256: res.sha256, size: res.size, source: sourceRecord(target, res), ...(target.entry ? { entry: target.entry } : {}) });
      result = { sha256: res.sha256, size: res.size, path: cache.blobPath(res.sha256), record, fromCache: false };
      await dropIdlePartials(cache.layout, key, lock.token);
    } else if (res.kind === "cached") {
      result = await hit(res.sha256, res);
    } else if (target.cachedSha256) {
      result = await hit(target.cachedSha256, res);
    }
    if (result) await evictToBudget(cache, agent.settings.cacheMaxBytes, [result.sha256]);
    return result;
  } finally {
    if (work) await releasePartial(cache.layout, key, work, await lock.stillHeld());
    await lock.release();
  }
}

/** Without a low-speed limit, a holder whose download has not grown for this long is taken over. */
const STALL_FALLBACK_MS = 10 * 60_000;

/**
 * Judges a lock holder by how its download grows: stalled once it has grown by less than the
 * low-speed limit (lowSpeedBytes per second, over lowSpeedMs) for a whole window. The holder
 * writes at least once a second while bytes arrive (agent/pull/partial-writer.ts), so the file
 * size follows what it receives.
 */
class StallWatch {
  private holder: string | undefined;
  private since = 0;
  private base = 0;
  readonly windowMs: number;
  readonly minBytes: number;

  constructor(s: Settings) {
    const limited = s.lowSpeedBytes > 0 && s.lowSpeedMs > 0;
    this.windowMs = limited ? s.lowSpeedMs : STALL_FALLBACK_MS;
    this.minBytes = Math.max(1, limited ? (s.lowSpeedBytes * s.lowSpeedMs) / 1000 : 1);
  }

  stalled(holder: string, bytes: number, now = Date.now()): boolean {
    if (holder !== this.holder || bytes - this.base >= this.minBytes) {
      this.holder = holder;
      this.since = now;
      this.base = bytes;
      return false;
    }
    this.base = Math.min(this.base, bytes); // restarted from 0: growth counts from here, the clock runs on
    return now - this.since >= this.windowMs;
  }
}

/** Takes the object's download lock, waiting for (and reporting) another process that holds it. */
async function waitForLock(agent: AgentContext, target: PullTarget, key: string, opts: PullOptions): Promise<HeldLock> {
  const { cache, settings } = agent;
  const note = (message: string) => opts.emit({ event: "note", ref: target.ref, message });
  const who = (h: LockInfo | undefined) => (h ? ` (pid ${h.pid}${h.host !== hostname() ? ` on ${h.host}` : ""})` : "");
  const watch = new StallWatch(settings);
  let waited = false;
  let tookOver = false;
  const lock = await acquireLock(cache.layout.lock(key), {
    what: target.url,
    timeoutMs: settings.lockWaitMs,
    ...(opts.signal ? { signal: opts.signal } : {}),
    onWait: async (holder) => {
      if (!waited) {
        waited = true;
        note(`another pixelrts process${who(holder)} is downloading this; waiting for it`);
      }
      const p = await holderProgress(cache.layout, key, holder);
      if (p) opts.emit({ event: "progress", ref: target.ref, bytes: p.bytes, total: p.total });
    },
    takeOver: async (holder) => {
      const bytes = (await stat(holderPaths(cache.layout, key, holder).data).catch(() => undefined))?.size ?? 0;
      if (!watch.stalled(holder.token ?? `pid ${holder.pid}@${holder.host}`, bytes)) return false;
      tookOver = true;
      note(`another pixelrts process${who(holder)} made no progress for ${watch.windowMs / 1000} s (under ${settings.lowSpeedBytes} bytes/s); taking the download over`);
      return true;
    },
  });
  if (lock.replaced && !tookOver) note(`the pixelrts process that was downloading this${who(lock.replaced)} is gone; taking the download over`);
  return lock;
}

function sourceRecord(target: PullTarget, v: { etag?: string; lastModified?: string }): CacheSource {
  return { url: target.url, ...target.source, ...(v.etag ? { etag: v.etag } : {}), ...(v.lastModified ? { lastModified: v.lastModified } : {}), checkedAt: Date.now() };
}

/** How far another process's download of `key` has got (for the waiting process's progress). */
async function holderProgress(layout: CacheLayout, key: string, holder: LockInfo | undefined): Promise<{ bytes: number; total: number } | undefined> {
  const p = holderPaths(layout, key, holder);
  try {
    const [meta, st] = await Promise.all([readFile(p.meta, "utf8"), stat(p.data)]);
    const total = (JSON.parse(meta) as { size?: number }).size;
    return typeof total === "number" && total > 0 ? { bytes: Math.min(st.size, total), total } : undefined;
  } catch {
    return undefined;
  }
}
