import { hostname } from "node:os";
import { readdir, readFile, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import type { ContentCache } from "./cache.js";
import type { CacheEntry } from "./entry.js";
import { hashFile } from "./hash-file.js";
import { CacheLayout } from "./layout.js";
import { isProcessAlive, type LockInfo } from "./lock.js";

/** What one maintenance step did. `items` are SHA-256s or file names. */
export interface StepReport {
  step: string;
  removed: number;
  freedBytes: number;
  items: string[];
}

export interface GcReport {
  steps: StepReport[];
  totalBytes: number;
  budgetBytes: number;
}

/** Temp files younger than this may belong to a live process (an atomic write in progress). */
const TMP_MAX_AGE_MS = 60 * 60_000;
/** A blob without an index record this young may be a commit between its two renames. */
const ORPHAN_MIN_AGE_MS = 10 * 60_000;
/** Resumable partial downloads are kept this long. */
const PARTIAL_MAX_AGE_MS = 7 * 24 * 3600_000;
/** Unpacked boot files not used for this long are removed by gc (they are re-extracted on demand). */
const UNPACKED_MAX_AGE_MS = 30 * 24 * 3600_000;

const step = (name: string): StepReport => ({ step: name, removed: 0, freedBytes: 0, items: [] });

async function filesIn(dir: string): Promise<string[]> {
  return readdir(dir).catch(() => [] as string[]);
}

async function removeFile(report: StepReport, path: string, label: string): Promise<void> {
  const st = await stat(path).catch(() => undefined);
  await rm(path, { force: true });
  report.removed++;
  report.freedBytes += st?.size ?? 0;
  report.items.push(label);
}

async function staleLocks(cache: ContentCache): Promise<StepReport> {
  const r = step("stale-locks");
  for (const f of await filesIn(cache.layout.locksDir)) {
    const p = join(cache.layout.locksDir, f);
    const info = await readFile(p, "utf8").then((t) => JSON.parse(t) as LockInfo).catch(() => undefined);
    if (info && info.host === hostname() && !isProcessAlive(info.pid)) await removeFile(r, p, f);
  }
  return r;
}

/** Keys that have a lock file (gc removes the locks of dead holders in its first step; clear does not). */
async function activeKeys(cache: ContentCache): Promise<Set<string>> {
  const out = new Set<string>();
  for (const f of await filesIn(cache.layout.locksDir)) if (f.endsWith(".lock")) out.add(f.slice(0, -5));
  return out;
}

async function oldTemp(cache: ContentCache, now: number): Promise<StepReport> {
  const r = step("temp-files");
  for (const f of await filesIn(cache.layout.tmpDir)) {
    const p = join(cache.layout.tmpDir, f);
    const st = await stat(p).catch(() => undefined);
    if (st && now - st.mtimeMs > TMP_MAX_AGE_MS) await removeFile(r, p, f);
  }
  const active = await activeKeys(cache);
  for (const f of await filesIn(cache.layout.partialDir)) {
    const key = CacheLayout.partialKeyOf(f);
    if (key && active.has(key)) continue;
    const p = join(cache.layout.partialDir, f);
    const st = await stat(p).catch(() => undefined);
    if (st && now - st.mtimeMs > PARTIAL_MAX_AGE_MS) await removeFile(r, p, f);
  }
  return r;
}

/** Unpacked boot files are derived data: unused for UNPACKED_MAX_AGE_MS (or a crashed staging dir) → removed. */
async function oldUnpacked(cache: ContentCache, now: number, maxAgeMs = UNPACKED_MAX_AGE_MS): Promise<StepReport> {
  const r = step("unpacked");
  for (const d of await filesIn(cache.layout.unpackedDir)) {
    const p = join(cache.layout.unpackedDir, d);
    const marker = d.endsWith(".tmp") ? p : join(p, "manifest.json");
    const st = await stat(marker).catch(() => undefined);
    const age = st ? now - st.mtimeMs : Infinity;
    if (age <= (d.endsWith(".tmp") ? TMP_MAX_AGE_MS : maxAgeMs)) continue;
    const size = await dirSize(p);
    await rm(p, { recursive: true, force: true });
    r.removed++;
    r.freedBytes += size;
    r.items.push(`unpacked/${d}`);
  }
  return r;
}

async function dirSize(dir: string): Promise<number> {
  let total = 0;
  for (const f of await filesIn(dir)) total += (await stat(join(dir, f)).catch(() => undefined))?.size ?? 0;
  return total;
}

/** Index records without their blob (or with a damaged record) go; blobs without a record go once old enough. */
async function danglingRecords(cache: ContentCache, now: number): Promise<StepReport> {
  const r = step("dangling");
  const indexed = new Set(await cache.indexedHexes());
  for (const hex of indexed) {
    const e = await cache.get(hex);
    if (!e) {
      await removeFile(r, cache.layout.index(hex), hex);
      const blob = cache.blobPath(hex);
      if (await stat(blob).catch(() => undefined)) await removeFile(r, blob, hex);
    }
  }
  for (const hex of await cache.blobHexes()) {
    if (indexed.has(hex)) continue;
    const st = await stat(cache.blobPath(hex)).catch(() => undefined);
    if (st && now - st.mtimeMs > ORPHAN_MIN_AGE_MS) await removeFile(r, cache.blobPath(hex), hex);
  }
  return r;
}

/**
 * Least-recently-used eviction down to `budgetBytes`. Pinned items, items in use by a live
 * process and `protect` (e.g. what the caller just pulled) are never evicted, even if that
 * leaves the cache over budget.
 */
export async function evictToBudget(cache: ContentCache, budgetBytes: number, protect: Iterable<string> = []): Promise<StepReport & { totalBytes: number }> {
  const r = step("evict-lru");
  const entries = await cache.list();
  let total = entries.reduce((n, e) => n + e.size, 0);
  if (total <= budgetBytes) return { ...r, totalBytes: total };
  const inUse = await cache.inUse();
  const keep = new Set(protect);
  const candidates = entries.filter((e) => !e.pinned && !inUse.has(e.sha256) && !keep.has(e.sha256)).sort((a, b) => a.lastAccess - b.lastAccess || a.addedAt - b.addedAt);
  for (const e of candidates) {
    if (total <= budgetBytes) break;
    await cache.remove(e.sha256);
    total -= e.size;
    r.removed++;
    r.freedBytes += e.size;
    r.items.push(e.sha256);
  }
  return { ...r, totalBytes: total };
}

/** `pixelrts cache gc`: named steps, each reporting what it removed. */
export async function gc(cache: ContentCache, budgetBytes: number, now = Date.now()): Promise<GcReport> {
  await cache.init();
  const steps: StepReport[] = [];
  await cache.inUse(); // drops markers of dead processes
  steps.push(await staleLocks(cache));
  steps.push(await oldTemp(cache, now));
  steps.push(await danglingRecords(cache, now));
  steps.push(await oldUnpacked(cache, now));
  const ev = await evictToBudget(cache, budgetBytes);
  const { totalBytes, ...evStep } = ev;
  steps.push(evStep);
  return { steps, totalBytes, budgetBytes };
}

export interface VerifyReport {
  checked: number;
  ok: number;
  bytesHashed: number;
  /** Removed items and why. */
  removed: { sha256: string; reason: string; size: number }[];
  /** Blobs whose record was missing or damaged, re-hashed and re-recorded. */
  adopted: string[];
}

/**
 * `pixelrts cache verify`: re-hashes every blob; a blob whose bytes do not match its name is
 * removed with its record; a good blob without a usable record gets a fresh minimal one.
 */
export async function verify(cache: ContentCache, onItem?: (hex: string, ok: boolean) => void): Promise<VerifyReport> {
  await cache.init();
  const rep: VerifyReport = { checked: 0, ok: 0, bytesHashed: 0, removed: [], adopted: [] };
  const hexes = new Set([...(await cache.indexedHexes()), ...(await cache.blobHexes())]);
  for (const hex of [...hexes].sort()) {
    const record = await cache.readEntry(hex);
    const blob = cache.blobPath(hex);
    const st = await stat(blob).catch(() => undefined);
    rep.checked++;
    if (!st) {
      await cache.remove(hex);
      rep.removed.push({ sha256: hex, reason: "blob missing", size: 0 });
      onItem?.(hex, false);
      continue;
    }
    const { hex: actual, bytes } = await hashFile(blob);
    rep.bytesHashed += bytes;
    if (actual !== hex) {
      await cache.remove(hex);
      rep.removed.push({ sha256: hex, reason: `content hash is ${actual.slice(0, 12)}…`, size: st.size });
      onItem?.(hex, false);
      continue;
    }
    const now = Date.now();
    if (!record || record.size !== st.size) {
      const e: CacheEntry = { v: 1, sha256: hex, size: st.size, addedAt: record?.addedAt ?? st.mtimeMs, lastAccess: record?.lastAccess ?? st.mtimeMs, verifiedAt: now, pinned: record?.pinned ?? false, sources: record?.sources ?? [], ...(record?.entry ? { entry: record.entry } : {}) };
      await cache.writeEntry(e);
      rep.adopted.push(hex);
    } else {
      await cache.writeEntry({ ...record, verifiedAt: now });
    }
    rep.ok++;
    onItem?.(hex, true);
  }
  return rep;
}

export interface ClearReport {
  removed: number;
  freedBytes: number;
  /** In use by a live process: left alone. */
  skippedInUse: string[];
}

/** `pixelrts cache clear`: removes every item (pinned too) except those in use, plus temp files and cached catalogs. */
export async function clear(cache: ContentCache): Promise<ClearReport> {
  await cache.init();
  const inUse = await cache.inUse();
  const rep: ClearReport = { removed: 0, freedBytes: 0, skippedInUse: [] };
  const hexes = new Set([...(await cache.indexedHexes()), ...(await cache.blobHexes())]);
  for (const hex of hexes) {
    if (inUse.has(hex)) {
      rep.skippedInUse.push(hex);
      continue;
    }
    const st = await stat(cache.blobPath(hex)).catch(() => undefined);
    await cache.remove(hex);
    rep.removed++;
    rep.freedBytes += st?.size ?? 0;
  }
  const active = await activeKeys(cache);
  for (const f of await filesIn(cache.layout.partialDir)) {
    const key = CacheLayout.partialKeyOf(f);
    if (key && active.has(key)) continue;
    const st = await stat(join(cache.layout.partialDir, f)).catch(() => undefined);
    rep.freedBytes += st?.size ?? 0;
    await rm(join(cache.layout.partialDir, f), { force: true });
  }
  for (const f of await filesIn(cache.layout.catalogsDir)) await rm(join(cache.layout.catalogsDir, f), { force: true });
  const unpacked = await oldUnpacked(cache, Date.now(), -1);
  rep.freedBytes += unpacked.freedBytes;
  return rep;
}
