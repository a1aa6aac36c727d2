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
 * torn write: temp file in the same directory (or `tmpDir`), fsync, rename, fsync the directory.
 * On any error the temp file is removed; file-system errors get their code (ioError), anything
 * else (an encoder failing mid-stream) is passed on as it is. Returns the bytes written.
 */
export async function writeFileAtomic(target: string, data: string | Uint8Array | AsyncIterable<Uint8Array>, tmpDir?: string): Promise<number> {
  const tmp = tempNameFor(target, tmpDir);
  let fh;
  try {
    await mkdir(dirname(target), { recursive: true });
    fh = await open(tmp, "wx", 0o644);
  } catch (e) {
    throw ioError(e, `cannot write ${target}`);
  }
  let written = 0;
  try {
    const parts = typeof data === "string" ? [Buffer.from(data)] : data instanceof Uint8Array ? [data] : data;
    for await (const part of parts) {
      let off = 0;
      while (off < part.length) {
        const { bytesWritten } = await fh.write(part, off, part.length - off);
        off += bytesWritten;
      }
      written += part.length;
    }
    await fh.sync();
    await fh.close();
    fh = undefined;
    await rename(tmp, target);
  } catch (e) {
    await fh?.close().catch(() => {});
    await rm(tmp, { force: true }).catch(() => {});
    throw (e as NodeJS.ErrnoException)?.code ? ioError(e, `cannot write ${target}`) : e;
  }
  await fsyncDir(dirname(target));
  return written;
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

const ERRNO_TEXT: Record<string, string> = {
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  EROFS: "read-only file system",
  ELOOP: "too many levels of symbolic links (a symlink loop)",
  EISDIR: "is a directory",
  ENOTDIR: "a part of the path is not a directory",
  ENAMETOOLONG: "file name too long",
  EMFILE: "too many open files",
};

/**
 * A file-system error as a stable code: a full disk is E_DISK_FULL, anything else (permissions,
 * a read-only file system, a symlink loop, a file the cache expected ...) E_IO naming the cause.
 * PixelRtsErrors pass through.
 */
export function ioError(e: unknown, what: string): PixelRtsError {
  if (e instanceof PixelRtsError) return e;
  const errno = (e as NodeJS.ErrnoException)?.code ?? "";
  const details = { errno };
  if (errno === "ENOSPC" || errno === "EDQUOT") return new PixelRtsError("E_DISK_FULL", `${what}: no space left on device`, details, { cause: e });
  return new PixelRtsError("E_IO", `${what}: ${ERRNO_TEXT[errno] ?? (e as Error)?.message ?? String(e)}${errno ? ` (${errno})` : ""}`, details, { cause: e });
}

/** Like ioError, for files the user named: a missing one is E_NOT_FOUND. */
export function fileError(e: unknown, what: string): PixelRtsError {
  if ((e as NodeJS.ErrnoException)?.code === "ENOENT" && !(e instanceof PixelRtsError)) {
    return new PixelRtsError("E_NOT_FOUND", `${what}: no such file or directory`, { errno: "ENOENT" }, { cause: e });
  }
  return ioError(e, what);
}

export function isErrno(e: unknown, code: string): boolean {
  return (e as NodeJS.ErrnoException)?.code === code;
}
