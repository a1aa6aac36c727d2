/**
 * Who may write a partial download. A download in progress lives in files named with its lock
 * holder's token (`<key>.<token>.work`, `.work.json`); at rest it is `<key>.part`, `.part.json`.
 * No process ever writes another's files, so taking over a download from a holder that stalled
 * (alive, perhaps to wake up later and write again) cannot mix its bytes into ours:
 *
 * - claim (under the lock): the largest partial of the key becomes ours — renamed when nobody can
 *   write it any more (at rest, or its owner's pid is gone), copied when its owner may be alive;
 * - release (after the download): bytes left over go back to rest when the lock is still ours,
 *   else they are dropped (whoever took over copied them already).
 */
import { copyFile, readdir, rename, rm, stat, statfs } from "node:fs/promises";
import type { CacheLayout } from "../cache/layout.js";
import { tokenOwnerIsGone, type LockInfo } from "../cache/lock.js";
import { ioError, isErrno } from "../fsutil/index.js";
import type { PartialPaths } from "./download.js";

interface Candidate extends PartialPaths {
  size: number;
  /** Nobody can be writing it: at rest, or its owner is gone. */
  idle: boolean;
}

async function candidates(layout: CacheLayout, key: string, token: string): Promise<Candidate[]> {
  const files = await readdir(layout.partialDir).catch(() => [] as string[]);
  const out: Candidate[] = [];
  for (const f of files) {
    if (!f.startsWith(`${key}.`)) continue;
    let paths: PartialPaths;
    let idle: boolean;
    if (f === `${key}.part`) {
      paths = layout.partial(key);
      idle = true;
    } else {
      const m = /^[0-9a-f]{64}\.([\w-]+)\.work$/.exec(f);
      if (!m || m[1] === token) continue;
      paths = layout.work(key, m[1]!);
      idle = tokenOwnerIsGone(m[1]!);
    }
    const st = await stat(paths.data).catch(() => undefined);
    if (st) out.push({ ...paths, size: st.size, idle });
  }
  // the most bytes first; among equals, one nobody writes (a rename, not a copy)
  return out.sort((a, b) => b.size - a.size || Number(b.idle) - Number(a.idle));
}

async function freeBytes(dir: string): Promise<number> {
  const fs = await statfs(dir).catch(() => undefined);
  return fs ? fs.bavail * fs.bsize : Infinity;
}

async function moveOrCopy(from: string, to: string, move: boolean): Promise<void> {
  try {
    if (move) await rename(from, to);
    else await copyFile(from, to);
  } catch (e) {
    if (!isErrno(e, "ENOENT")) throw ioError(e, `cannot take over ${from}`);
  }
}

/** Makes the key's best partial download this holder's own; returns its (possibly empty) paths. */
export async function claimPartial(layout: CacheLayout, key: string, token: string): Promise<PartialPaths> {
  const mine = layout.work(key, token);
  const [best, ...rest] = await candidates(layout, key, token);
  // A copy (the other holder may still be alive) needs room for a second copy of its bytes: when
  // the disk has none, this download starts from byte 0 instead of filling the disk.
  if (best && (best.idle || (await freeBytes(layout.partialDir)) > best.size * 2)) {
    // validators first: a data file without them is dropped as unresumable, never trusted
    await moveOrCopy(best.meta, mine.meta, best.idle);
    await moveOrCopy(best.data, mine.data, best.idle);
  }
  for (const c of rest) if (c.idle) await Promise.all([rm(c.data, { force: true }), rm(c.meta, { force: true })]);
  return mine;
}

/** Once the object is cached: partial downloads of it that nobody writes any more are garbage. */
export async function dropIdlePartials(layout: CacheLayout, key: string, token: string): Promise<void> {
  for (const c of await candidates(layout, key, token)) if (c.idle) await Promise.all([rm(c.data, { force: true }), rm(c.meta, { force: true })]);
}

/** After the download: leftover bytes go back to rest while the lock is ours, else they are dropped. */
export async function releasePartial(layout: CacheLayout, key: string, mine: PartialPaths, stillHeld: boolean): Promise<void> {
  const has = await stat(mine.data).then(
    () => true,
    () => false,
  );
  if (!has || !stillHeld) {
    await Promise.all([rm(mine.data, { force: true }), rm(mine.meta, { force: true })]);
    return;
  }
  const rest = layout.partial(key);
  await rm(rest.meta, { force: true });
  await moveOrCopy(mine.data, rest.data, true);
  await moveOrCopy(mine.meta, rest.meta, true);
}

/** Where a lock holder keeps its download (older versions, with no token, wrote `<key>.part`). */
export function holderPaths(layout: CacheLayout, key: string, holder: LockInfo | undefined): PartialPaths {
  return holder?.token ? layout.work(key, holder.token) : layout.partial(key);
}
