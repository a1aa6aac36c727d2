import { createHash, randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { open, readFile, rm, stat } from "node:fs/promises";
import { PixelRtsError, isPixelRtsError } from "../../shared/errors.js";
import { ioError, isErrno } from "../fsutil/index.js";

/** Contents of a lock file: who holds it. */
export interface LockInfo {
  pid: number;
  host: string;
  /** ms since epoch. */
  since: number;
  /** What is being done, for the waiting process's message. */
  what?: string;
  /**
   * Names this holding (`<pid>-<nonce>-<host hash>`): the holder's own files are named with it
   * (agent/pull/partials.ts), and only the holder whose token is in the file may remove it.
   * Absent in locks written by older versions.
   */
  token?: string;
}

export interface HeldLock {
  path: string;
  token: string;
  /** The holder whose lock was broken to take this one (it died, or stalled and was taken over). */
  replaced?: LockInfo;
  /** True while the lock file still names this holder (a waiter may take over a stalled download). */
  stillHeld(): Promise<boolean>;
  /** Removes the lock if it is still ours. */
  release(): Promise<void>;
}

/** A break-lock left behind by a crash inside the tiny breaking window, or a lock file unreadable this long. */
const BREAKER_STALE_MS = 30_000;

const HOST_TAG = createHash("sha256").update(hostname()).digest("hex").slice(0, 8);

/** A fresh token for this process. */
export function newLockToken(): string {
  return `${process.pid}-${randomBytes(4).toString("hex")}-${HOST_TAG}`;
}

/** Whether the process a token names is known to be gone (same host, pid not running). Foreign or unparseable: not known. */
export function tokenOwnerIsGone(token: string): boolean {
  const m = /^(\d+)-[0-9a-f]+-([0-9a-f]{8})$/.exec(token);
  return !!m && m[2] === HOST_TAG && !isProcessAlive(Number(m[1]));
}

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

/**
 * Dead for sure: a holder on this host whose pid is gone, or a file nobody finished writing.
 * A live holder that stalls, or one on another host, is the waiter's call (acquireLock's
 * `takeOver`), judged by its download's progress.
 */
function isDead(l: { info?: LockInfo; mtimeMs: number }, now = Date.now()): boolean {
  if (!l.info) return now - l.mtimeMs > BREAKER_STALE_MS;
  return l.info.host === hostname() && !isProcessAlive(l.info.pid);
}

export type TryLockResult = HeldLock | { heldBy: LockInfo | undefined; raw?: string };

/**
 * One attempt at an exclusive lock (O_CREAT|O_EXCL). Returns the held lock, or who holds it.
 * A lock whose holder died is broken first (see breakLock).
 */
export async function tryLock(path: string, what?: string): Promise<TryLockResult> {
  let replaced: LockInfo | undefined;
  for (let round = 0; round < 3; round++) {
    const token = newLockToken();
    try {
      const fh = await open(path, "wx", 0o644);
      const info: LockInfo = { pid: process.pid, host: hostname(), since: Date.now(), token, ...(what ? { what } : {}) };
      await fh.writeFile(JSON.stringify(info));
      await fh.close();
      return heldLock(path, token, replaced);
    } catch (e) {
      if (!isErrno(e, "EEXIST")) throw ioError(e, `cannot create lock ${path}`);
    }
    const cur = await readLock(path);
    if (!cur) continue; // released meanwhile: try again
    if (!isDead(cur)) return { heldBy: cur.info, raw: cur.raw };
    if (await breakLock(path, cur.raw)) replaced = cur.info;
  }
  const cur = await readLock(path);
  return { heldBy: cur?.info, ...(cur ? { raw: cur.raw } : {}) };
}

function heldLock(path: string, token: string, replaced: LockInfo | undefined): HeldLock {
  const stillHeld = async () => (await readLock(path).catch(() => undefined))?.info?.token === token;
  let released = false;
  return {
    path,
    token,
    ...(replaced ? { replaced } : {}),
    stillHeld,
    release: async () => {
      if (released) return;
      released = true;
      // (a takeover between this check and the rm would lose the new holder's lock: a third
      // process could then start its own download, in its own files; nothing is corrupted)
      if (await stillHeld()) await rm(path, { force: true });
    },
  };
}

/**
 * Removes the lock at `path` if it still reads `expectedRaw`, under a second exclusive
 * "breaker" file, so two processes breaking the same lock cannot delete each other's new one.
 * True when this call removed it.
 */
export async function breakLock(path: string, expectedRaw: string): Promise<boolean> {
  const breaker = `${path}.break`;
  let fh;
  try {
    fh = await open(breaker, "wx");
  } catch (e) {
    if (!isErrno(e, "EEXIST")) throw ioError(e, `cannot create ${breaker}`);
    const st = await stat(breaker).catch(() => undefined);
    if (st && Date.now() - st.mtimeMs > BREAKER_STALE_MS) await rm(breaker, { force: true });
    return false; // someone else is breaking it; the caller retries
  }
  try {
    const again = await readLock(path);
    if (!again || again.raw !== expectedRaw) return false;
    await rm(path, { force: true });
    return true;
  } finally {
    await fh.close();
    await rm(breaker, { force: true });
  }
}

function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

export interface AcquireOptions {
  what?: string;
  /** Longest wait, then E_LOCK_TIMEOUT. */
  timeoutMs: number;
  pollMs?: number;
  /** Ends the wait with its reason (a PixelRtsError), or E_INTERRUPTED. */
  signal?: AbortSignal;
  /** Called on each poll while another live process holds the lock. */
  onWait?: (holder: LockInfo | undefined) => void | Promise<void>;
  /** Asked on each poll: true breaks the live holder's lock and takes it (a stalled download). */
  takeOver?: (holder: LockInfo) => boolean | Promise<boolean>;
}

/**
 * Takes the lock, waiting (polling every `pollMs`) while another live process holds it. A
 * holder that died is replaced at once; one that `takeOver` judges stalled is replaced too.
 */
export async function acquireLock(path: string, opts: AcquireOptions): Promise<HeldLock> {
  const start = Date.now();
  let tookOver: LockInfo | undefined;
  try {
    for (;;) {
      const r = await tryLock(path, opts.what);
      if ("release" in r) return tookOver && !r.replaced ? { ...r, replaced: tookOver } : r;
      if (Date.now() - start > opts.timeoutMs) {
        throw new PixelRtsError("E_LOCK_TIMEOUT", `gave up waiting for another pixelrts process${r.heldBy ? ` (pid ${r.heldBy.pid})` : ""} holding ${path}`, { lock: path, holder: r.heldBy });
      }
      await opts.onWait?.(r.heldBy);
      if (opts.signal?.aborted) throw opts.signal.reason;
      if (r.heldBy && r.raw !== undefined && opts.takeOver && (await opts.takeOver(r.heldBy))) {
        if (await breakLock(path, r.raw)) tookOver = r.heldBy;
        continue;
      }
      await delay(opts.pollMs ?? 200, opts.signal);
    }
  } catch (e) {
    if (opts.signal?.aborted && e === opts.signal.reason && !isPixelRtsError(e)) throw new PixelRtsError("E_INTERRUPTED", "interrupted while waiting for another pixelrts process", { lock: path }, { cause: e });
    throw e;
  }
}
