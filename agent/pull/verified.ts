/**
 * What boot and serve use before handing a container to QEMU: `ensureCached`, then a copy that
 * came from the cache is checked again — by its verification stamp (size, mtime, ctime, inode,
 * digest) when that still matches, else by hashing it (always with `rehash`). A copy damaged on
 * disk is removed and fetched once more; damaged twice is E_HASH_MISMATCH.
 */
import { fail } from "../../shared/errors.js";
import { blobDigest } from "../boot/stamp.js";
import type { AgentContext } from "../context.js";
import type { EnsureResult } from "./ensure.js";

export interface VerifiedOptions {
  rehash?: boolean;
  /**
   * Settles a fetched result and returns the digest of what is on disk; the default checks a
   * cached copy (stamp or hash) and takes a fresh download's verified digest. Boot passes one that
   * also finishes the decode it ran while the bytes arrived.
   */
  settle?: (got: EnsureResult) => Promise<string>;
  /** Told when a damaged cached copy was dropped (for a note). */
  onDamaged?: (message: string) => void;
}

/** `fetch` is the caller's ensureCached call (made again, afresh, after a damaged copy). */
export async function ensureVerified(agent: AgentContext, ref: string, fetch: () => Promise<EnsureResult>, opts: VerifiedOptions = {}): Promise<EnsureResult> {
  const settle = opts.settle ?? (async (got: EnsureResult) => (got.fromCache ? (await blobDigest(agent.paths.cacheDir, got.path, got.sha256, { rehash: opts.rehash === true })).hex : got.sha256));
  let got = await fetch();
  const actual = await settle(got);
  if (actual === got.sha256) return got;
  await got.release();
  await agent.cache.remove(got.sha256);
  opts.onDamaged?.(`the cached copy of ${ref} is damaged (sha256 ${actual}, expected ${got.sha256}); removed it, fetching it again`);
  got = await fetch();
  const again = await settle(got); // a fresh download was hashed as it streamed; boot's settle also finishes its decode
  if (again !== got.sha256) {
    await got.release();
    fail("E_HASH_MISMATCH", `Hash mismatch: expected ${got.sha256}, got ${again}`, { expected: got.sha256, actual: again });
  }
  return got;
}
