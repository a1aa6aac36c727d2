/**
 * Parallel deflate the way pigz does it: the raster is cut into bands, each band is raw-deflated
 * on its own in a worker thread (every band but the last ends with a sync flush: byte-aligned,
 * no final block), and the bands are joined in order between a zlib header and the Adler-32 of
 * the whole, combined from each band's own (adler32Combine). The result is one ordinary zlib
 * stream. Bands are independent (no shared dictionary): for boot payloads, mostly compressed
 * already, that costs nothing measurable, and it keeps every band a pure function of its bytes.
 *
 * Workers are `eval` workers (plain CommonJS text), so they start the same from the bundled
 * CLI, tsx and vitest. Results come back in submission order.
 */
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { adler32Combine } from "../../shared/zlib.js";

const WORKER = `
const { parentPort } = require("node:worker_threads");
const zlib = require("node:zlib");
function adler32(d) {
  let a = 1, b = 0, i = 0;
  const n = d.length;
  while (i < n) {
    const end = Math.min(n, i + 5552);
    for (; i < end; i++) { a += d[i]; b += a; }
    a %= 65521; b %= 65521;
  }
  return ((b << 16) | a) >>> 0;
}
parentPort.on("message", (job) => {
  const input = new Uint8Array(job.data, 0, job.length);
  const out = zlib.deflateRawSync(input, { level: job.level, finishFlush: job.last ? zlib.constants.Z_FINISH : zlib.constants.Z_SYNC_FLUSH });
  const copy = out.buffer.slice(out.byteOffset, out.byteOffset + out.length);
  parentPort.postMessage({ id: job.id, out: copy, adler: adler32(input), length: input.length, input: job.data }, [copy, job.data]);
});
`;

export interface Band {
  deflated: Uint8Array;
  adler: number;
  length: number;
  /** The input buffer, handed back for reuse. */
  input: ArrayBuffer;
}

interface Pending {
  resolve: (b: Band) => void;
  reject: (e: Error) => void;
}

export class DeflatePool {
  private readonly workers: Worker[] = [];
  private readonly idle: Worker[] = [];
  private readonly queue: { id: number; data: ArrayBuffer; length: number; last: boolean }[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private failed: Error | undefined;

  constructor(readonly level: number, readonly threads = Math.max(1, availableParallelism())) {
    for (let i = 0; i < threads; i++) {
      const w = new Worker(WORKER, { eval: true, execArgv: [] }); // CommonJS text whatever flags the parent had
      w.on("message", (m: { id: number; out: ArrayBuffer; adler: number; length: number; input: ArrayBuffer }) => {
        const p = this.pending.get(m.id)!;
        this.pending.delete(m.id);
        this.idle.push(w);
        this.pump();
        p.resolve({ deflated: new Uint8Array(m.out), adler: m.adler, length: m.length, input: m.input });
      });
      w.on("error", (e) => this.fail(e));
      w.on("exit", (code) => {
        if (code !== 0) this.fail(new Error(`deflate worker exited with code ${code}`));
      });
      this.workers.push(w);
      this.idle.push(w);
    }
  }

  private fail(e: Error): void {
    this.failed ??= e;
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  private pump(): void {
    while (this.idle.length && this.queue.length) {
      const job = this.queue.shift()!;
      const w = this.idle.pop()!;
      w.postMessage({ ...job, level: this.level }, [job.data]);
    }
  }

  /** Deflates `data[0, length)` (the buffer is transferred: do not touch it until it comes back in `Band.input`). */
  deflate(data: ArrayBuffer, length: number, last: boolean): Promise<Band> {
    if (this.failed) return Promise.reject(this.failed);
    const id = this.nextId++;
    return new Promise<Band>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.queue.push({ id, data, length, last });
      this.pump();
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/** Adler-32 of the bands joined in order. */
export function combineAdler(bands: { adler: number; length: number }[], start = 1): number {
  let a = start;
  for (const b of bands) a = adler32Combine(a, b.adler, b.length);
  return a;
}
