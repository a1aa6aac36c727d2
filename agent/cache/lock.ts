import { hostname } from "node:os";
import { open, readFile, rm, stat } from "node:fs/promises";
import { PixelRtsError } from "../../shared/errors.js";
import { ioError, isErrno } from "../fsutil/index.js";

/** Contents of a lock file: who holds it. */
export interface LockInfo {
  pid: number;
  host: string;
  /** ms since epoch. */
  since: number;
  /** What is being done, for the waiting process's message. */
  what?: string;
}

export interface HeldLock {
  path: string;
  release(): Promise<void>;
}

/** Locks from another host are only presumed dead after this long without their file changing. */
const FOREIGN_STALE_MS = 10 * 60_000;
/** A break-lock left behind by a crash inside the tiny breaking window. */
const BREAKER_STALE_MS = 30_000;

export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return isErrno(e, "EPERM"); // exists, owned by someone else
  }
}

async function readLock(path: string): Promise<{ info?: LockInfo; raw: string; mtimeMs: number } | undefined> {
  try {
    const [raw, st] = await Promise.all([readFile(path, "utf8"), stat(path)]);
    let info: LockInfo | undefined;
    try {
      info = JSON.parse(raw) as LockInfo;
    } catch {
      info = undefined; // being written right now, or garbage
    }
    return { info, raw, mtimeMs: st.mtimeMs };
  } catch (e) {
    if (isErrno(e, "ENOENT")) return undefined;
    throw ioError(e, `cannot read lock ${path}`);
  }
}

function isStale(l: { info?: LockInfo; mtimeMs: number }, now = Date.now()): boolean {
  if (!l.info) return now - l.mtimeMs > BREAKER_STALE_MS; // unreadable for that long: its writer died
  if (l.info.host === hostname()) return !isProcessAlive(l.info.pid);
  return now - l.mtimeMs > FOREIGN_STALE_MS;
}

/**
 * One attempt at an exclusive lock (O_CREAT|O_EXCL). Returns the held lock, or who holds it.
 * A lock whose holder died is broken, but only under a second exclusive "breaker" file and after
 * re-reading it, so two processes breaking the same stale lock cannot delete each other's new one.
 */
export async function tryLock(path: string, what?: string): Promise<HeldLock | { heldBy: LockInfo | undefined }> {
  for (let round = 0; round < 3; round++) {
    try {
      const fh = await open(path, "wx", 0o644);
      const info: LockInfo = { pid: process.pid, host: hostname(), since: Date.now(), ...(what ? { what } : {}) };
      await fh.writeFile(JSON.stringify(info));
      await fh.close();
      let released = false;
      return {
        path,
        release: async () => {
          if (released) return;
          released = true;
          await rm(path, { force: true });
        },
      };
    } catch (e) {
      if (!isErrno(e, "EEXIST")) throw ioError(e, `cannot create lock ${path}`);
    }
    const cur = await readLock(path);
    if (!cur) continue; // released meanwhile: try again
    if (!isStale(cur)) return { heldBy: cur.info };
    await breakStale(path, cur.raw);
  }
  const cur = await readLock(path);
  return { heldBy: cur?.info };
}

async function breakStale(path: string, staleRaw: string): Promise<void> {
  const breaker = `${path}.break`;
  let fh;
  try {
    fh = await open(breaker, "wx");
  } catch (e) {
    if (!isErrno(e, "EEXIST")) throw ioError(e, `cannot create ${breaker}`);
    const st = await stat(breaker).catch(() => undefined);
    if (st && Date.now() - st.mtimeMs > BREAKER_STALE_MS) await rm(breaker, { force: true });
    return; // someone else is breaking it; the caller retries
  }
  try {
    const again = await readLock(path);
    if (again && again.raw === staleRaw) await rm(path, { force: true });
  } finally {
    await fh.close();
    await rm(breaker, { force: true });
  }
}

/** Takes the lock, waiting (polling) while another live process holds it; `onWait` is called on each poll. */
export async function acquireLock(
  path: string,
  opts: { what?: string; timeoutMs: number; pollMs?: number; signal?: AbortSignal; onWait?: (holder: LockInfo | undefined) => void | Promise<void> },
): Promise<HeldLock> {
  const start = Date.now();
  for (;;) {
    const r = await tryLock(path, opts.what);
    if ("release" in r) return r;
    if (Date.now() - start > opts.timeoutMs) {
      throw new PixelRtsError("E_LOCK_TIMEOUT", `gave up waiting for another pixelrts process${r.heldBy ? ` (pid ${r.heldBy.pid})` : ""} holding ${path}`, { lock: path, holder: r.heldBy });
    }
    await opts.onWait?.(r.heldBy);
    if (opts.signal?.aborted) throw opts.signal.reason;
    await new Promise((res) => setTimeout(res, opts.pollMs ?? 200));
  }
}
