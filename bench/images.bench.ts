/**
 * Large images (`npm run bench:images`). Prints figures and ratios; asserts nothing.
 *  1. Encode (`pixelrts pack`) and decode (`pixelrts extract`) of random payloads (what compressed
 *     OS images look like to deflate) of 64 MiB, 1 GiB and 4 GiB: MB/s (10^6 bytes/s) of payload
 *     and peak RSS, each in a fresh process (getrusage of the CLI process, worker threads
 *     included). Encode with one deflate thread per core and with one thread, plus bare
 *     single-threaded zlib deflate of the same bytes at the same level, side by side.
 *  2. Time-to-QEMU for a ~500 MB boot bundle through the local Worker (wrangler dev): a cold
 *     `pixelrts boot --dry-run` (empty cache: pull, verify, decode, unpack) against `curl -o` of
 *     the same URL and `curl -o && sha256sum`; then warm (cached) boots.
 * Options: --sizes 64M,1G,4G (default), --no-codec, --no-boot. Files go to $PIXELRTS_BENCH_DIR
 * (default /var/tmp/pixelrts-bench-images) and are removed at the end; free disk is checked first.
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, mkdirSync, openSync, rmSync, statfsSync, statSync, writeSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { freePort, startWranglerDev, type WranglerDev } from "../scripts/lib/wrangler-dev.mjs";
import { runProcess, WITH_RSS, withMaxRss } from "../test/helpers/cli.js";

const ROOT = join(import.meta.dirname, "..");
const CLI = join(ROOT, "agent/bin/pixelrts.mjs");
const args = process.argv.slice(2);
const flag = (name: string) => args.includes(`--${name}`);
const sizesArg = args[args.indexOf("--sizes") + 1];
const MB = 1e6;
const MiB = 1024 * 1024;
const SIZES = (args.includes("--sizes") && sizesArg ? sizesArg : "64M,1G,4G").split(",").map(parseSize);
const DIR = process.env.PIXELRTS_BENCH_DIR ?? "/var/tmp/pixelrts-bench-images";
const TOKEN = "bench-token";

function parseSize(s: string): number {
  const m = /^(\d+)([MG])$/i.exec(s.trim());
  if (!m) throw new Error(`bad size ${s}: use e.g. 64M or 4G`);
  return Number(m[1]) * (m[2]!.toUpperCase() === "G" ? 1024 * MiB : MiB);
}
const label = (n: number) => (n >= 1024 * MiB ? `${n / 1024 / MiB} GiB` : `${n / MiB} MiB`);

interface Run {
  ms: number;
  maxRss: number;
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A command in a fresh Node process that reports its own peak RSS (getrusage: all its threads). */
function nodeRun(script: string, argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<Run> {
  return timed(process.execPath, [WITH_RSS, script, ...argv], env);
}

async function timed(cmd: string, argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<Run> {
  return withMaxRss(await runProcess(cmd, argv, { cwd: DIR, env }));
}

function must(r: Run, what: string): Run {
  if (r.code !== 0) throw new Error(`${what} failed (${r.code}): ${r.stderr.slice(-2000)}`);
  return r;
}

function freeBytes(): number {
  const s = statfsSync(DIR);
  return s.bavail * s.bsize;
}

function writeRandom(path: string, size: number): void {
  const fd = openSync(path, "w");
  try {
    for (let pos = 0; pos < size; ) {
      const n = Math.min(8 * MiB, size - pos);
      writeSync(fd, randomBytes(n));
      pos += n;
    }
  } finally {
    closeSync(fd);
  }
}

const BARE_DEFLATE = `
import { createReadStream } from "node:fs"; import zlib from "node:zlib";
const d = zlib.createDeflate({ level: 6, chunkSize: 1 << 20 });
let out = 0; d.on("data", (c) => (out += c.length));
await new Promise((res, rej) => createReadStream(process.argv[1], { highWaterMark: 1 << 20 }).pipe(d).on("end", res).on("error", rej));
`;

const fmtRate = (bytes: number, ms: number) => `${(bytes / MB / (ms / 1000)).toFixed(1)} MB/s`;
const fmtRss = (b: number) => `${(b / MiB).toFixed(0)} MiB`;
const pad = (s: string, n: number) => s.padEnd(n);

async function codec(): Promise<void> {
  console.log(`\n== encode / decode (random payloads, zlib level 6, ${availableParallelism()} cores) ==`);
  console.log(pad("payload", 10) + pad("grid", 8) + pad("encode (parallel)", 30) + pad("encode (1 thread)", 30) + pad("bare deflate, 1 thread", 26) + pad("ratio", 8) + "decode (extract)");
  for (const size of SIZES) {
    const need = size * 2 + 512 * MiB;
    if (freeBytes() < need) {
      console.log(`${pad(label(size), 10)}skipped: needs ${(need / 1024 ** 3).toFixed(1)} GiB free in ${DIR}`);
      continue;
    }
    const input = join(DIR, "payload.bin");
    const png = join(DIR, "payload.rts.png");
    const back = join(DIR, "back.bin");
    writeRandom(input, size);
    const par = must(await nodeRun(CLI, ["pack", input, "-o", png, "--type", "os", "--json"]), "pack");
    const grid = JSON.parse(par.stdout).grid as number;
    const pngSize = statSync(png).size;
    // Single-thread comparisons cost minutes at 4 GiB: run up to 1 GiB.
    let one: Run | undefined;
    let bare: Run | undefined;
    if (size <= 1024 * MiB) {
      one = must(await nodeRun(CLI, ["pack", input, "-o", png, "--type", "os", "--threads", "1"]), "pack --threads 1");
      bare = must(await timed(process.execPath, ["--input-type=module", "-e", BARE_DEFLATE, "--", input]), "bare deflate");
    }
    rmSync(input);
    const dec = must(await nodeRun(CLI, ["extract", png, "-o", back]), "extract");
    rmSync(back, { force: true });
    rmSync(png, { force: true });
    const ratio = bare ? `${(bare.ms / par.ms).toFixed(2)}x` : "-";
    console.log(
      pad(label(size), 10) +
        pad(String(grid), 8) +
        pad(`${fmtRate(size, par.ms)}, ${fmtRss(par.maxRss)}`, 30) +
        pad(one ? `${fmtRate(size, one.ms)}, ${fmtRss(one.maxRss)}` : "-", 30) +
        pad(bare ? fmtRate(size, bare.ms) : "-", 26) +
        pad(ratio, 8) +
        `${fmtRate(size, dec.ms)}, ${fmtRss(dec.maxRss)}   (file ${(pngSize / MB).toFixed(0)} MB)`,
    );
    if (one) console.log(`${" ".repeat(18)}parallel vs 1 thread in the same pipeline: ${(one.ms / par.ms).toFixed(2)}x`);
  }
  console.log("ratio: encode with one deflate thread per core vs bare single-threaded zlib deflate of the same bytes, same level");
}

async function boot(): Promise<void> {
  console.log("\n== time-to-QEMU, ~500 MB boot bundle through the local Worker (wrangler dev) ==");
  if (freeBytes() < 3 * 1024 * MiB) return void console.log(`skipped: needs 3 GiB free in ${DIR}`);
  const haveImage = spawnSync("bash", [join(ROOT, "scripts/build-test-image.sh")], { stdio: "ignore" }).status === 0;
  const img = join(ROOT, ".cache/test-image");
  const kernel = haveImage ? join(img, "vmlinuz") : join(DIR, "vmlinuz");
  if (!haveImage) writeRandom(kernel, 12_000_000);
  const disk = join(DIR, "disk.img");
  writeRandom(disk, 480 * MiB);
  const env = { ...process.env, PIXELRTS_CONFIG_DIR: join(DIR, "config"), PIXELRTS_TOKEN: TOKEN, PIXELRTS_CACHE_DIR: join(DIR, "cache-publisher") };
  must(await nodeRun(CLI, ["pack", "--kernel", kernel, ...(haveImage ? ["--initrd", join(img, "initramfs.cpio.gz")] : []), "--disk", disk, "--cmdline", "console=ttyS0", "--name", "bench-500", "-o", "bench.rts.png"], env), "pack");
  rmSync(disk);
  const fileSize = statSync(join(DIR, "bench.rts.png")).size;
  let worker: WranglerDev | undefined;
  try {
    worker = await startWranglerDev({ port: await freePort(), stateDir: join(DIR, "r2"), vars: { PUBLISH_TOKEN: TOKEN } });
    must(await nodeRun(CLI, ["servers", "add", worker.url, "--name", "edge", "--no-check"], env), "servers add");
    must(await nodeRun(CLI, ["publish", "bench.rts.png", "--server", "edge", "--name", "bench-500", "--no-thumbnail"], env), "publish");
    const entry = JSON.parse(await (await fetch(`${worker.url}/api/v1/catalog/bench-500`)).text()) as Record<string, unknown>;
    const url = new URL(String(entry.download_url ?? entry.url ?? `/api/container/${String(entry.id)}/download`), worker.url).href;
    const rows: [string, Run][] = [];
    const curl = await timed("curl", ["-sS", "-o", join(DIR, "curl.png"), url]);
    rows.push(["curl -o", must(curl, "curl")]);
    rmSync(join(DIR, "curl.png"), { force: true });
    const curlSha = await timed("sh", ["-c", `curl -sS -o "$1" "$2" && sha256sum "$1" >/dev/null`, "sh", join(DIR, "curl.png"), url]);
    rows.push(["curl -o && sha256sum", must(curlSha, "curl && sha256sum")]);
    rmSync(join(DIR, "curl.png"), { force: true });
    const coldEnv = { ...env, PIXELRTS_CACHE_DIR: join(DIR, "cache-cold") };
    const cold = must(await nodeRun(CLI, ["boot", "bench-500", "--server", "edge", "--dry-run", "--kvm", "off"], coldEnv), "cold boot");
    rows.push(["pixelrts boot --dry-run, cold", cold]);
    const warm: Run[] = [];
    for (let i = 0; i < 5; i++) warm.push(must(await nodeRun(CLI, ["boot", "bench-500", "--server", "edge", "--dry-run", "--kvm", "off", "--offline"], coldEnv), "warm boot"));
    warm.sort((a, b) => a.ms - b.ms);
    rows.push(["pixelrts boot --dry-run, warm (median of 5)", warm[2]!]);
    const nodeStart = await timed(process.execPath, ["-e", ""]);
    console.log(`file ${(fileSize / MB).toFixed(0)} MB, ${url.replace(/^https?:\/\/[^/]+/, "")}`);
    for (const [what, r] of rows) console.log(`${pad(what, 44)}${(r.ms / 1000).toFixed(2).padStart(7)} s   ${Number.isNaN(r.maxRss) ? "" : `peak RSS ${fmtRss(r.maxRss)}`}`);
    console.log(`cold / curl -o: ${(cold.ms / curl.ms).toFixed(2)}x   cold / (curl -o && sha256sum): ${(cold.ms / curlSha.ms).toFixed(2)}x   warm: ${(warm[2]!.ms / 1000).toFixed(2)} s (node start-up alone ${(nodeStart.ms / 1000).toFixed(2)} s)`);
  } finally {
    await worker?.stop();
  }
}

mkdirSync(DIR, { recursive: true });
try {
  if (!flag("no-codec")) await codec();
  if (!flag("no-boot")) await boot();
} finally {
  rmSync(DIR, { recursive: true, force: true });
}
