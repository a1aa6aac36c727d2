import { randomBytes } from "node:crypto";
import { chmod, mkdir, open, readdir, readFile, rename, rm, stat } from "node:fs/promises";
import { PixelRtsError } from "../../shared/errors.js";
import { isSha256Hex } from "../../shared/catalog.js";
import { fsyncDir, ioError, isErrno, writeFileAtomic } from "../fsutil/index.js";
import { decodeEntry, encodeEntry, mergeSource, type CacheEntry, type CacheSource } from "./entry.js";
import { CacheLayout } from "./layout.js";
import { isProcessAlive } from "./lock.js";
import type { CatalogEntry } from "../../shared/catalog.js";

export interface CommitInfo {
  sha256: string;
  size: number;
  source: CacheSource;
  entry?: CatalogEntry;
}

/**
 * The content-addressed store: verified blobs named by SHA-256 plus one index file per blob.
 * It never hashes: callers hand it files they verified (agent/pull) and `verify` re-checks.
 * All writes are temp file + rename, so a crash leaves either the old state or the new one.
 */
export class ContentCache {
  readonly layout: CacheLayout;
  private ready?: Promise<void>;

  constructor(readonly root: string) {
    this.layout = new CacheLayout(root);
  }

  init(): Promise<void> {
    this.ready ??= (async () => {
      try {
        for (const d of this.layout.allDirs()) await mkdir(d, { recursive: true });
      } catch (e) {
        this.ready = undefined;
        throw ioError(e, `cannot create the cache at ${this.root}`);
      }
    })();
    return this.ready;
  }

  blobPath(hex: string): string {
    return this.layout.blob(hex);
  }

  /** The index record, if any (even when its blob is missing; see `get`). */
  async readEntry(hex: string): Promise<CacheEntry | undefined> {
    let text: string;
    try {
      text = await readFile(this.layout.index(hex), "utf8");
    } catch (e) {
      if (isErrno(e, "ENOENT")) return undefined;
      throw ioError(e, "cannot read the cache index");
    }
    return decodeEntry(text, hex);
  }

  /** A usable cached item: a valid index record whose blob exists with the recorded size. */
  async get(hex: string): Promise<CacheEntry | undefined> {
    if (!isSha256Hex(hex)) return undefined;
    const e = await this.readEntry(hex);
    if (!e) return undefined;
    const st = await stat(this.layout.blob(hex)).catch(() => undefined);
    return st && st.size === e.size ? e : undefined;
  }

  async writeEntry(e: CacheEntry): Promise<void> {
    await this.init();
    await writeFileAtomic(this.layout.index(e.sha256), encodeEntry(e), this.layout.tmpDir);
  }

  /** Every index record that decodes (corrupt ones are verify's business), unordered. */
  async list(): Promise<CacheEntry[]> {
    await this.init();
    const out: CacheEntry[] = [];
    for (const hex of await this.indexedHexes()) {
      const e = await this.readEntry(hex);
      if (e) out.push(e);
    }
    return out;
  }

  /** Hex names that have an index file (valid or not). */
  async indexedHexes(): Promise<string[]> {
    return this.namesIn(this.layout.indexDir, (f) => (f.endsWith(".json") ? f.slice(0, -5) : undefined));
  }

  /** Hex names that have a blob file. */
  async blobHexes(): Promise<string[]> {
    return this.namesIn(this.layout.blobsDir, (f) => f);
  }

  private async namesIn(dir: string, pick: (file: string) => string | undefined): Promise<string[]> {
    const out: string[] = [];
    const shards = await readdir(dir).catch((e) => (isErrno(e, "ENOENT") ? [] : Promise.reject(ioError(e, `cannot list ${dir}`))));
    for (const shard of shards) {
      if (!/^[0-9a-f]{2}$/.test(shard)) continue;
      for (const f of await readdir(`${dir}/${shard}`).catch(() => [] as string[])) {
        const hex = pick(f);
        if (hex && isSha256Hex(hex) && hex.startsWith(shard)) out.push(hex);
      }
    }
    return out;
  }

