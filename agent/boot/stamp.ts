/**
 * Verification stamps for cached containers: when a blob has been hashed (downloaded and verified,
 * or re-hashed), its stamp — size, mtime, ctime, inode and the digest — is recorded beside the
 * cache (`<cache>/v1/stamps/<sha256>.json`). A warm boot whose blob still has the same stamp
 * trusts it instead of re-reading the whole file; any write, chmod, truncation or replacement
 * changes the ctime (or the inode), so the next boot hashes again. `boot --verify` and
 * `cache verify` always re-hash.
 */
import { mkdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { CacheLayout, hashFile } from "../cache/index.js";
import { writeFileAtomic } from "../fsutil/index.js";
import { stampOf, type FileStamp } from "./unpack.js";

interface BlobStamp extends FileStamp {
  sha256: string;
}

function stampPath(cacheRoot: string, sha256: string): string {
  return join(new CacheLayout(cacheRoot).unpackedDir, "..", "stamps", `${sha256}.json`);
}

/** Records that `path` hashed to `sha256` as it is now. */
export async function recordStamp(cacheRoot: string, path: string, sha256: string): Promise<void> {
  const file = stampPath(cacheRoot, sha256);
  await mkdir(join(file, ".."), { recursive: true });
  await writeFileAtomic(file, new TextEncoder().encode(JSON.stringify({ sha256, ...(await stampOf(path)) } satisfies BlobStamp)));
}

/**
 * The SHA-256 of the cached blob at `path`, expected to be `sha256`: from its stamp when that
 * still matches (no read), else by hashing the file (and stamping it when it matched).
 */
export async function blobDigest(cacheRoot: string, path: string, sha256: string, opts: { rehash?: boolean } = {}): Promise<{ hex: string; hashed: boolean }> {
  if (!opts.rehash) {
    try {
      const s = JSON.parse(await readFile(stampPath(cacheRoot, sha256), "utf8")) as BlobStamp;
      const now = await stampOf(path);
      if (s.sha256 === sha256 && s.size === now.size && s.mtimeMs === now.mtimeMs && s.ctimeMs === now.ctimeMs && s.ino === now.ino) return { hex: sha256, hashed: false };
    } catch {
      // no stamp, or unreadable: hash
    }
  }
  const { hex } = await hashFile(path);
  if (hex === sha256) await recordStamp(cacheRoot, path, sha256).catch(() => {});
  else await rm(stampPath(cacheRoot, sha256), { force: true });
  return { hex, hashed: true };
}
