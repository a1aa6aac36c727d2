/**
 * Codec benchmark: encode and decode of a 64 MiB payload (pseudo-random bytes, like a
 * compressed kernel or initrd), against bare zlib on the same data measured in the same run.
 * `npm run bench:codec` (add `-- --big` for an 8192x8192 / 256 MiB container).
 * Prints figures; asserts nothing.
 */
import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import zlib from "node:zlib";
import { decodeFile } from "../agent/codec/files.js";
import { writeFileAtomic } from "../agent/fsutil/index.js";
import { NODE_CODEC } from "../agent/codec/node-platform.js";
import { concatBytes } from "../shared/bytes.js";
import { converterMetadata } from "../shared/container/converter.js";
import { decodeContainer } from "../shared/container/decode.js";
import { collectBytes, encodeContainer } from "../shared/container/encode.js";
import { readPngChunks } from "../shared/png/chunks.js";

const MB = 1e6;

// Child mode: decode one file in a fresh process and report its peak RSS, so the figure is the
// decoder's own memory, not the benchmark's buffers.
const childFile = process.argv[process.argv.indexOf("--decode-child") + 1];
if (process.argv.includes("--decode-child") && childFile) {
  // Sampled, not ru_maxrss: Linux carries the parent's high-water mark across fork+exec.
  let peak = process.memoryUsage().rss;
  const sample = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 2);
  const t0 = performance.now();
  const d = await decodeFile(childFile, { sidecar: false });
  const ms = performance.now() - t0;
  clearInterval(sample);
  console.log(JSON.stringify({ ms, maxRssBytes: Math.max(peak, process.memoryUsage().rss), size: d.payload.length, integrity: d.integrity }));
  process.exit(0);
}
function decodeInFreshProcess(file: string): { ms: number; maxRssBytes: number; size: number; integrity: string } {
  const r = spawnSync(process.execPath, ["--import", "tsx", fileURLToPath(import.meta.url), "--decode-child", file], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`decode child failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split("\n").pop()!);
}

const big = process.argv.includes("--big");
const size = big ? 256 * 1024 * 1024 : 64 * 1024 * 1024;
const runs = big ? 1 : 3;

let peakRss = 0;
const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 5);
const resetPeak = () => (peakRss = process.memoryUsage().rss);

async function time<T>(fn: () => Promise<T> | T): Promise<{ ms: number; value: T }> {
  let best = Infinity;
  let value!: T;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    value = await fn();
    best = Math.min(best, performance.now() - t0);
  }
  return { ms: best, value };
}
const rate = (bytes: number, ms: number) => `${((bytes / MB) / (ms / 1000)).toFixed(0)} MB/s`;
const mib = (b: number) => `${(b / 1024 / 1024).toFixed(0)} MiB`;

const dir = mkdtempSync(join(tmpdir(), "pixelrts-bench-"));
try {
  const payload = new Uint8Array(randomBytes(size));
  console.log(`PixelRTS codec benchmark — payload ${mib(size)} of random bytes, node ${process.version}, best of ${runs}`);

  // Baselines, same data, same run.
  const shaBase = await time(() => createHash("sha256").update(payload).digest("hex"));
  resetPeak();
  const enc = await time(async () => collectBytes((await encodeContainer(payload, converterMetadata({ name: "bench" }, "bench.bin"), NODE_CODEC)).png));
  const encPeak = peakRss;
  const png = enc.value;
  const idat: Uint8Array[] = [];
  for await (const c of readPngChunks(png, { crc32: NODE_CODEC.crc32 })) if (c.type === "IDAT") idat.push(c.data);
  const idatData = concatBytes(idat);
  const inflateBase = await time(() => zlib.inflateSync(idatData));
  const raster = inflateBase.value;
  const deflateBase = await time(() => zlib.deflateSync(raster, { level: 6 }));

  const file = join(dir, "bench.rts.png");
  await writeFileAtomic(file, png);
  resetPeak();
  // The pixel pipeline alone (PNG chunks + CRCs, inflate, unfilter, Hilbert scatter): the
  // payload hash is stubbed out here and measured separately below.
  const decMem = await time(() => decodeContainer(png, { ...NODE_CODEC, verify: false, sha256: () => "" }));
  const decMemVerify = await time(() => decodeContainer(png, NODE_CODEC));
  const decFile = await time(() => decodeFile(file, { sidecar: false }));
  const ok = decFile.value.sha256 === createHash("sha256").update(payload).digest("hex");
  const fresh = decodeInFreshProcess(file);
  const rasterBytes = 4 * decFile.value.ihdr.width * decFile.value.ihdr.width;

  console.log("");
  console.log(`container            ${mib(statSync(file).size)} PNG, grid ${decFile.value.ihdr.width}x${decFile.value.ihdr.width}, round trip ${ok ? "OK" : "FAILED"}`);
  console.log(`baseline sha256      ${shaBase.ms.toFixed(0)} ms  ${rate(size, shaBase.ms)}`);
  console.log(`baseline inflate     ${inflateBase.ms.toFixed(0)} ms  ${rate(size, inflateBase.ms)}  (zlib.inflateSync of the IDAT data)`);
  console.log(`baseline deflate -6  ${deflateBase.ms.toFixed(0)} ms  ${rate(size, deflateBase.ms)}  (zlib.deflateSync of the raster)`);
  console.log(`encode               ${enc.ms.toFixed(0)} ms  ${rate(size, enc.ms)}  ratio ${(enc.ms / deflateBase.ms).toFixed(2)}x bare deflate  peak RSS ${mib(encPeak)}`);
  console.log(`decode (no hashing)  ${decMem.ms.toFixed(0)} ms  ${rate(size, decMem.ms)}  ratio ${(decMem.ms / inflateBase.ms).toFixed(2)}x bare inflate`);
  console.log(`decode + sha256      ${decMemVerify.ms.toFixed(0)} ms  ${rate(size, decMemVerify.ms)}  ratio ${(decMemVerify.ms / inflateBase.ms).toFixed(2)}x bare inflate`);
  console.log(`decode file + sha256 ${decFile.ms.toFixed(0)} ms  ${rate(size, decFile.ms)}  ratio ${(decFile.ms / inflateBase.ms).toFixed(2)}x bare inflate`);
  console.log(`decode, fresh process ${fresh.ms.toFixed(0)} ms  peak RSS ${mib(fresh.maxRssBytes)} for a ${mib(rasterBytes)} raster + ${mib(fresh.size)} payload (${fresh.integrity}); node alone ~45 MiB`);
} finally {
  clearInterval(sampler);
  rmSync(dir, { recursive: true, force: true });
}
