/**
 * Worker benchmark (`npm run bench:worker`). Prints figures; asserts nothing.
 *  1. A 256 MiB container (made by our `pixelrts pack`, cached in the OS temp dir) published
 *     through `wrangler dev`, then downloaded from it and from a node:http server (1 MiB reads)
 *     serving the same file in the same run: MB/s (10^6 bytes/s) and ratio. Loopback, no disk
 *     writes on the client, no hashing (toolchain.md §5 has the reference figures).
 *  2. GET /api/v1/remote/catalog with 10 remotes (9 answering, 1 hanging until the 10 s
 *     per-server timeout): cold (waits for the timeout) and warm (served from cache).
 * wrangler dev runs on a random port with its own temp state dir, and is stopped by PID.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, createWriteStream, existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { request } from "undici";
import { applyLocalMigrations } from "../scripts/lib/wrangler-dev.mjs";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const MB = 1e6;
const RUNS = 3;
const cacheDir = join(tmpdir(), "pixelrts-bench-worker");
const file = join(cacheDir, "bench-256mib.rts.png");
const children: ChildProcess[] = [];

function killTree(pid: number) {
  const kids = spawnSync("pgrep", ["-P", String(pid)], { encoding: "utf8" }).stdout.split(/\s+/).filter(Boolean);
  for (const k of kids) killTree(Number(k));
  try {
    process.kill(pid, "SIGTERM");
  } catch {
    // gone
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function makeContainer(): Promise<void> {
  if (existsSync(file)) return;
  mkdirSync(cacheDir, { recursive: true });
  if (!existsSync(join(ROOT, "dist/pixelrts.mjs"))) execFileSync("npm", ["run", "--silent", "build"], { cwd: ROOT, stdio: "inherit" });
  const payload = join(cacheDir, "payload.bin");
  const out = createWriteStream(payload);
  for (let i = 0; i < 255; i++) if (!out.write(randomBytes(1024 * 1024))) await new Promise<void>((r) => out.once("drain", () => r()));
  await new Promise<void>((r) => out.end(() => r()));
  console.log("packing a 255 MiB payload into an 8192x8192 container (once; cached in %s) ...", cacheDir);
  execFileSync(process.execPath, [join(ROOT, "agent/bin/pixelrts.mjs"), "pack", payload, "-o", file, "--type", "os", "--name", "bench", "--level", "1"], { cwd: ROOT, stdio: "inherit" });
  rmSync(payload);
}

async function sha256File(path: string): Promise<string> {
  const h = createHash("sha256");
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return h.digest("hex");
}

function spawnNode(code: string, args: string[]): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, ["--input-type=module", "-e", code, ...args], { stdio: ["ignore", "pipe", "inherit"] });
  children.push(child);
  return new Promise((resolve) => child.stdout!.once("data", (d) => resolve({ child, port: Number(String(d).trim()) })));
}

// node:http serving one file with 1 MiB reads (the fair baseline from toolchain.md §5)
const FILE_SERVER = `
import { createReadStream, statSync } from "node:fs";
import { createServer } from "node:http";
const file = process.argv[1]; const size = statSync(file).size;
const s = createServer((req, res) => {
  res.writeHead(200, { "content-type": "image/png", "content-length": String(size), "accept-ranges": "bytes" });
  if (req.method === "HEAD") return res.end();
  createReadStream(file, { highWaterMark: 1 << 20 }).pipe(res);
});
s.listen(0, "127.0.0.1", () => process.stdout.write(s.address().port + "\\n"));`;

// remote catalog servers: /rN/api/v1/catalog answers 100 entries, /hang/... never answers
const REMOTES_SERVER = `
import { createServer } from "node:http";
const s = createServer((req, res) => {
  const m = /^\\/(r\\d+|hang)\\/api\\/v1\\/catalog$/.exec(req.url);
  if (!m) { res.writeHead(404); return res.end(); }
  if (m[1] === "hang") return; // never answers
  const entries = Array.from({ length: 100 }, (_, i) => ({ id: m[1] + "-" + i, name: m[1] + "-" + i, path: "/srv/" + i, size: 1000 + i,
    kernel_version: null, distro: "bench", architecture: "x86_64", visual_description: null, detected_objects: [], thumbnail: "", position: { x: i % 10, y: Math.floor(i / 10) } }));
  res.writeHead(200, { "content-type": "application/json" });
  res.end(JSON.stringify({ entries, grid_dimensions: { width: 11, height: 11 } }));
});
s.listen(0, "127.0.0.1", () => process.stdout.write(s.address().port + "\\n"));`;

async function download(url: string): Promise<number> {
  const t0 = performance.now();
  const res = await request(url);
  if (res.statusCode !== 200) throw new Error(`GET ${url}: HTTP ${res.statusCode}`);
  let n = 0;
  for await (const chunk of res.body) n += (chunk as Buffer).length;
  const s = (performance.now() - t0) / 1000;
  return n / MB / s;
}

async function timeGet(url: string, headers: Record<string, string> = {}): Promise<{ ms: number; body: string }> {
  const t0 = performance.now();
  const res = await request(url, { headers });
  const body = await res.body.text();
  return { ms: performance.now() - t0, body };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main() {
  await makeContainer();
  const size = statSync(file).size;
  const sha = await sha256File(file);
  console.log(`container: ${file} (${(size / 1024 / 1024).toFixed(1)} MiB, sha256 ${sha.slice(0, 16)}…)`);

  const fileServer = await spawnNode(FILE_SERVER, [file]);
  const remotes = await spawnNode(REMOTES_SERVER, []);
  const remoteList = [...Array.from({ length: 9 }, (_, i) => `r${i}`), "hang"].map((p) => ({ id: p, name: p, url: `http://127.0.0.1:${remotes.port}/${p}` }));

  const port = await freePort();
  const state = mkdtempSync(join(tmpdir(), "pixelrts-bench-state-"));
  applyLocalMigrations(state); // the D1 catalog index schema
  const wrangler = spawn(
    process.execPath,
    [
      join(ROOT, "node_modules/wrangler/bin/wrangler.js"), "dev", "--ip", "127.0.0.1", "--port", String(port), "--persist-to", state,
      "--show-interactive-dev-session=false", "--log-level", "warn",
      "--var", "PUBLISH_TOKEN:bench-token", "--var", "MAX_UPLOAD_BYTES:400000000", "--var", `REMOTE_SERVERS:${JSON.stringify(remoteList)}`,
    ],
    { cwd: ROOT, stdio: ["ignore", "ignore", "inherit"], env: { ...process.env, WRANGLER_SEND_METRICS: "false", WRANGLER_SEND_ERROR_REPORTS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_HIDE_BANNER: "true" } },
  );
  children.push(wrangler);
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      if ((await request(`${base}/api/v1/health`)).statusCode === 200) break;
    } catch {
      if (i > 300) throw new Error("wrangler dev did not start");
    }
    await new Promise((r) => setTimeout(r, 200));
  }

  const t0 = performance.now();
  const put = await request(`${base}/api/v1/containers/bench`, {
    method: "PUT",
    body: createReadStream(file, { highWaterMark: 1 << 20 }),
    headers: { authorization: "Bearer bench-token", "content-length": String(size), "x-pixelrts-sha256": sha },
  });
  const putBody = await put.body.text();
  if (put.statusCode !== 201 && put.statusCode !== 200) throw new Error(`publish failed: ${put.statusCode} ${putBody}`);
  const putMBs = size / MB / ((performance.now() - t0) / 1000);

  const worker: number[] = [];
  const node: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    worker.push(await download(`${base}/api/v1/containers/bench`));
    node.push(await download(`http://127.0.0.1:${fileServer.port}/`));
  }

  const cold = await timeGet(`${base}/api/v1/remote/catalog?thumbnails=0`);
  const coldDoc = JSON.parse(cold.body) as { entries: unknown[]; sources: { id: string; status: string; latency_ms: number }[] };
  const warm: number[] = [];
  for (let i = 0; i < 5; i++) warm.push((await timeGet(`${base}/api/v1/remote/catalog?thumbnails=0`)).ms);
  const local = await timeGet(`${base}/api/v1/catalog?thumbnails=0`);

  const w = Math.max(...worker);
  const n = Math.max(...node);
  console.log(`
Container download, ${(size / MB).toFixed(0)} MB, loopback, best of ${RUNS} (median)
  wrangler dev (Worker → local R2)   ${w.toFixed(0)} MB/s (${median(worker).toFixed(0)})
  node:http, 1 MiB reads             ${n.toFixed(0)} MB/s (${median(node).toFixed(0)})
  ratio Worker / node:http           ${(w / n).toFixed(2)}
  publish (PUT through the Worker, R2 verifying sha256): ${putMBs.toFixed(0)} MB/s

GET /api/v1/remote/catalog, 10 remotes (9 × 100 entries, 1 hanging; REMOTE_TIMEOUT_MS 10000)
  cold    ${cold.ms.toFixed(0)} ms  (${coldDoc.entries.length} entries; ${coldDoc.sources.map((s) => `${s.id}:${s.status}`).join(" ")})
  warm    ${median(warm).toFixed(0)} ms median of 5 (min ${Math.min(...warm).toFixed(0)}, max ${Math.max(...warm).toFixed(0)})
  local-only /api/v1/catalog: ${local.ms.toFixed(0)} ms
`);
  rmSync(state, { recursive: true, force: true });
}

try {
  await main();
} finally {
  for (const c of children) if (c.pid) killTree(c.pid);
}
