/**
 * The agent against the real Worker: the Worker bundled with esbuild and run by Miniflare
 * (workerd, local R2) on 127.0.0.1, the agent talking to it over real HTTP (toolchain.md §4).
 * Faults the Worker cannot produce are in agent/pull/pull.test.ts (fault server).
 */
import { createHash } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { request, type Dispatcher } from "undici";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { collectBytes, encodeContainer } from "../shared/container/encode.js";
import { buildMetadata } from "../shared/container/metadata.js";
import type { PyDict } from "../shared/pyjson.js";
import { ensureCached } from "../agent/pull/ensure.js";
import { loadCatalogs } from "../agent/catalog/index.js";
import { makeTestAgent, type TestAgent } from "../agent/testing/harness.js";
import "./helpers/loopback-only.mjs";
import { blockedHosts } from "./helpers/loopback-only.mjs";
import { startTestWorker, type TestWorker } from "./helpers/miniflare-worker.js";

const TOKEN = "agent-test-token";
let worker: TestWorker;
let base: string;
let t: TestAgent;

async function makeContainer(size: number, name: string): Promise<{ bytes: Uint8Array; sha256: string }> {
  const payload = new Uint8Array(size);
  let x = 12345;
  for (let i = 0; i < size; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    payload[i] = x >>> 24;
  }
  const caller: PyDict = new Map<string, string>([["type", "kernel"], ["name", name]]) as unknown as PyDict;
  const enc = await encodeContainer(payload, (ctx) => buildMetadata({ gridSize: ctx.gridSize, caller, dataHash: ctx.dataHash, dataSize: ctx.dataSize }));
  const bytes = await collectBytes(enc.png);
  return { bytes, sha256: createHash("sha256").update(bytes).digest("hex") };
}

async function publish(name: string, f: { bytes: Uint8Array; sha256: string }): Promise<void> {
  const res = await request(`${base}/api/v1/containers/${name}`, {
    method: "PUT",
    body: f.bytes,
    headers: { authorization: `Bearer ${TOKEN}`, "x-pixelrts-sha256": f.sha256, "content-length": String(f.bytes.length), "content-type": "image/png" },
  });
  const text = await res.body.text();
  if (res.statusCode >= 300) throw new Error(`publish ${name}: ${res.statusCode} ${text}`);
}

let demo: { bytes: Uint8Array; sha256: string };

beforeAll(async () => {
  worker = await startTestWorker({ PUBLISH_TOKEN: TOKEN, CATALOG_ID: "edge", CATALOG_NAME: "Edge test" });
  base = worker.url;
  demo = await makeContainer(600_000, "demo");
  await publish("demo", demo);
}, 60_000);

afterAll(async () => {
  await worker?.dispose();
  expect(worker.outbound).toEqual([]);
  expect(blockedHosts()).toEqual([]);
});

beforeEach(async () => {
  t = await makeTestAgent();
  await t.agent.servers.add({ url: base, name: "edge" });
});
afterEach(async () => {
  await t.cleanup();
});

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

interface Exchange {
  method: string;
  path: string;
  ifNoneMatch?: string;
  status?: number;
}

/** An undici interceptor that records each request the agent sends and the status it got back. */
function recorder(log: Exchange[]): Dispatcher.DispatcherComposeInterceptor {
  return (dispatch) => (opts, handler) => {
    const headers = (opts.headers ?? {}) as Record<string, string | string[] | undefined>;
    const inm = Object.entries(headers).find(([k]) => k.toLowerCase() === "if-none-match")?.[1];
    const x: Exchange = { method: opts.method, path: opts.path, ...(typeof inm === "string" ? { ifNoneMatch: inm } : {}) };
    log.push(x);
    return dispatch(opts, {
      onRequestStart: (c, ctx) => handler.onRequestStart?.(c, ctx),
      onRequestUpgrade: (c, s, h, sock) => handler.onRequestUpgrade?.(c, s, h, sock),
      onResponseStart: (c, status, h, m) => {
        x.status = status;
        return handler.onResponseStart?.(c, status, h, m);
      },
      onResponseData: (c, chunk) => handler.onResponseData?.(c, chunk),
      onResponseEnd: (c, trailers) => handler.onResponseEnd?.(c, trailers),
      onResponseError: (c, err) => handler.onResponseError?.(c, err),
    });
  };
}

