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
 *
 * `threads: 0` runs that same worker code on the calling thread: for an image of one band there
 * is nothing to parallelise, and starting a thread per core cost more than the deflate itself
 * (a 150 KB `pack`: ~80 ms of CPU and ~100 ms of wall time).
 */
import { EventEmitter } from "node:events";
import { createRequire } from "node:module";
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { adler32Combine } from "../../shared/zlib.js";

const WORKER = `
const { parentPort, workerData } = require("node:worker_threads");
const zlib = require("node:zlib");
function adler32(d) {
  let a = 1, b = 0, i = 0;
  const n = d.length;
  while (i < n) {
    const end = Math.min(n, i + 5552);
    for (; i + 8 <= end; i += 8) {
      a += d[i]; b += a; a += d[i + 1]; b += a; a += d[i + 2]; b += a; a += d[i + 3]; b += a;
      a += d[i + 4]; b += a; a += d[i + 5]; b += a; a += d[i + 6]; b += a; a += d[i + 7]; b += a;
    }
    for (; i < end; i++) { a += d[i]; b += a; }
    a %= 65521; b %= 65521;
  }
  return ((b << 16) | a) >>> 0;
}
// Rows r0..r1 of a strip, gathered from its squares (square order, shared with the main thread)
// into filtered scanlines (filter byte 0): the per-pixel work of the Hilbert mapping, off the main thread.
function gather(job) {
  const { g, block: b, tables } = workerData;
  const sq = new Uint32Array(job.sab);
  const stride = 4 * g + 1;
  const raster = Buffer.allocUnsafe((job.r1 - job.r0) * stride);
  const row = new Uint32Array(g);
  const rowBytes = new Uint8Array(row.buffer);
  for (let y = job.r0; y < job.r1; y++) {
    const plan = job.plan[(y / b) | 0];
    const t = (y % b) * b;
    for (let bx = 0, blocks = g / b; bx < blocks; bx++) {
      const d = plan.dst[bx];
      const tab = tables[plan.state[bx]];
      const x0 = bx * b;
      if (b % 4 === 0)
        for (let lx = 0; lx < b; lx += 4) {
          row[x0 + lx] = sq[d + tab[t + lx]]; row[x0 + lx + 1] = sq[d + tab[t + lx + 1]];
          row[x0 + lx + 2] = sq[d + tab[t + lx + 2]]; row[x0 + lx + 3] = sq[d + tab[t + lx + 3]];
        }
      else for (let lx = 0; lx < b; lx++) row[x0 + lx] = sq[d + tab[t + lx]];
    }
    const o = (y - job.r0) * stride;
    raster[o] = 0;
    raster.set(rowBytes, o + 1);
  }
  return raster;
}
parentPort.on("message", (job) => {
  const input = job.sab ? gather(job) : new Uint8Array(job.data, 0, job.length);
  // One output chunk of about the input's size (random data grows a little): no concatenation.
  const out = zlib.deflateRawSync(input, { level: job.level, chunkSize: Math.max(64 * 1024, input.length + (input.length >> 5) + 4096), finishFlush: job.last ? zlib.constants.Z_FINISH : zlib.constants.Z_SYNC_FLUSH });
  const copy = out.buffer.slice(out.byteOffset, out.byteOffset + out.length);
  const transfer = job.data ? [copy, job.data] : [copy];
  parentPort.postMessage({ id: job.id, out: copy, adler: adler32(input), length: input.length, input: job.data }, transfer);
});
`;

export interface Band {
  deflated: Uint8Array;
  adler: number;
  length: number;
  /** The input buffer, handed back for reuse (deflate jobs). */
  input: ArrayBuffer | undefined;
}

interface Pending {
  resolve: (b: Band) => void;
  reject: (e: Error) => void;
}

/** What the pool needs of a worker thread. */
interface JobRunner {
  on(event: "message", f: (m: { id: number; out: ArrayBuffer; adler: number; length: number; input: ArrayBuffer }) => void): unknown;
  on(event: "error", f: (e: Error) => void): unknown;
  on(event: "exit", f: (code: number) => void): unknown;
  postMessage(job: unknown, transfer?: readonly ArrayBuffer[]): void;
  terminate(): Promise<number>;
}

const requireHere = createRequire(import.meta.url);

/**
 * The worker's code on this thread. As with a thread, a job runs on a later turn of the event
 * loop, messages are structured clones, and transferred buffers are detached on the sending side.
 */
class SameThreadRunner extends EventEmitter implements JobRunner {
  private handle: ((job: unknown) => void) | undefined;

  constructor(workerData: unknown) {
    super();
    const parentPort = {
      on: (_event: "message", f: (job: unknown) => void) => (this.handle = f),
      postMessage: (m: unknown, transfer: ArrayBuffer[] = []) => {
        const reply = structuredClone(m, { transfer });
        setImmediate(() => this.emit("message", reply)); // outside the job's try: a listener's error is not the worker's
      },
    };
    const fakeRequire = (id: string) => (id === "node:worker_threads" ? { parentPort, workerData } : requireHere(id));
    new Function("require", WORKER)(fakeRequire);
  }

  postMessage(job: unknown, transfer: readonly ArrayBuffer[] = []): void {
    const copy = structuredClone(job, { transfer: [...transfer] });
    setImmediate(() => {
      try {
        this.handle!(copy);
      } catch (e) {
        this.emit("error", e);
      }
    });
  }

  async terminate(): Promise<number> {
    return 0;
  }
}

export class DeflatePool {
  private readonly workers: JobRunner[] = [];
  private readonly idle: JobRunner[] = [];
  private readonly queue: Record<string, unknown>[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private failed: Error | undefined;

  /** `geometry`: the grid's side and orientation tables, for `gatherDeflate`. `threads: 0`: on this thread. */
  constructor(readonly level: number, readonly threads = Math.max(1, availableParallelism()), geometry?: { g: number; block: number; tables: Int32Array[] }) {
    for (let i = 0; i < Math.max(1, threads); i++) {
      const w: JobRunner = threads === 0 ? new SameThreadRunner(geometry ?? {}) : new Worker(WORKER, { eval: true, execArgv: [], workerData: geometry ?? {} }); // CommonJS text whatever flags the parent had
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
      w.postMessage({ ...job, level: this.level }, job.data ? [job.data as ArrayBuffer] : []);
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

  /**
   * Gathers rows [r0, r1) of a strip from its squares (`sab`, square order; `plan` from
   * HilbertRows.squarePlan) in a worker and deflates them there. `sab` must not change until the
   * band comes back.
   */
  gatherDeflate(sab: SharedArrayBuffer, r0: number, r1: number, plan: { dst: Int32Array; state: Uint8Array }[], last: boolean): Promise<Band> {
    if (this.failed) return Promise.reject(this.failed);
    const id = this.nextId++;
    return new Promise<Band>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.queue.push({ id, sab, r0, r1, plan, last });
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