  /**
   * Cached items matching a user's reference: a full or ≥8-digit SHA-256 prefix (optionally
   * `sha256:`-prefixed), a catalog id, or a name (optionally restricted to one server).
   */
  async resolve(ref: string, server?: string): Promise<CacheEntry[]> {
    const r = ref.replace(/^sha256:/, "").toLowerCase();
    const all = await this.list();
    if (/^[0-9a-f]{8,64}$/.test(r)) {
      const byHash = all.filter((e) => e.sha256.startsWith(r));
      if (byHash.length) return byHash;
    }
    const bySource = (key: "id" | "name") =>
      all.filter((e) => e.sources.some((s) => s[key] === ref && (server === undefined || s.server === server)));
    const byId = bySource("id");
    return byId.length ? byId : bySource("name");
  }

  /**
   * Moves a verified temp file into place and records it. The verified bytes always replace
   * whatever sits at the blob path (rename is atomic, and an old file there was never re-checked),
   * and the index entry is merged.
   */
  async commit(tmpPath: string, info: CommitInfo): Promise<CacheEntry> {
    await this.init();
    const blob = this.layout.blob(info.sha256);
    try {
      await mkdir(blob.slice(0, blob.lastIndexOf("/")), { recursive: true });
      await chmod(tmpPath, 0o444);
      await rename(tmpPath, blob);
      await fsyncDir(blob.slice(0, blob.lastIndexOf("/")));
    } catch (e) {
      await rm(tmpPath, { force: true }).catch(() => {});
      throw ioError(e, "cannot move the download into the cache");
    }
    const now = Date.now();
    const prev = await this.readEntry(info.sha256);
    const entry: CacheEntry = {
      v: 1,
      sha256: info.sha256,
      size: info.size,
      addedAt: prev?.addedAt ?? now,
      lastAccess: now,
      verifiedAt: now,
      pinned: prev?.pinned ?? false,
      sources: mergeSource(prev?.sources ?? [], info.source),
      ...(info.entry ?? prev?.entry ? { entry: info.entry ?? prev?.entry } : {}),
    };
    await this.writeEntry(entry);
    return entry;
  }

  /** Read-modify-write of one record (last writer wins; every field is a hint except sha256/size). */
  async update(hex: string, patch: (e: CacheEntry) => CacheEntry): Promise<CacheEntry> {
    const e = await this.get(hex);
    if (!e) throw new PixelRtsError("E_NOT_CACHED", `${hex.slice(0, 12)} is not in the cache`);
    const next = patch(e);
    await this.writeEntry(next);
    return next;
  }

  touch(hex: string, source?: CacheSource, entry?: CatalogEntry): Promise<CacheEntry> {
    return this.update(hex, (e) => ({
      ...e,
      lastAccess: Date.now(),
      ...(source ? { sources: mergeSource(e.sources, source) } : {}),
      ...(entry ? { entry } : {}),
    }));
  }

  setPinned(hex: string, pinned: boolean): Promise<CacheEntry> {
    return this.update(hex, (e) => ({ ...e, pinned }));
  }

  /** Index first, then blob: a crash in between leaves an orphan blob (gc/verify handle it), never an entry without bytes. */
  async remove(hex: string): Promise<void> {
    await rm(this.layout.index(hex), { force: true });
    await rm(this.layout.blob(hex), { force: true });
    await rm(this.layout.signatures(hex), { force: true });
  }

  /** Marks a blob as in use by this process until the returned function is called (boot holds this). */
  async acquireUse(hex: string): Promise<() => Promise<void>> {
    await this.init();
    const marker = `${this.layout.inUseDir}/${hex}.${process.pid}.${randomBytes(4).toString("hex")}`;
    const fh = await open(marker, "wx").catch((e) => Promise.reject(ioError(e, "cannot mark cache item in use")));
    await fh.close();
    return () => rm(marker, { force: true });
  }

  /** Hexes in use by live processes; markers of dead processes are removed on the way. */
  async inUse(): Promise<Set<string>> {
    const out = new Set<string>();
    const files = await readdir(this.layout.inUseDir).catch(() => [] as string[]);
    for (const f of files) {
      const [hex, pid] = f.split(".");
      if (!hex || !pid) continue;
      if (isProcessAlive(Number(pid))) out.add(hex);
      else await rm(`${this.layout.inUseDir}/${f}`, { force: true });
    }
    return out;
  }

  /** A temp path inside the cache (same filesystem as blobs/). */
  tempPath(label: string): string {
    return `${this.layout.tmpDir}/${label}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`;
  }
}