describe("agent ↔ Worker (Miniflare)", () => {
  it("lists the Worker's catalog with hashes and pulls by id through the blob URL", async () => {
    const [cat] = await loadCatalogs(t.agent);
    expect(cat!.error).toBeUndefined();
    const e = cat!.entries.find((x) => x.id === "demo");
    expect(e).toMatchObject({ sha256: demo.sha256, size: demo.bytes.length });
    const r = await ensureCached(t.agent, "demo", { emit: t.emit });
    expect(r.sha256).toBe(demo.sha256);
    expect(sha(await readFile(r.path))).toBe(demo.sha256);
    expect(t.events.find((x) => x.event === "start")).toMatchObject({ url: expect.stringContaining(`/blobs/sha256/${demo.sha256}`) });
  });

  it("resumes a partial download with Range + If-Range against the Worker (206)", async () => {
    // A previous pull of the id URL stopped after 200 kB: bytes and validators are on disk.
    const url = `${base}/api/v1/containers/demo`;
    const head = await request(url, { method: "HEAD" });
    await head.body.dump();
    const etag = head.headers.etag as string;
    expect(etag).toMatch(/^"/);
    const key = createHash("sha256").update(new URL(url).href).digest("hex");
    const p = t.agent.cache.layout.partial(key);
    await t.agent.cache.init();
    await mkdir(t.agent.cache.layout.partialDir, { recursive: true });
    await writeFile(p.data, demo.bytes.subarray(0, 200_000));
    await writeFile(p.meta, JSON.stringify({ url: new URL(url).href, etag, size: demo.bytes.length, sha256: demo.sha256 }));
    const r = await ensureCached(t.agent, url, { emit: t.emit });
    expect(t.events.find((x) => x.event === "start")).toMatchObject({ resume_from: 200_000, size: demo.bytes.length });
    expect(sha(await readFile(r.path))).toBe(demo.sha256);
  });

  it("a stale partial (validator no longer matches) is refused and restarted cleanly", async () => {
    const url = `${base}/api/v1/containers/demo`;
    const key = createHash("sha256").update(new URL(url).href).digest("hex");
    const p = t.agent.cache.layout.partial(key);
    await t.agent.cache.init();
    await writeFile(p.data, Buffer.alloc(100_000, 1)); // bytes of some older version
    await writeFile(p.meta, JSON.stringify({ url: new URL(url).href, etag: '"old-version"', size: demo.bytes.length, sha256: demo.sha256 }));
    const r = await ensureCached(t.agent, url, { emit: t.emit });
    expect(t.events.some((x) => x.event === "note" && /restarting from byte 0/.test(x.message))).toBe(true);
    expect(sha(await readFile(r.path))).toBe(demo.sha256);
  });

  it("revalidates a stale URL pull with If-None-Match (Worker answers 304)", async () => {
    const log: Exchange[] = [];
    const t2 = await makeTestAgent({ containerFreshMs: 0, retries: 0 }, undefined, { interceptors: [recorder(log)] });
    try {
      const url = `${base}/api/v1/containers/demo`;
      const first = await ensureCached(t2.agent, url);
      expect(first.fromCache).toBe(false);
      const etag = first.record.sources[0]!.etag;
      expect(etag).toMatch(/^"/);
      const again = await ensureCached(t2.agent, url, { emit: t2.emit });
      expect(again.fromCache).toBe(true);
      expect(t2.events.filter((e) => e.event === "start")).toHaveLength(0);
      // on the wire: a full GET, then a conditional GET with the stored ETag answered 304
      expect(log.filter((x) => !x.path.endsWith("/signatures")).map((x) => [x.method, x.path, x.ifNoneMatch, x.status])).toEqual([
        ["GET", "/api/v1/containers/demo", undefined, 200],
        ["GET", "/api/v1/containers/demo", etag, 304],
      ]);
      expect((await t2.agent.cache.get(demo.sha256))!.sources[0]!.checkedAt).toBeGreaterThanOrEqual(first.record.sources[0]!.checkedAt);
    } finally {
      await t2.cleanup();
    }
  });

  it("an unknown id is E_NOT_FOUND naming the server; a missing blob is a 404 (E_HTTP), not retried", async () => {
    await expect(ensureCached(t.agent, "nope")).rejects.toMatchObject({ code: "E_NOT_FOUND", message: expect.stringContaining("edge") });
    await expect(ensureCached(t.agent, `${base}/blobs/sha256/${"0".repeat(64)}`, { emit: t.emit })).rejects.toMatchObject({ code: "E_HTTP" });
    expect(t.events.filter((e) => e.event === "retry")).toHaveLength(0);
  });
});
