/**
 * Stale-while-revalidate cache of remote catalogs, one slot per server, in two levels: isolate
 * memory, and the D1 table `remote_cache` (so a cold isolate, or another one, does not ask the
 * remotes again while their answers are fresh).
 *
 * - fresh (age < REMOTE_FRESH_SECONDS): served as is, no subrequest;
 * - stale (age < fresh + REMOTE_STALE_SECONDS): served at once, refreshed in the background via
 *   `ctx.waitUntil` (one refresh per slot and isolate at a time): one subrequest;
 * - missing/expired, or the request says `Cache-Control: no-cache`: fetched now (bounded by the
 *   timeout): one subrequest.
 * A failed refresh keeps the last good entries (reported with the error and `stale`). Failures
 * are cached like answers, so a hanging server costs one timeout per freshness window.
 * Memory slots missing or not fresh are looked up in D1 with one query for all sources; a
 * refreshed slot is written back in one batch. Promises are never shared between requests
 * (workerd forbids cross-request I/O), only settled results.
 */
import { toHex } from "../../shared/bytes";
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
  /** The second level (D1); none = memory only. */
  db?: D1Database | null;
}

export interface CachedRemote {
  result: RemoteResult;
  /** Entries older than the freshness window. */
  stale: boolean;
}

const slots = new Map<string, Slot>();

/** Forget the memory level (tests simulate a cold isolate; config changes are keyed anyway). */
export function clearRemoteCache(): void {
  slots.clear();
}

const keyOf = (s: SourceInfo, o: RemoteFetchOptions) => JSON.stringify([s.id, s.url, s.name, s.color, o.timeoutMs, o.maxBytes, o.maxEntries ?? null, o.thumbnailBudget ?? null]);

async function rowKey(key: string): Promise<string> {
  return toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(key)))).slice(0, 32);
}

/** A slot not written for this long belongs to no configured source any more. */
const ORPHAN_SLOT_MS = 30 * 86_400_000;

/** D1 rows are at most 2 MB: entries are written in parts of at most this many characters. */
const PART_CHARS = 1_500_000;

interface HeadRow {
  status: RemoteResult["status"];
  error: RemoteResult["error"];
  latencyMs: number | null;
  fetchedAt: number;
  thumbnailsDropped?: number;
  lastGoodAt: number | null;
  parts: number;
}

async function saveSlot(db: D1Database, key: string, slot: Slot): Promise<void> {
  const k = await rowKey(key);
  const parts: string[] = [];
  let cur: string[] = [];
  let size = 2;
  for (const e of slot.lastGood?.entries ?? []) {
    const json = JSON.stringify(e);
    if (cur.length && size + json.length > PART_CHARS) {
      parts.push(`[${cur.join(",")}]`);
      cur = [];
      size = 2;
    }
    cur.push(json);
    size += json.length + 1;
  }
  if (cur.length) parts.push(`[${cur.join(",")}]`);
  const r = slot.result;
  const head: HeadRow = { status: r.status, error: r.error, latencyMs: r.latencyMs, fetchedAt: r.fetchedAt, thumbnailsDropped: r.thumbnailsDropped, lastGoodAt: slot.lastGood?.fetchedAt ?? null, parts: parts.length };
  const insert = "INSERT INTO remote_cache (source_key, part, fetched_ms, body) VALUES (?1, ?2, ?3, ?4)";
  await db.batch([
    db.prepare("DELETE FROM remote_cache WHERE source_key = ?1").bind(k),
    // slots no request has written for a month: sources removed or reconfigured (the key hashes their settings)
    db.prepare("DELETE FROM remote_cache WHERE fetched_ms < ?1").bind(r.fetchedAt - ORPHAN_SLOT_MS),
    db.prepare(insert).bind(k, 0, r.fetchedAt, JSON.stringify(head)),
    ...parts.map((p, i) => db.prepare(insert).bind(k, i + 1, r.fetchedAt, p)),
  ]);
}

