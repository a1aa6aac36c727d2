/**
 * Stale-while-revalidate cache of remote catalogs, one slot per server, in isolate memory.
 *
 * - fresh (age < REMOTE_FRESH_SECONDS): served as is;
 * - stale (age < fresh + REMOTE_STALE_SECONDS): served at once, refreshed in the background via
 *   `ctx.waitUntil` (one refresh per slot at a time);
 * - missing/expired, or the request says `Cache-Control: no-cache`: fetched now (bounded by the timeout).
 * A failed refresh keeps the last good entries (reported with the error and `stale`).
 * Failures are cached like answers, so a hanging server costs one timeout per freshness window.
 *
 * Why memory and not the Cache API: the Cache API does nothing on workers.dev and in some local
 * modes; an isolate lives for many requests, and a cold isolate just fetches again. Promises are
 * never shared between requests (workerd forbids cross-request I/O), only settled results.
 */
import type { CatalogEntry, SourceInfo } from "../../shared/catalog";
import { fetchRemoteCatalog, type RemoteFetchOptions, type RemoteResult } from "./fetch";

interface Slot {
  result: RemoteResult;
  /** Last successful answer's entries, kept through failures until it expires. */
  lastGood: { entries: CatalogEntry[]; fetchedAt: number } | null;
  refreshingSince: number | null;
}

export interface CachePolicy {
  freshMs: number;
  staleMs: number;
  noCache: boolean;
  waitUntil: (p: Promise<unknown>) => void;
  now?: () => number;
}

export interface CachedRemote {
  result: RemoteResult;
  /** Entries older than the freshness window. */
  stale: boolean;
}

const slots = new Map<string, Slot>();

/** Forget everything (tests; config changes are keyed anyway). */
export function clearRemoteCache(): void {
  slots.clear();
}

const keyOf = (s: SourceInfo, o: RemoteFetchOptions) => JSON.stringify([s.id, s.url, s.name, s.color, o.timeoutMs, o.maxBytes]);

async function refresh(key: string, source: SourceInfo, o: RemoteFetchOptions, p: CachePolicy): Promise<Slot> {
  const fetched = await fetchRemoteCatalog(source, o);
  const prev = slots.get(key);
  const now = (p.now ?? Date.now)();
  const result = { ...fetched, fetchedAt: now };
  let lastGood = result.status === "ok" ? { entries: result.entries, fetchedAt: result.fetchedAt } : (prev?.lastGood ?? null);
  if (lastGood && now - lastGood.fetchedAt > p.freshMs + p.staleMs) lastGood = null;
  const slot: Slot = { result, lastGood, refreshingSince: null };
  slots.set(key, slot);
  return slot;
}

function view(slot: Slot, p: CachePolicy, now: number, justFetched = false): CachedRemote {
  const r = slot.result;
  if (r.status === "ok") return { result: r, stale: !justFetched && now - r.fetchedAt >= p.freshMs };
  if (slot.lastGood) return { result: { ...r, entries: slot.lastGood.entries }, stale: true };
  return { result: r, stale: false };
}

export async function getRemote(source: SourceInfo, o: RemoteFetchOptions, p: CachePolicy): Promise<CachedRemote> {
  const now = (p.now ?? Date.now)();
  const key = keyOf(source, o);
  const slot = slots.get(key);
  if (slot && !p.noCache) {
    const age = now - slot.result.fetchedAt;
    if (age < p.freshMs) return view(slot, p, now);
    if (age < p.freshMs + p.staleMs) {
      // a refresh stuck longer than the timeout (its request ended) may be retried
      if (slot.refreshingSince === null || now - slot.refreshingSince > o.timeoutMs + 1000) {
        slot.refreshingSince = now;
        p.waitUntil(
          refresh(key, source, o, p).catch(() => {
            slot.refreshingSince = null;
          }),
        );
      }
      return { ...view(slot, p, now), stale: true };
    }
  }
  return view(await refresh(key, source, o, p), p, (p.now ?? Date.now)(), true);
}
