/**
 * SHA-256 over parts of files, in worker threads: a payload written out of order (by Hilbert
 * squares) is hashed afterwards in payload order, straight from the page cache, and several
 * digests (data_hash and each segment's) run at once, one thread each. Workers are `eval`
 * workers (plain CommonJS text), so they run the same from the bundled CLI, tsx and vitest.
 */
import { createHash } from "node:crypto";
import { open } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { fail } from "../../shared/errors.js";

/** A run of a file, or zero bytes (gaps that are not stored in any file). */
export type HashPart = { path: string; start: number; length: number } | { zeros: number };

const WORKER = `
const { parentPort, workerData } = require("node:worker_threads");
const fs = require("node:fs");
const crypto = require("node:crypto");
const h = crypto.createHash("sha256");
const buf = Buffer.allocUnsafe(4 << 20);
let total = 0;
for (const p of workerData.parts) {
  if (p.zeros !== undefined) {
    buf.fill(0);
    for (let left = p.zeros; left > 0; ) { const n = Math.min(left, buf.length); h.update(buf.subarray(0, n)); left -= n; }
    total += p.zeros;
    buf.fill(0);
    continue;
  }
  const fd = fs.openSync(p.path, "r");
  try {
    for (let pos = p.start, end = p.start + p.length; pos < end; ) {
      const n = fs.readSync(fd, buf, 0, Math.min(buf.length, end - pos), pos);
      if (n === 0) throw Object.assign(new Error("file " + p.path + " ends at " + pos + ", expected " + end), { short: true });
      h.update(buf.subarray(0, n));
      pos += n;
      total += n;
    }
  } finally { fs.closeSync(fd); }
}
parentPort.postMessage({ hex: h.digest("hex"), total });
`;

/** Below this many bytes a digest is computed on the calling thread (a worker costs ~30 ms to start). */
const INLINE_MAX = 8 << 20;

async function hashInline(parts: HashPart[]): Promise<string> {
  const h = createHash("sha256");
  for (const p of parts) {
    if ("zeros" in p) {
      h.update(Buffer.alloc(p.zeros));
      continue;
    }
    const fh = await open(p.path, "r");
    try {
      const buf = Buffer.allocUnsafe(Math.min(p.length, 1 << 20) || 1);
      for (let pos = p.start, end = p.start + p.length; pos < end; ) {
        const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, end - pos), pos);
        if (bytesRead === 0) fail("E_IO", `${p.path} ends at byte ${pos}, expected ${end}`);
        h.update(buf.subarray(0, bytesRead));
        pos += bytesRead;
      }
    } finally {
      await fh.close();
    }
  }
  return h.digest("hex");
}

function hashInWorker(parts: HashPart[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const w = new Worker(WORKER, { eval: true, execArgv: [], workerData: { parts } });
    let done = false;
    w.once("message", (m: { hex: string }) => {
      done = true;
      resolve(m.hex);
    });
    w.once("error", (e) => reject(new Error(`hashing failed: ${e.message}`, { cause: e })));
    w.once("exit", (code) => {
      if (!done) reject(new Error(`hash worker exited with code ${code}`));
    });
  });
}

const size = (parts: HashPart[]) => parts.reduce((n, p) => n + ("zeros" in p ? p.zeros : p.length), 0);

/** SHA-256 (hex) of each list of parts, the lists hashed in parallel (at most one thread per core). */
export async function hashParts(lists: HashPart[][]): Promise<string[]> {
  const out: string[] = new Array(lists.length);
  const slots = Math.max(1, availableParallelism());
  let next = 0;
  const run = async () => {
    for (let i = next++; i < lists.length; i = next++) {
      const parts = lists[i]!;
      out[i] = size(parts) < INLINE_MAX ? await hashInline(parts) : await hashInWorker(parts);
    }
  };
  await Promise.all(Array.from({ length: Math.min(slots, lists.length) }, run));
  return out;
}