/** The D1 level's slots for `keys` (one query for all of them). */
async function loadSlots(db: D1Database, keys: { key: string; source: SourceInfo }[]): Promise<Map<string, Slot>> {
  const out = new Map<string, Slot>();
  if (!keys.length) return out;
  const byRow = new Map<string, { key: string; source: SourceInfo }>();
  for (const k of keys) byRow.set(await rowKey(k.key), k);
  const { results } = await db
    .prepare("SELECT source_key, part, body FROM remote_cache WHERE source_key IN (SELECT value FROM json_each(?1)) ORDER BY source_key, part")
    .bind(JSON.stringify([...byRow.keys()]))
    .all<{ source_key: string; part: number; body: string }>();
  const grouped = new Map<string, { head?: HeadRow; parts: string[] }>();
  for (const row of results) {
    const g = grouped.get(row.source_key) ?? { parts: [] };
    if (row.part === 0) g.head = JSON.parse(row.body) as HeadRow;
    else g.parts.push(row.body);
    grouped.set(row.source_key, g);
  }
  for (const [rk, g] of grouped) {
    const k = byRow.get(rk);
    if (!k || !g.head || g.parts.length !== g.head.parts) continue; // a half-written slot: ignore it
    const entries = g.parts.flatMap((p) => JSON.parse(p) as CatalogEntry[]).map((e) => ({ ...e, source: k.source }));
    const h = g.head;
    const lastGood = h.lastGoodAt !== null ? { entries, fetchedAt: h.lastGoodAt } : null;
    const result: RemoteResult = {
      source: k.source,
      status: h.status,
      error: h.error,
      latencyMs: h.latencyMs,
      fetchedAt: h.fetchedAt,
      entries: h.status === "ok" ? entries : [],
      ...(h.thumbnailsDropped ? { thumbnailsDropped: h.thumbnailsDropped } : {}),
    };
    out.set(k.key, { result, lastGood, refreshingSince: null });
  }
  return out;
}

async function refresh(key: string, source: SourceInfo, o: RemoteFetchOptions, p: CachePolicy): Promise<Slot> {
  const fetched = await fetchRemoteCatalog(source, o);
  const prev = slots.get(key);
  const now = (p.now ?? Date.now)();
  const result = { ...fetched, fetchedAt: now };
  let lastGood = result.status === "ok" ? { entries: result.entries, fetchedAt: result.fetchedAt } : (prev?.lastGood ?? null);
  if (lastGood && now - lastGood.fetchedAt > p.freshMs + p.staleMs) lastGood = null;
  const slot: Slot = { result, lastGood, refreshingSince: null };
  slots.set(key, slot);
  if (p.db) await saveSlot(p.db, key, slot).catch((e) => console.error(`remote cache: ${source.id} not saved to D1`, e));
  return slot;
}

function view(slot: Slot, p: CachePolicy, now: number, justFetched = false): CachedRemote {
  const r = slot.result;
  if (r.status === "ok") return { result: r, stale: !justFetched && now - r.fetchedAt >= p.freshMs };
  if (slot.lastGood) return { result: { ...r, entries: slot.lastGood.entries }, stale: true };
  return { result: r, stale: false };
}

async function getOne(key: string, source: SourceInfo, o: RemoteFetchOptions, p: CachePolicy): Promise<CachedRemote> {
  const now = (p.now ?? Date.now)();
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

/** One remote, through both levels. */
export async function getRemote(source: SourceInfo, o: RemoteFetchOptions, p: CachePolicy): Promise<CachedRemote> {
  return (await getRemotes([source], o, p))[0]!;
}

/** Every remote of a request: the D1 level is read once for all sources not fresh in memory. */
export async function getRemotes(sources: readonly SourceInfo[], o: RemoteFetchOptions, p: CachePolicy): Promise<CachedRemote[]> {
  const now = (p.now ?? Date.now)();
  const keys = sources.map((source) => ({ key: keyOf(source, o), source }));
  if (p.db && !p.noCache) {
    const want = keys.filter((k) => {
      const s = slots.get(k.key);
      return !s || now - s.result.fetchedAt >= p.freshMs;
    });
    try {
      const loaded = await loadSlots(p.db, want);
      for (const [key, slot] of loaded) {
        const mem = slots.get(key);
        if (!mem || mem.result.fetchedAt < slot.result.fetchedAt) slots.set(key, { ...slot, refreshingSince: mem?.refreshingSince ?? null });
      }
    } catch (e) {
      console.error("remote cache: D1 level unavailable", e);
    }
  }
  return Promise.all(keys.map((k) => getOne(k.key, k.source, o, p)));
}
