import { join } from "node:path";

/**
 * On-disk layout of the content cache. Everything of layout 1 lives under `<root>/v1/`; a future
 * incompatible layout gets `v2/` beside it instead of migrating files in place.
 *
 *   v1/blobs/sha256/ab/<hex>          verified container bytes, read-only, named by their SHA-256
 *   v1/index/ab/<hex>.json            one index entry per blob (source URLs, ETag, size, access, pin),
 *                                     written by temp file + rename and carrying its own checksum
 *   v1/partial/<key>.part             an interrupted download at rest, resumable
 *   v1/partial/<key>.part.json        its validators (URL, strong ETag, size, expected digest)
 *   v1/partial/<key>.<token>.work     the same while one process downloads it (its lock token);
 *   v1/partial/<key>.<token>.work.json  no other process ever writes these (agent/pull/partials.ts)
 *   v1/tmp/                           temp files (same filesystem as blobs/, so rename is atomic)
 *   v1/locks/<key>.lock               held while a process downloads <key> (pid, host, token inside)
 *   v1/inuse/<hex>.<pid>.<nonce>      a process is using blob <hex> (never evicted meanwhile)
 *   v1/catalogs/<server>.json         last catalog answer per server, for offline listing
 *   v1/signatures/ab/<hex>.json       the signature envelopes fetched with blob <hex> (offline boots verify them)
 *   v1/unpacked/<key>/                kernel/initrd/disk extracted for boot (derived: gc drops old ones)
 *
 * <key> is the expected SHA-256 when known in advance, else the SHA-256 of the URL.
 */
export const LAYOUT_VERSION = 1;

export class CacheLayout {
  readonly base: string;
  constructor(readonly root: string) {
    this.base = join(root, `v${LAYOUT_VERSION}`);
  }
  get blobsDir(): string {
    return join(this.base, "blobs", "sha256");
  }
  get indexDir(): string {
    return join(this.base, "index");
  }
  get partialDir(): string {
    return join(this.base, "partial");
  }
  get tmpDir(): string {
    return join(this.base, "tmp");
  }
  get locksDir(): string {
    return join(this.base, "locks");
  }
  get inUseDir(): string {
    return join(this.base, "inuse");
  }
  get unpackedDir(): string {
    return join(this.base, "unpacked");
  }
  get catalogsDir(): string {
    return join(this.base, "catalogs");
  }
  get signaturesDir(): string {
    return join(this.base, "signatures");
  }
  /** Interrupted multipart publishes, remembered for resuming (this user's, not a shared temp dir). */
  get uploadsDir(): string {
    return join(this.base, "uploads");
  }
  signatures(hex: string): string {
    return join(this.signaturesDir, hex.slice(0, 2), `${hex}.json`);
  }
  blob(hex: string): string {
    return join(this.blobsDir, hex.slice(0, 2), hex);
  }
  index(hex: string): string {
    return join(this.indexDir, hex.slice(0, 2), `${hex}.json`);
  }
  partial(key: string): { data: string; meta: string } {
    return { data: join(this.partialDir, `${key}.part`), meta: join(this.partialDir, `${key}.part.json`) };
  }
  /** The download of `key` by the lock holder `token` (see agent/cache/lock.ts). */
  work(key: string, token: string): { data: string; meta: string } {
    return { data: join(this.partialDir, `${key}.${token}.work`), meta: join(this.partialDir, `${key}.${token}.work.json`) };
  }
  /** The key a file in partialDir belongs to (`<key>.part`, `<key>.<token>.work.json`, …). */
  static partialKeyOf(file: string): string | undefined {
    const m = /^([0-9a-f]{64})\.(?:part|part\.json|[\w-]+\.work|[\w-]+\.work\.json)$/.exec(file);
    return m ? m[1] : undefined;
  }
  lock(key: string): string {
    return join(this.locksDir, `${key}.lock`);
  }
  catalog(server: string): string {
    return join(this.catalogsDir, `${encodeURIComponent(server)}.json`);
  }
  allDirs(): string[] {
    return [this.blobsDir, this.indexDir, this.partialDir, this.tmpDir, this.locksDir, this.inUseDir, this.catalogsDir, this.signaturesDir];
  }
}
