import { createHash } from "node:crypto";
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";

/**
 * SHA-256 while downloading. Two strategies, chosen by measurement (bench/pull.bench.ts):
 * - inline: hash on the main thread.
 * - worker: hash in a worker_thread, off the thread that parses HTTP and writes the file. Chunks
 *   are copied into 1 MiB batches and transferred, not cloned.
 * Without SHA CPU extensions (~400 MB/s) the worker measured ~20% faster (toolchain.md §5); with
 * them (node:crypto ~1.3 GB/s here) it still did, 256 MiB over loopback on 2 cores: 233 vs 195
 * MB/s from node:http, 182 vs 160 through the Worker (2026-12-03). "auto" therefore picks the
 * worker for downloads of 32 MiB or more when there is a second core, inline otherwise.
 */
export interface Hasher {
  /** Feeds bytes in order; a promise means "wait before feeding more" (the worker is behind). */
  update(chunk: Uint8Array): void | Promise<void>;
  digest(): Promise<string>;
  dispose(): void;
}

export type HashMode = "auto" | "inline" | "worker";

class InlineHasher implements Hasher {
  private h = createHash("sha256");
  update(chunk: Uint8Array): void {
    this.h.update(chunk);
  }
  async digest(): Promise<string> {
    return this.h.digest("hex");
  }
  dispose(): void {}
}

const WORKER_SOURCE = `
const { parentPort } = require("node:worker_threads");
const h = require("node:crypto").createHash("sha256");
parentPort.on("message", (m) => {
  if (m === "digest") parentPort.postMessage(h.digest("hex"));
  else {
    h.update(m);
    parentPort.postMessage(0); // one batch done
  }
});
`;

const BATCH = 1 << 20;
/** Batches posted and not yet hashed before update() asks its caller to wait: memory stays at ~16 MiB however fast bytes arrive (a resume re-hashes its prefix from disk at disk speed). */
const MAX_IN_FLIGHT = 16;

class WorkerHasher implements Hasher {
  private worker = new Worker(WORKER_SOURCE, { eval: true });
  private batch = new Uint8Array(BATCH);
  private used = 0;
  private failed: Error | undefined;
  private inFlight = 0;
  private resumeFeeding: (() => void) | undefined;
  private onDigest: ((hex: string) => void) | undefined;
  /** Promises awaiting the worker: while there are any, it keeps the process alive. */
  private waiters = 0;

  constructor() {
    this.worker.on("error", (e) => {
      this.failed = e;
      this.wakeFeeder();
    });
    this.worker.on("message", (m: number | string) => {
      if (typeof m === "string") return this.onDigest?.(m);
      this.inFlight--;
      if (this.inFlight < MAX_IN_FLIGHT) this.wakeFeeder();
    });
    // Unref'd while idle (an abandoned hasher must not keep a process alive), ref'd while someone
    // awaits it: otherwise, once the download ends, nothing else keeps the event loop alive and
    // the CLI exits with 13 ("unsettled top-level await") before the digest arrives.
    this.worker.unref();
  }

  /** Keeps the process alive until `p` settles (counted: a digest and a backpressure wait may overlap). */
  private awaited<T>(p: Promise<T>): Promise<T> {
    if (this.waiters++ === 0) this.worker.ref();
    return p.finally(() => {
      if (--this.waiters === 0) this.worker.unref();
    });
  }

  update(chunk: Uint8Array): void | Promise<void> {
    let off = 0;
    while (off < chunk.length) {
      const n = Math.min(chunk.length - off, BATCH - this.used);
      this.batch.set(chunk.subarray(off, off + n), this.used);
      this.used += n;
      off += n;
      if (this.used === BATCH) this.flush();
    }
    if (this.inFlight < MAX_IN_FLIGHT || this.failed) return;
    return this.awaited(new Promise<void>((resolve) => (this.resumeFeeding = resolve)));
  }

  private wakeFeeder(): void {
    const wake = this.resumeFeeding;
    this.resumeFeeding = undefined;
    wake?.();
  }

  private flush(): void {
    if (this.used === 0) return;
    const buf = this.used === BATCH ? this.batch : this.batch.slice(0, this.used);
    this.worker.postMessage(buf, [buf.buffer as ArrayBuffer]);
    this.inFlight++;
    this.batch = new Uint8Array(BATCH);
    this.used = 0;
  }

  digest(): Promise<string> {
    this.flush();
    if (this.failed) return Promise.reject(this.failed);
    return this.awaited(
      new Promise((resolve, reject) => {
        this.onDigest = resolve;
        this.worker.once("error", reject);
        this.worker.postMessage("digest");
      }),
    );
  }

  dispose(): void {
    void this.worker.terminate();
  }
}

export function resolveHashMode(mode: HashMode, size: number): "inline" | "worker" {
  if (mode !== "auto") return mode;
  if (size < 32 << 20) return "inline"; // a worker's start-up costs more than it can save
  return availableParallelism() > 1 ? "worker" : "inline"; // one core: the worker only adds copies
}

export function createHasher(mode: "inline" | "worker"): Hasher {
  return mode === "worker" ? new WorkerHasher() : new InlineHasher();
}
