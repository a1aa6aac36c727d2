/**
 * Federated catalogs, agent side, against two real Workers in Miniflare: "edge" lists its own
 * containers and federates "b" (REMOTE_SERVERS), whose catalog it fetches through Miniflare's
 * outbound hook, forwarded to the second Worker on loopback. The agent lists the merged answer
 * (`catalog --federated`), keeps each entry's inner source, downloads a remote entry from its own
 * server, and falls back to its saved copy of the merged answer when edge is down.
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { Miniflare } from "miniflare";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hybridView, loadCatalogs, findInCatalogs } from "../agent/catalog/index.js";
import { ensureCached } from "../agent/pull/ensure.js";
import { makeTestAgent, type TestAgent } from "../agent/testing/harness.js";
import { collectBytes, encodeContainer } from "../shared/container/encode.js";
import { buildMetadata } from "../shared/container/metadata.js";
import type { PyDict } from "../shared/pyjson.js";
import "./helpers/loopback-only.mjs";
import { blockedHosts } from "./helpers/loopback-only.mjs";
import { startTestWorker, type TestWorker } from "./helpers/miniflare-worker.js";
import { applyMigrations } from "../scripts/lib/d1-migrations.mjs";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const TOKEN = "federation-token";
const REMOTE_HOST = "remote-b.test";

let b: TestWorker;
let edge: Miniflare;
let edgeUrl: string;
const forwarded: string[] = [];
let t: TestAgent;

let onlyA: Uint8Array;
let onlyB: Uint8Array;
let shared: Uint8Array;
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** A real (small) container: the Worker decodes what it is given. */
async function makeContainer(seed: number, name: string): Promise<Uint8Array> {
  const payload = new Uint8Array(20_000);
  let x = seed;
  for (let i = 0; i < payload.length; i++) payload[i] = (x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 24;
  const caller = new Map<string, string>([["type", "kernel"], ["name", name]]) as unknown as PyDict;
  const enc = await encodeContainer(payload, (ctx) => buildMetadata({ gridSize: ctx.gridSize, caller, dataHash: ctx.dataHash, dataSize: ctx.dataSize }));
  return collectBytes(enc.png);
}

async function publish(base: string, name: string, bytes: Uint8Array): Promise<void> {
  const res = await request(`${base}/api/v1/containers/${name}`, {
    method: "PUT",
    body: bytes,
    headers: { authorization: `Bearer ${TOKEN}`, "x-pixelrts-sha256": sha(bytes), "content-length": String(bytes.length), "content-type": "image/png" },
  });
  const text = await res.body.text();
  if (res.statusCode >= 300) throw new Error(`publish ${name}: ${res.statusCode} ${text}`);
}

beforeAll(async () => {
  b = await startTestWorker({ PUBLISH_TOKEN: TOKEN, CATALOG_ID: "b", CATALOG_NAME: "B" });
  const script = (await build({ entryPoints: [`${ROOT}worker/index.ts`], bundle: true, format: "esm", platform: "neutral", target: "es2022", write: false, conditions: ["workerd", "worker", "browser"], mainFields: ["module", "main"], logLevel: "silent" })).outputFiles[0]!.text;
  edge = new Miniflare({
    modules: true,
    script,
    compatibilityDate: "2026-05-03",
    r2Buckets: { BUCKET: "edge-bucket" },
    d1Databases: { DB: "edge-catalog-index" },
    bindings: { PUBLISH_TOKEN: TOKEN, CATALOG_ID: "edge", CATALOG_NAME: "Edge", REMOTE_SERVERS: JSON.stringify([{ id: "b", name: "B", url: `http://${REMOTE_HOST}`, color: "#00aa00" }]) },
    cf: false,
    port: 0,
    host: "127.0.0.1",
    // edge's only way out: requests for the remote's host go to Worker b on loopback, nothing else
    outboundService: async (req) => {
      const u = new URL(req.url);
      forwarded.push(u.host + u.pathname);
      if (u.host !== REMOTE_HOST) return new Response("blocked by test", { status: 599 });
      const res = await request(`${b.url}${u.pathname}${u.search}`, { method: "GET", headers: { accept: "application/json" } });
      return new Response(new Uint8Array(await res.body.arrayBuffer()), { status: res.statusCode, headers: { "content-type": String(res.headers["content-type"] ?? "application/json") } });
    },
  });
  edgeUrl = (await edge.ready).toString().replace(/\/$/, "");
  await applyMigrations(await edge.getD1Database("DB"));
  [onlyA, onlyB, shared] = await Promise.all([makeContainer(21, "a"), makeContainer(22, "b"), makeContainer(23, "shared")]);
  await publish(edgeUrl, "only-a", onlyA);
  await publish(edgeUrl, "shared", shared);
  await publish(b.url, "only-b", onlyB);
  await publish(b.url, "shared-copy", shared);
  t = await makeTestAgent({ retries: 0, catalogFreshMs: 0 });
  await t.agent.servers.add({ url: edgeUrl, name: "edge" });
}, 60_000);

afterAll(async () => {
  await t?.cleanup();
  await edge?.dispose();
  await b?.dispose();
  expect(b.outbound).toEqual([]);
  expect(forwarded.every((f) => f.startsWith(`${REMOTE_HOST}/`))).toBe(true);
  expect(blockedHosts()).toEqual([]);
});

describe("federated catalogs (catalog --federated)", () => {
  it("lists edge's entries and the remote's, each under its own source; the same bytes once", async () => {
    const [cat] = await loadCatalogs(t.agent, { federated: true });
    expect(cat!.error).toBeUndefined();
    const bySha = new Map(cat!.entries.map((e) => [e.sha256, e]));
    expect(bySha.get(sha(onlyA))).toMatchObject({ id: "only-a", source: { id: "edge" } });
    expect(bySha.get(sha(onlyB))).toMatchObject({ id: "only-b", source: { id: "b", name: "B" } });
    // deduplicated by SHA-256, the local copy first
    expect(cat!.entries.filter((e) => e.sha256 === sha(shared)).map((e) => [e.id, e.source.id])).toEqual([["shared", "edge"]]);
    expect(forwarded.some((f) => f.startsWith(`${REMOTE_HOST}/api/v1/catalog`))).toBe(true);

    const view = hybridView({ catalogs: [cat!], cached: [], source: "servers", filter: {} });
    expect(view.rows.map((r) => [r.id, r.source]).sort()).toEqual([["only-a", "edge"], ["only-b", "edge/b"], ["shared", "edge"]]);
    // without --federated only edge's own catalog is asked
    const [plain] = await loadCatalogs(t.agent);
    expect(plain!.entries.map((e) => e.id).sort()).toEqual(["only-a", "shared"]);
  });

  it("a remote entry is downloaded from its own server (edge proxies no bytes), verified", async () => {
    const [cat] = await loadCatalogs(t.agent, { federated: true });
    const found = findInCatalogs([cat!], "only-b")!;
    expect(new URL(found.downloadUrl).origin).toBe(new URL(b.url).origin);
    const r = await ensureCached(t.agent, found.downloadUrl, { emit: t.emit });
    expect(sha(await readFile(r.path))).toBe(sha(onlyB));
  });

  it("offline, the saved merged answer is listed, marked stale; the plain catalog keeps its own saved copy", async () => {
    await loadCatalogs(t.agent, { federated: true });
    await loadCatalogs(t.agent);
    const [offline] = await loadCatalogs(t.agent, { federated: true, offline: true });
    expect(offline).toMatchObject({ stale: true, fromCache: true, error: { code: "E_OFFLINE" } });
    expect(offline!.entries.map((e) => `${e.source.id}:${e.id}`).sort()).toEqual(["b:only-b", "edge:only-a", "edge:shared"]);
    // the plain catalog has its own saved copy: the federated one never replaces it
    const [plainOffline] = await loadCatalogs(t.agent, { offline: true });
    expect(plainOffline!.entries.map((e) => e.id).sort()).toEqual(["only-a", "shared"]);
  });
});
