/**
 * `npm run bench:pull` — how fast the agent pulls + verifies a 256 MiB container over loopback,
 * against `curl -o f && sha256sum f` on the same URL in the same run, with raw node:crypto
 * SHA-256 as the ceiling. Two servers: a plain node:http file server (own process) and the real
 * Worker under Miniflare (workerd, local R2). Prints figures (MB = 10^6 bytes); asserts nothing.
 *
 * Env: BENCH_MIB (default 256), BENCH_RUNS (default 3, median reported), BENCH_WORKER=0 to skip
 * the Worker. To see a machine without SHA CPU extensions (toolchain.md's CI kind) on one that
 * has them: OPENSSL_ia32cap=:~0x20000020 npm run bench:pull   (masks SHA-NI and AVX2 in OpenSSL)
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { createHash, randomFillSync } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { fileURLToPath } from "node:url";
import { crc32 } from "node:zlib";
import { request } from "undici";
import { openAgent } from "../agent/context.js";
import { resolveHashMode } from "../agent/pull/hasher.js";
import { pullToCache } from "../agent/pull/pull.js";

const MIB = Number(process.env.BENCH_MIB ?? 256);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const ROOT = fileURLToPath(new URL("..", import.meta.url));

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const mbps = (bytes: number, ms: number) => bytes / 1e6 / (ms / 1000);
const has = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;

interface Row {
  name: string;
  mbps: number;
}

/** Every client against one URL serving `size` bytes with digest `sha`. */
async function measure(dir: string, url: string, size: number, sha: string): Promise<Row[]> {
  const rows: Row[] = [];
  for (const mode of ["inline", "worker"] as const) {
    const times: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const cacheDir = join(dir, `cache-${mode}-${i}`);
      const agent = await openAgent({ cacheDir, env: { HOME: dir }, settings: { hashMode: mode, cacheMaxBytes: 100 * size } });
      const start = performance.now();
      const r = await pullToCache(agent, { url, ref: "bench", source: {} }, { emit: () => {} });
      times.push(performance.now() - start);
      if (r.sha256 !== sha) throw new Error("bench pull returned the wrong digest");
      await agent.close();
      await rm(cacheDir, { recursive: true, force: true });
    }
    rows.push({ name: `pixelrts pull (hash ${mode})`, mbps: mbps(size, median(times)) });
  }
  {
    const times: number[] = [];
    const out = join(dir, "nohash.out");
    for (let i = 0; i < RUNS; i++) {
      const start = performance.now();
      const res = await request(url);
      await pipeline(res.body, createWriteStream(out, { highWaterMark: 1 << 20 }));
      times.push(performance.now() - start);
      await rm(out, { force: true });
    }
    rows.push({ name: "undici → file, no hash (transport ceiling)", mbps: mbps(size, median(times)) });
  }
  if (has("curl") && has("sha256sum")) {
    const times: number[] = [];
    const out = join(dir, "curl.out");
    for (let i = 0; i < RUNS; i++) {
      const start = performance.now();
      const got = execFileSync("sh", ["-c", `curl -sSf -o '${out}' '${url}' && sha256sum '${out}'`], { encoding: "utf8" });
      times.push(performance.now() - start);
      if (!got.startsWith(sha)) throw new Error("curl+sha256sum got a different digest");
      await rm(out, { force: true });
    }
    rows.push({ name: "curl -o f && sha256sum f", mbps: mbps(size, median(times)) });
  }
  return rows;
}

function print(title: string, rows: Row[], rawMBps: number): void {
  const curl = rows.find((r) => r.name.startsWith("curl"));
  console.log(`\n${title}\n`);
  console.log(`${"client".padEnd(44)} ${"MB/s".padStart(7)} ${"vs curl".padStart(8)} ${"of SHA ceiling".padStart(15)}`);
  for (const r of rows) {
    console.log(`${r.name.padEnd(44)} ${r.mbps.toFixed(0).padStart(7)} ${(curl ? (r.mbps / curl.mbps).toFixed(2) + "x" : "-").padStart(8)} ${((100 * r.mbps) / rawMBps).toFixed(0).padStart(14)}%`);
  }
}

