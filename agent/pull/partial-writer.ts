import { open, type FileHandle } from "node:fs/promises";
import { ioError } from "../fsutil/index.js";

const WRITE_BATCH = 1 << 20;
/** A batch is also written once it is this old, so a slow download's file grows with what arrives (waiters judge progress by it). */
const WRITE_INTERVAL_MS = 1000;

export interface PartialWriterHooks {
  /** Test seam: called before each write (e.g. to inject ENOSPC). */
  beforeWrite?: (position: number, length: number) => void | Promise<void>;
  /** Called after each write the kernel accepted, with the file offset now written up to. */
  onWritten?: (end: number) => void;
}

/**
 * Appends a download to its partial file from `start`. Chunks are collected into ~1 MiB writev
 * batches (or what arrived within a second, whichever comes first) with one write in flight
 * while the next batch fills, so hashing, parsing and disk I/O overlap. `written` counts bytes the kernel accepted; a write error is kept and thrown by the
 * next `add`/`finish`, as an E_IO/E_DISK_FULL PixelRtsError.
 */
export class PartialWriter {
  private queued: number;
  private batch: Buffer[] = [];
  private batchLen = 0;
  private batchSince = 0;
  private pending: Promise<void> | undefined;
  private writeError: unknown;
  written: number;

  private constructor(
    private readonly fh: FileHandle,
    private readonly path: string,
    start: number,
    private readonly hooks: PartialWriterHooks,
  ) {
    this.queued = start;
    this.written = start;
  }

  /** Opens `path` for writing at `start` (0 truncates it). */
  static async open(path: string, start: number, hooks: PartialWriterHooks = {}): Promise<PartialWriter> {
    try {
      return new PartialWriter(await open(path, start > 0 ? "r+" : "w", 0o644), path, start, hooks);
    } catch (e) {
      throw ioError(e, `cannot open ${path}`);
    }
  }

  /** Offset the next chunk will be written at (bytes accepted so far, written or batched). */
  get end(): number {
    return this.queued + this.batchLen;
  }

  /** Batches `chunk`; once a batch is full, waits for the previous write and starts this one. */
  async add(chunk: Buffer): Promise<void> {
    if (this.batchLen === 0) this.batchSince = Date.now();
    this.batch.push(chunk);
    this.batchLen += chunk.length;
    if (this.batchLen >= WRITE_BATCH || Date.now() - this.batchSince >= WRITE_INTERVAL_MS) await this.flush();
  }

  /** Writes everything batched and fsyncs. */
  async finish(): Promise<void> {
    await this.flush();
    await this.settle();
    try {
      await this.fh.sync();
    } catch (e) {
      throw ioError(e, `cannot write ${this.path}`);
    }
  }

  /**
   * After a failure elsewhere (network, timeout): waits for the write in flight and, with
   * `writeBatch`, writes what was received since, as those bytes are good and a resume starts
   * after them. Returns the write error, if any, as a PixelRtsError.
   */
  async salvage(opts: { writeBatch: boolean }): Promise<unknown> {
    if (this.pending) await this.pending;
    if (opts.writeBatch && !this.writeError && this.batchLen > 0) await this.write(this.batch, this.queued, this.batchLen).catch((e) => void (this.writeError = e));
    this.batch = [];
    this.batchLen = 0;
    return this.writeError === undefined ? undefined : ioError(this.writeError, `cannot write ${this.path}`);
  }

  async close(): Promise<void> {
    await this.fh.close().catch(() => {});
  }

  private async settle(): Promise<void> {
    if (this.pending) await this.pending;
    if (this.writeError) throw ioError(this.writeError, `cannot write ${this.path}`);
  }

  private async flush(): Promise<void> {
    await this.settle();
    if (this.batchLen === 0) return;
    const bufs = this.batch;
    const len = this.batchLen;
    const at = this.queued;
    this.queued += len;
    this.batch = [];
    this.batchLen = 0;
    this.pending = this.write(bufs, at, len).catch((e) => void (this.writeError = e));
  }

  private async write(bufs: Buffer[], at: number, len: number): Promise<void> {
    await this.hooks.beforeWrite?.(at, len);
    const { bytesWritten } = await this.fh.writev(bufs, at);
    if (bytesWritten < len) {
      const rest = Buffer.concat(bufs).subarray(bytesWritten);
      for (let off = 0; off < rest.length; ) {
        const r = await this.fh.write(rest, off, rest.length - off, at + bytesWritten + off);
        if (r.bytesWritten === 0) throw Object.assign(new Error("short write"), { code: "ENOSPC" });
        off += r.bytesWritten;
      }
    }
    this.written = at + len;
    this.hooks.onWritten?.(this.written);
  }
}
