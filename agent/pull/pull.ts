import type { CatalogEntry } from "../../shared/catalog.js";
import { readFile, stat } from "node:fs/promises";
import type { CacheEntry, CacheSource } from "../cache/entry.js";
import { acquireLock } from "../cache/lock.js";
import { evictToBudget } from "../cache/maintenance.js";
import type { AgentContext } from "../context.js";
import type { PullEventSink } from "../progress/events.js";
import { downloadKey, downloadVerified, type DownloadTarget } from "./download.js";

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
}

/**
 * Gets `target` into the cache, once per machine: under a per-object lock, so a second process
 * asking for the same object waits (reporting the first one's progress) and then finds it
 * cached instead of downloading it again. Eviction to the budget runs after a commit, never
 * touching what was just pulled.
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
  let waitedNote = false;
  const lock = await acquireLock(cache.layout.lock(key), {
    what: target.url,
    timeoutMs: agent.settings.lockWaitMs,
    ...(opts.signal ? { signal: opts.signal } : {}),
    onWait: async (holder) => {
      if (!waitedNote) {
        waitedNote = true;
        opts.emit({ event: "note", ref: target.ref, message: `another pixelrts process${holder ? ` (pid ${holder.pid})` : ""} is downloading this; waiting for it` });
      }
      const p = await partialProgress(agent, key);
      if (p) opts.emit({ event: "progress", ref: target.ref, bytes: p.bytes, total: p.total });
    },
  });
  try {
    if (target.expectedSha256) {
      const r = await hit(target.expectedSha256);
      if (r) return r;
    }
    const res = await downloadVerified(target, { http: agent.http, cache, settings: agent.settings, emit: opts.emit, ...(opts.signal ? { signal: opts.signal } : {}), ...(opts.beforeWrite ? { beforeWrite: opts.beforeWrite } : {}) });
    let result: PullResult | undefined;
    if (res.kind === "downloaded") {
      const record = await cache.commit(res.path, { sha256: res.sha256, size: res.size, source: sourceRecord(target, res), ...(target.entry ? { entry: target.entry } : {}) });
      result = { sha256: res.sha256, size: res.size, path: cache.blobPath(res.sha256), record, fromCache: false };
    } else if (res.kind === "cached") {
      result = await hit(res.sha256, res);
    } else if (target.cachedSha256) {
      result = await hit(target.cachedSha256, res);
    }
    if (result) await evictToBudget(cache, agent.settings.cacheMaxBytes, [result.sha256]);
    return result;
  } finally {
    await lock.release();
  }
}

function sourceRecord(target: PullTarget, v: { etag?: string; lastModified?: string }): CacheSource {
  return { url: target.url, ...target.source, ...(v.etag ? { etag: v.etag } : {}), ...(v.lastModified ? { lastModified: v.lastModified } : {}), checkedAt: Date.now() };
}

/** How far another process's download of `key` has got (for the waiting process's progress). */
async function partialProgress(agent: AgentContext, key: string): Promise<{ bytes: number; total: number } | undefined> {
  const p = agent.cache.layout.partial(key);
  try {
    const [meta, st] = await Promise.all([readFile(p.meta, "utf8"), stat(p.data)]);
    const total = (JSON.parse(meta) as { size?: number }).size;
    return typeof total === "number" && total > 0 ? { bytes: Math.min(st.size, total), total } : undefined;
  } catch {
    return undefined;
  }
}