/** A valid PNG the Worker accepts: a small real container with a big private ancillary chunk before IEND. */
async function bigContainer(mib: number): Promise<Buffer> {
  const { encodeContainer, collectBytes } = await import("../shared/container/encode.js");
  const { buildMetadata } = await import("../shared/container/metadata.js");
  const caller = new Map<string, string>([["type", "kernel"], ["name", "bench"]]);
  const enc = await encodeContainer(new Uint8Array(4096).fill(7), (ctx) => buildMetadata({ gridSize: ctx.gridSize, caller: caller as never, dataHash: ctx.dataHash, dataSize: ctx.dataSize }));
  const small = Buffer.from(await collectBytes(enc.png));
  const iend = small.subarray(small.length - 12);
  const dataLen = mib * 1024 * 1024 - small.length - 12;
  const chunk = Buffer.allocUnsafe(12 + dataLen);
  chunk.writeUInt32BE(dataLen, 0);
  chunk.write("bnCh", 4, "latin1");
  randomFillSync(chunk, 8, dataLen);
  chunk.writeUInt32BE(crc32(chunk.subarray(4, 8 + dataLen)), 8 + dataLen);
  return Buffer.concat([small.subarray(0, small.length - 12), chunk, iend]);
}

async function main() {
  const dir = await mkdtemp(join(tmpdir(), "pixelrts-bench-"));
  const data = await bigContainer(MIB);
  const file = join(dir, "bench.rts.png");
  await writeFile(file, data);

  // Ceiling: raw SHA-256 of bytes already in memory.
  const t0 = performance.now();
  const sha = createHash("sha256").update(data).digest("hex");
  const rawMBps = mbps(data.length, performance.now() - t0);

  const server = spawn(process.execPath, [join(ROOT, "bench/file-server.mjs"), file, sha], { stdio: ["ignore", "pipe", "inherit"] });
  try {
    const port = await new Promise<string>((resolve) => server.stdout.once("data", (d) => resolve(String(d).trim())));
    const rows = await measure(dir, `http://127.0.0.1:${port}/blobs/sha256/${sha}`, data.length, sha);
    print(`pull + verify of ${MIB} MiB from a node:http server (own process), median of ${RUNS}; MB = 10^6 bytes`, rows, rawMBps);
  } finally {
    server.kill("SIGTERM");
  }

  if (process.env.BENCH_WORKER !== "0") {
    const { startTestWorker } = await import("../test/helpers/miniflare-worker.js");
    // the real Worker with its D1 index, R2 and D1 on disk like wrangler dev's local state
    const worker = await startTestWorker({ PUBLISH_TOKEN: "bench", MAX_UPLOAD_BYTES: String(2 * data.length) }, { persist: dir });
    try {
      const base = worker.url;
      const up0 = performance.now();
      const put = await request(`${base}/api/v1/containers/bench`, { method: "PUT", body: data, headers: { authorization: "Bearer bench", "x-pixelrts-sha256": sha, "content-length": String(data.length) } });
      const putText = await put.body.text();
      if (put.statusCode >= 300) throw new Error(`seeding the Worker failed: ${put.statusCode} ${putText}`);
      console.log(`\n(seeded the Worker's local R2 through PUT in ${((performance.now() - up0) / 1000).toFixed(1)} s)`);
      const rows = await measure(dir, `${base}/blobs/sha256/${sha}`, data.length, sha);
      print(`pull + verify of ${MIB} MiB through the Worker (Miniflare, local R2), median of ${RUNS}`, rows, rawMBps);
    } finally {
      await worker.dispose();
    }
  }
  await rm(dir, { recursive: true, force: true });
  console.log(`\n${"raw node:crypto SHA-256 (ceiling)".padEnd(44)} ${rawMBps.toFixed(0).padStart(7)} MB/s`);
  console.log(`hash mode "auto" picks for this size: ${resolveHashMode("auto", data.length)} (${availableParallelism()} cores)`);
}

await main();
