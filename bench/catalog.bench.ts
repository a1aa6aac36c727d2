/**
 * Catalog benchmark (`npm run bench:catalog`). Prints figures; asserts nothing.
 *
 * 10,000 names, each with an inline thumbnail like the ones the agent publishes (a 256x256 RGB
 * thumbnail of a container's pixels, ~196 KB, whose index copy the Worker shrinks under 32 KiB),
 * are written into a local Miniflare (workerd, local R2 and D1 persisted in a temp dir) straight
 * through the bindings: R2 pointers and the D1 index rows the publish flow would write. Then, for
 * the unpaged original-shape catalog, a page of 50, a search and the page at `/`: cold latency
 * (first request after a fresh Miniflare start) and warm latency (median of 5), bytes, storage
 * calls per request (counted by wrapped bindings, worker/test/catalog-bench-entry.ts), and the peak RSS of
 * the workerd process while the unpaged catalog streams to a slow reader.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { Log, LogLevel, Miniflare } from "miniflare";
import { request, WebSocket } from "undici";
import { freePort } from "../scripts/lib/wrangler-dev.mjs";
import { deflateSync } from "node:zlib";
import { encodeChunk, PNG_SIGNATURE } from "../shared/png/chunks";
import { applyMigrations } from "../scripts/lib/d1-migrations.mjs";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const N = Number(process.env.BENCH_ENTRIES ?? 10_000);
const state = mkdtempSync(join(tmpdir(), "pixelrts-bench-catalog-"));

async function bundle(): Promise<string> {
  const out = await build({ entryPoints: [`${ROOT}worker/test/catalog-bench-entry.ts`], bundle: true, format: "esm", platform: "neutral", target: "es2022", write: false, conditions: ["workerd", "worker", "browser"], mainFields: ["module", "main"], logLevel: "silent" });
  return out.outputFiles[0]!.text;
}

function start(script: string, inspectorPort?: number): Miniflare {
  return new Miniflare({
    ...(inspectorPort ? { inspectorPort } : {}),
    modules: true,
    script,
    compatibilityDate: "2026-05-03",
    r2Buckets: { BUCKET: "bench-bucket" },
    d1Databases: { DB: "bench-index" },
    r2Persist: join(state, "r2"),
    d1Persist: join(state, "d1"),
    bindings: { REMOTE_SERVERS: "[]", PUBLISH_TOKEN: "bench" },
    cf: false,
    port: 0,
    host: "127.0.0.1",
    log: new Log(process.env.BENCH_LOG ? LogLevel.DEBUG : LogLevel.WARN),
  });
}

/** A 256x256 RGB PNG of pseudo-random pixels: what `pixelrts publish` makes of a container's payload. */
async function agentThumbnail(seed: number): Promise<Uint8Array> {
  const w = 256;
  const raw = new Uint8Array(w * (w * 3 + 1));
  let x = seed;
  for (let i = 0; i < raw.length; i++) raw[i] = i % (w * 3 + 1) === 0 ? 0 : (x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 24;
  const ihdr = new Uint8Array(13);
  new DataView(ihdr.buffer).setUint32(0, w);
  new DataView(ihdr.buffer).setUint32(4, w);
  ihdr[8] = 8;
  ihdr[9] = 2;
  const parts = [PNG_SIGNATURE, encodeChunk("IHDR", ihdr), encodeChunk("IDAT", new Uint8Array(deflateSync(raw))), encodeChunk("IEND", new Uint8Array(0))];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

async function seed(mf: Miniflare, base: string): Promise<{ thumbBytes: number; inlineBytes: number }> {
  await applyMigrations(await mf.getD1Database("DB"));
  const variants: string[] = [];
  for (let v = 0; v < 8; v++) variants.push(Buffer.from(await agentThumbnail(v + 1)).toString("base64"));
  let inlineBytes = 0;
  for (let from = 0; from < N; from += 250) {
    // a new connection per call: the local server may close a kept-alive one between two big POSTs
    const res = await request(`${base}/__bench/seed`, { method: "POST", reset: true, body: JSON.stringify({ from, count: Math.min(250, N - from), thumbnails: variants }) });
    const body = (await res.body.json()) as { inline_bytes: number };
    if (res.statusCode !== 200) throw new Error(`seed: HTTP ${res.statusCode} ${JSON.stringify(body)}`);
    inlineBytes = body.inline_bytes;
  }
  return { thumbBytes: Buffer.from(variants[0]!, "base64").length, inlineBytes };
}

interface Sample {
  ms: number;
  ttfbMs: number;
  bytes: number;
  r2: number;
  d1: number;
}

async function measure(base: string, path: string, headers: Record<string, string> = {}, onChunk?: () => Promise<void>): Promise<Sample> {
  const t0 = performance.now();
  const res = await request(base + path, { headers });
  const ttfbMs = performance.now() - t0;
  let bytes = 0;
  for await (const chunk of res.body) {
    bytes += (chunk as Buffer).length;
    if (onChunk) await onChunk();
  }
  const ms = performance.now() - t0;
  if (res.statusCode !== 200) throw new Error(`${path}: HTTP ${res.statusCode}`);
  const calls = (await (await request(`${base}/__bench/calls`)).body.json()) as { r2: number; d1: number };
  return { ms, ttfbMs, bytes, r2: calls.r2, d1: calls.d1 };
}

function workerdPids(): number[] {
  const out: number[] = [];
  const walk = (pid: number) => {
    let kids: string[] = [];
    try {
      kids = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").split(/\s+/).filter(Boolean);
    } catch {
      return;
    }
    for (const k of kids) {
      const n = Number(k);
      try {
        if (readFileSync(`/proc/${n}/comm`, "utf8").trim().startsWith("workerd")) out.push(n);
      } catch {
        // gone
      }
      walk(n);
    }
  };
  walk(process.pid);
  return out;
}

function rssMiB(pids: number[]): number {
  let kb = 0;
  for (const pid of pids) {
    try {
      kb += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);
    } catch {
      // gone
    }
  }
  return kb / 1024;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmt = (n: number) => (n >= 100 ? n.toFixed(0) : n.toFixed(1));
const size = (b: number) => (b >= 1e6 ? `${(b / 1e6).toFixed(1)} MB` : `${(b / 1e3).toFixed(1)} kB`);

async function main() {
  const script = await bundle();
  let mf = start(script);
  let base = (await mf.ready).toString().replace(/\/$/, "");
  const t0 = performance.now();
  const { thumbBytes, inlineBytes } = await seed(mf, base);
  console.log(`seeded ${N} names in ${((performance.now() - t0) / 1000).toFixed(1)} s (agent thumbnail ${size(thumbBytes)}, its inline copy ${size(inlineBytes)})`);

  const routes: [string, string, Record<string, string>][] = [
    ["unpaged catalog (original shape, inline thumbnails)", "/api/v1/catalog", {}],
    ["unpaged catalog, thumbnails=0", "/api/v1/catalog?thumbnails=0", {}],
    ["a page of 50", "/api/v1/catalog?limit=50", {}],
    ["a search (q=rescue, page of 50)", "/api/v1/catalog?q=rescue&limit=50", {}],
    ["the page at /", "/", { accept: "text/html" }],
    ["the page at / with a search (q=rescue, distro=gentoo)", "/?q=rescue&distro=gentoo", { accept: "text/html" }],
    ["revalidation of the unpaged catalog (304)", "/api/v1/catalog", {}],
  ];
  console.log(`\n| request | cold ms | warm ms (median of 5) | bytes | R2 calls | D1 calls |\n|---|---|---|---|---|---|`);
  for (const [label, path, headers] of routes) {
    await mf.dispose();
    mf = start(script);
    base = (await mf.ready).toString().replace(/\/$/, "");
    let h = headers;
    if (label.startsWith("revalidation")) {
      const first = await request(base + path);
      await first.body.dump();
      h = { "if-none-match": String(first.headers.etag) };
    }
    const cold = label.startsWith("revalidation") ? await measure304(base, path, h) : await measure(base, path, h);
    const warm: Sample[] = [];
    for (let i = 0; i < 5; i++) warm.push(label.startsWith("revalidation") ? await measure304(base, path, h) : await measure(base, path, h));
    console.log(`| ${label} | ${fmt(cold.ms)} | ${fmt(median(warm.map((s) => s.ms)))} | ${size(cold.bytes)} | ${cold.r2} | ${cold.d1} |`);
  }

  // memory while the unpaged catalog streams to a slow reader: the Worker isolate's V8 heap
  // (what the 128 MB limit is about; read over the inspector protocol) and workerd's RSS (which
  // also holds the local D1/R2 simulators and their SQLite caches)
  await mf.dispose();
  const inspector = await freePort();
  mf = start(script, inspector);
  base = (await mf.ready).toString().replace(/\/$/, "");
  await measure(base, "/api/v1/catalog?limit=1"); // warm the isolate
  const targets = (await (await request(`http://127.0.0.1:${inspector}/json`)).body.json()) as { title: string; webSocketDebuggerUrl: string }[];
  const ws = new WebSocket(targets.find((t) => t.title.includes("core:user"))!.webSocketDebuggerUrl);
  await new Promise((r) => ws.addEventListener("open", r, { once: true }));
  let nextId = 1;
  const pending = new Map<number, (v: { usedSize: number; totalSize: number }) => void>();
  ws.addEventListener("message", (m) => {
    const msg = JSON.parse(String(m.data)) as { id?: number; result?: { usedSize: number; totalSize: number } };
    if (msg.id && pending.has(msg.id)) pending.get(msg.id)!(msg.result!);
  });
  const heap = () =>
    new Promise<{ usedSize: number; totalSize: number }>((resolve) => {
      const id = nextId++;
      pending.set(id, resolve);
      ws.send(JSON.stringify({ id, method: "Runtime.getHeapUsage" }));
    });
  const pids = workerdPids();
  for (const [label, path] of [
    ["unpaged catalog", "/api/v1/catalog"],
    ["one distro of it (1/8)", "/api/v1/catalog?distro=alpine"],
  ] as const) {
    const idleHeap = (await heap()).usedSize / 2 ** 20;
    const idleRss = rssMiB(pids);
    let peakHeap = idleHeap;
    let peakRss = idleRss;
    let sampling = true;
    const sample = async () => {
      while (sampling) {
        peakHeap = Math.max(peakHeap, (await heap()).usedSize / 2 ** 20);
        peakRss = Math.max(peakRss, rssMiB(pids));
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    const sampler = sample();
    let chunks = 0;
    const slow = await measure(base, path, {}, async () => {
      if (++chunks % 64 === 0) await new Promise((r) => setTimeout(r, 5)); // a reader slower than the Worker
    });
    sampling = false;
    await sampler;
    console.log(
      `${label} (${size(slow.bytes)}) streamed to a slow reader: Worker isolate heap idle ${fmt(idleHeap)} MiB, peak ${fmt(peakHeap)} MiB; workerd RSS idle ${fmt(idleRss)} MiB, peak ${fmt(peakRss)} MiB`,
    );
  }
  ws.close();
  await mf.dispose();
  rmSync(state, { recursive: true, force: true });
}

async function measure304(base: string, path: string, headers: Record<string, string>): Promise<Sample> {
  const t0 = performance.now();
  const res = await request(base + path, { headers });
  await res.body.dump();
  const ms = performance.now() - t0;
  if (res.statusCode !== 304) throw new Error(`${path}: expected 304, got ${res.statusCode}`);
  const calls = (await (await request(`${base}/__bench/calls`)).body.json()) as { r2: number; d1: number };
  return { ms, ttfbMs: ms, bytes: 0, r2: calls.r2, d1: calls.d1 };
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
