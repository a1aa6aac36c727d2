/**
 * A cold boot that does not wait for the download to finish before decoding: while the pull
 * writes the container into its partial file, this follows the file as it grows (the pull's
 * progress events say how far it is written), hashes it in order and decodes it straight into
 * staging files for the boot segments (agent/boot/unpack.ts, constant memory). Nothing is kept
 * unless everything verified: the pull's whole-file SHA-256, this reader's SHA-256 of the very
 * bytes it decoded (the same value: the decode saw exactly the verified file), and data_hash and
 * every segment hash over the files written. Only then is the staging directory renamed to the
 * container's unpacked directory, where `unpackForBoot` finds it. On anything unusual (a resumed
 * or restarted download, compressed payloads, an error) it steps aside and the boot unpacks from
 * the cached file as before.
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdir, open, rm, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { CacheLayout } from "../cache/index.js";
import type { PullEvent, PullEventSink } from "../progress/events.js";
import { commitStaging, unpackKeyDir, unpackStreaming } from "./unpack.js";
import { readHead } from "../codec/files.js";
import { blobDigest, recordStamp } from "./stamp.js";

const READ = 4 << 20;

export interface BodyInfo {
  path: string;
  start: number;
  total: number;
}

export class ColdUnpack {
  private written = 0;
  private total = -1;
  private wake: (() => void) | undefined;
  private started = false;
  private abandoned = false;
  private job: Promise<{ staging: string; sha256: string; files: Awaited<ReturnType<typeof unpackStreaming>> } | undefined> | undefined;
  private readonly staging: string;

  constructor(private readonly cacheRoot: string) {
    this.staging = join(new CacheLayout(cacheRoot).unpackedDir, `.cold.${randomBytes(6).toString("hex")}.tmp`);
  }

  /** Wraps the pull's event sink: progress events move the watermark of bytes on disk. */
  tap(sink: PullEventSink): PullEventSink {
    return (ev: PullEvent) => {
      if (ev.event === "progress") this.grow(ev.bytes, ev.total);
      sink(ev);
    };
  }

  /** The pull opened its partial file for a body: follow it (only a fresh download from byte 0, once). */
  readonly onBody = (info: BodyInfo): void => {
    if (this.started || info.start !== 0) {
      this.abandon();
      return;
    }
    this.started = true;
    this.total = info.total;
    this.job = this.follow(info.path).catch(() => undefined);
  };

  private grow(bytes: number, total: number): void {
    if (total !== this.total) return;
    this.written = Math.max(this.written, bytes);
    this.wake?.();
  }

  private abandon(): void {
    this.abandoned = true;
    this.wake?.();
  }

  private pos = 0;

  private async *chunks(fh: FileHandle, hash: ReturnType<typeof createHash>): AsyncGenerator<Uint8Array> {
    while (this.pos < this.total) {
      if (this.abandoned) throw new Error("download restarted");
      if (this.pos >= this.written) {
        await new Promise<void>((resolve) => (this.wake = resolve));
        this.wake = undefined;
        continue;
      }
      const buf = Buffer.allocUnsafe(Math.min(READ, this.written - this.pos));
      const { bytesRead } = await fh.read(buf, 0, buf.length, this.pos);
      if (bytesRead === 0) throw new Error("partial file shorter than reported");
      const piece = buf.subarray(0, bytesRead);
      hash.update(piece);
      this.pos += bytesRead;
      yield piece;
    }
  }

  private async follow(path: string) {
    // The pull renames its partial file into the cache when done: the open descriptor follows it.
    const fh = await open(path, "r");
    const hash = createHash("sha256");
    try {
      await mkdir(this.staging, { recursive: true });
      const files = await unpackStreaming(this.chunks(fh, hash), this.staging);
      // Anything the decoder did not need (bytes after IEND) still belongs to the verified file.
      const rest = this.chunks(fh, hash);
      for await (const _ of rest);
      return { staging: this.staging, sha256: hash.digest("hex"), files };
    } catch (e) {
      await rm(this.staging, { recursive: true, force: true });
      throw e;
    } finally {
      await fh.close();
    }
  }

  /**
   * The pull is done and verified `sha256` at `blobPath`: keep the staged files if the decode saw
   * exactly those bytes and every digest matched. Returns whether the unpacked files are in place.
   */
  async finish(sha256: string, blobPath: string): Promise<boolean> {
    if (!this.job) return false;
    this.grow(this.total, this.total);
    const done = await this.job;
    if (!done || done.sha256 !== sha256) {
      await rm(this.staging, { recursive: true, force: true });
      return false;
    }
    try {
      const head = await readHead(blobPath);
      const dir = await unpackKeyDir(this.cacheRoot, head.metadata);
      await commitStaging(done.staging, dir, String(head.metadata.data_hash).toLowerCase(), done.files.files, done.files.warnings);
      return true;
    } catch {
      await rm(this.staging, { recursive: true, force: true });
      return false;
    }
  }

  /** The pull failed or came from the cache: drop whatever was staged. */
  async cancel(): Promise<void> {
    this.abandon();
    await this.job;
    await rm(this.staging, { recursive: true, force: true });
  }
}

/**
 * After `ensureCached`: a fresh download keeps what `cold` decoded while it arrived (when it all
 * verified) and stamps the blob; a cached copy is checked by its stamp, or re-hashed (`rehash`,
 * boot --verify, or a changed stamp). Returns the blob's actual SHA-256.
 */
export async function settleFetched(cacheRoot: string, got: { fromCache: boolean; sha256: string; path: string }, cold: ColdUnpack, rehash: boolean): Promise<string> {
  if (!got.fromCache) {
    await cold.finish(got.sha256, got.path);
    await recordStamp(cacheRoot, got.path, got.sha256).catch(() => {});
    return got.sha256;
  }
  await cold.cancel();
  return (await blobDigest(cacheRoot, got.path, got.sha256, { rehash })).hex;
}
