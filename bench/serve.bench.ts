/**
 * The console's `GET /api/v1/catalog` over 1,000 cached containers, through real HTTP on
 * loopback: the first answer (the cache is listed and merged), then warm answers (the merged
 * view and its JSON are in memory), and answers that must be rebuilt (a tile was moved just
 * before). Baseline in the same run: node:http serving the same bytes from memory (the
 * transport's own cost). Prints figures; asserts nothing.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { randomBytes } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { normalizeRemoteEntry } from "../shared/catalog.js";
import { parseBootFlags } from "../agent/boot/settings.js";
import { startServe } from "../agent/serve/index.js";
import { makeTestAgent } from "../agent/testing/harness.js";
import { request } from "undici";

const N = 1000;
const ROUNDS = 200;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const p95 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.95)]!;

async function timeGets(url: string, rounds: number): Promise<{ times: number[]; bytes: number }> {
  const times: number[] = [];
  let bytes = 0;
  for (let i = 0; i < rounds; i++) {
    const t0 = performance.now();
    const res = await request(url);
    const body = await res.body.arrayBuffer();
    times.push(performance.now() - t0);
    bytes = body.byteLength;
    if (res.statusCode !== 200) throw new Error(`${url}: ${res.statusCode}`);
  }
  return { times, bytes };
}

const t = await makeTestAgent({ retries: 0 });
try {
  // 1,000 cached containers as pulls leave them: a blob, and an index record with the catalog entry.
  const source = { id: "edge", name: "edge", url: "http://127.0.0.1:8787", color: "#4f8cff" };
  await t.agent.cache.init();
  for (let i = 0; i < N; i++) {
    const sha256 = randomBytes(32).toString("hex");
    const size = 4096 + i;
    const blob = t.agent.cache.blobPath(sha256);
    await mkdir(dirname(blob), { recursive: true });
    await writeFile(blob, Buffer.alloc(size));
    const entry = normalizeRemoteEntry(
      { id: `os-${i}`, name: `os-${i}`, size, sha256, distro: ["alpine", "debian", "fedora"][i % 3], architecture: "x86_64", type: "boot-bundle", description: `container number ${i}`, segments: [{ name: "kernel", type: "kernel", size: 1000, start: 0, sha256 }], url: `http://127.0.0.1:8787/api/v1/containers/os-${i}` },
      source,
    )!;
    await t.agent.cache.writeEntry({ v: 1, sha256, size, addedAt: Date.now(), lastAccess: Date.now(), verifiedAt: Date.now(), pinned: false, sources: [{ url: entry.url!, server: "edge", id: entry.id, name: entry.name, checkedAt: Date.now() }], entry });
  }
  const serve = await startServe({ agent: t.agent, port: 0, bootDefaults: parseBootFlags({ kvm: "off" }), warn: () => {} });
  try {
    const url = `${serve.url}/api/v1/catalog`;
    const cold = await timeGets(url, 1);
    const warm = await timeGets(url, ROUNDS);
    // Rebuilt: a tile moved before each request, so the merge's answer must be made again.
    const rebuilt: number[] = [];
    for (let i = 0; i < ROUNDS / 4; i++) {
      const moved = await request(`${serve.url}/api/v1/catalog/layout`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ entry_id: "os-0", new_position: { x: 20 + (i % 2), y: 0 } }) });
      await moved.body.dump();
      rebuilt.push(...(await timeGets(url, 1)).times);
    }
    // Baseline: the same bytes from memory through node:http.
    const body = Buffer.from(await (await request(url)).body.arrayBuffer());
    const plain = createServer((_req, res) => res.writeHead(200, { "content-type": "application/json", "content-length": body.length }).end(body));
    await new Promise<void>((r) => plain.listen(0, "127.0.0.1", r));
    const base = await timeGets(`http://127.0.0.1:${(plain.address() as AddressInfo).port}/`, ROUNDS);
    await new Promise((r) => plain.close(r));
    const entries = (JSON.parse(body.toString()) as { entries: unknown[] }).entries.length;
    console.log(`pixelrts serve: GET /api/v1/catalog over ${entries} cached entries (${(warm.bytes / 1e6).toFixed(2)} MB of JSON), loopback`);
    console.log(`  first answer (cache listed + merged)    ${cold.times[0]!.toFixed(1)} ms`);
    console.log(`  warm, median / p95 of ${ROUNDS}             ${median(warm.times).toFixed(1)} / ${p95(warm.times).toFixed(1)} ms`);
    console.log(`  rebuilt after a tile moved, median of ${ROUNDS / 4} ${median(rebuilt).toFixed(1)} ms`);
    console.log(`  baseline: node:http, same bytes         ${median(base.times).toFixed(1)} ms  (warm ratio ${(median(warm.times) / median(base.times)).toFixed(2)}x)`);
  } finally {
    await serve.close();
  }
} finally {
  await t.cleanup();
}
