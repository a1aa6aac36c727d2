import { randomBytes } from "node:crypto";
import { mkdir, open, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { PixelRtsError } from "../../shared/errors.js";

/** A unique temp name beside `target` (same filesystem, so rename is atomic). */
export function tempNameFor(target: string, dir = dirname(target)): string {
  return join(dir, `.${basename(target)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
}

/**
 * Writes `data` to `target` so a reader sees either the old file or the whole new one, never a
 * torn write: temp file in the same directory, fsync, rename, fsync the directory.
 */
export async function writeFileAtomic(target: string, data: string | Uint8Array, tmpDir?: string): Promise<void> {
  await mkdir(dirname(target), { recursive: true });
  const tmp = tempNameFor(target, tmpDir);
  let fh;
  try {
    fh = await open(tmp, "wx", 0o644);
    await fh.writeFile(data);
    await fh.sync();
    await fh.close();
    fh = undefined;
    await rename(tmp, target);
  } catch (e) {
    await fh?.close().catch(() => {});
    await rm(tmp, { force: true }).catch(() => {});
    throw ioError(e, `cannot write ${target}`);
  }
  await fsyncDir(dirname(target));
}

export async function fsyncDir(dir: string): Promise<void> {
  try {
    const fh = await open(dir, "r");
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch {
    // Some filesystems refuse fsync on a directory; the rename itself is still atomic.
  }
}

/** Maps a Node fs error to a stable code: a full disk is E_DISK_FULL, anything else E_IO. */
export function ioError(e: unknown, what: string): PixelRtsError {
  if (e instanceof PixelRtsError) return e;
  const code = (e as NodeJS.ErrnoException)?.code;
  if (code === "ENOSPC" || code === "EDQUOT") return new PixelRtsError("E_DISK_FULL", `${what}: no space left on device`, { errno: code }, { cause: e });
  return new PixelRtsError("E_IO", `${what}: ${(e as Error)?.message ?? String(e)}`, { errno: code }, { cause: e });
}

export function isErrno(e: unknown, code: string): boolean {
  return (e as NodeJS.ErrnoException)?.code === code;
}
