/**
 * Remote aggregation through the real outbound path: the Worker's fetches are answered by the
 * fixture servers in test/remotes.node.ts (fast, slow past the timeout, 500, invalid JSON, huge).
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { RemoteCatalogResponse } from "../../shared/catalog";
import app from "../index";
import { clearRemoteCache } from "../remote/cache";
import { call, type Fixture, makeContainer, ORIGIN, publish } from "../test/helpers";

const SHARED_SHA = "ab".repeat(32);
let local: Fixture;

beforeAll(async () => {
  local = await makeContainer(900, { type: "kernel", name: "local-kernel", description: "our own kernel" }, 42);
  const res = await publish("local-kernel", local, { "x-pixelrts-arch": "x86_64" });
  expect(res.status).toBe(201);
  await res.arrayBuffer();
});

beforeEach(() => clearRemoteCache());

async function remoteCatalog(query = "", headers: Record<string, string> = {}): Promise<RemoteCatalogResponse> {
  const res = await call(`/api/v1/remote/catalog${query}`, { headers });
  expect(res.status).toBe(200);
  return res.json<RemoteCatalogResponse>();
}

describe("GET /api/v1/remote/catalog", () => {
  it("merges every server; slow, failing, malformed and huge ones are reported, never fatal", async () => {
    const body = await remoteCatalog();
    const byId = Object.fromEntries(body.sources.map((s) => [s.id, s]));
    expect(body.sources.map((s) => s.id)).toEqual(["local", "fast", "fast2", "edge", "slow", "error", "invalid", "huge"]);
    expect(byId.local).toMatchObject({ status: "ok", local: true, count: 1, error: null });
    expect(byId.fast).toMatchObject({ status: "ok", count: 2, error: null, url: "http://fast.remote.test", color: "#111111" });
    expect(byId.fast2).toMatchObject({ status: "ok", count: 2, url: "http://fast2.remote.test" }); // trailing / stripped
    expect(byId.edge).toMatchObject({ status: "ok", count: 1 }); // non-object entries dropped
    expect(byId.slow).toMatchObject({ status: "timeout", count: 0, error: { code: "E_REMOTE_TIMEOUT" } });
    expect(byId.slow!.latency_ms).toBeLessThan(2500); // gave up at REMOTE_TIMEOUT_MS (500), not after the 3 s answer
    expect(byId.error).toMatchObject({ status: "error", error: { code: "E_REMOTE_HTTP", message: "HTTP 500" } });
    expect(byId.invalid).toMatchObject({ status: "error", error: { code: "E_REMOTE_INVALID" } });
    expect(byId.huge).toMatchObject({ status: "error", error: { code: "E_REMOTE_TOO_LARGE" } });

    const ids = body.entries.map((e) => `${e.source.id}:${e.id}`);
    expect(ids).toEqual(["local:local-kernel", "fast:bab4921c3048", "fast:c0ffee000001", "fast2:ffff00000003", "edge:alpine-edge"]);
    body.entries.forEach((e, i) => expect(e.position).toEqual({ x: i % 10, y: 0 }));
    expect(body.grid_dimensions).toEqual({ width: 6, height: 2 });
  });

  it("tags entries with their source (ours and the v1.2 sourceServer* fields), dedupes by SHA-256", async () => {
    const body = await remoteCatalog();
    const mine = body.entries.find((e) => e.id === "local-kernel")!;
    expect(mine).toMatchObject({ hash: local.sha256, sourceServerId: "local", sourceServerUrl: ORIGIN, url: `${ORIGIN}/api/v1/containers/local-kernel` });
    const shared = body.entries.find((e) => e.id === "c0ffee000001")!;
    expect(shared).toMatchObject({ sha256: SHARED_SHA, hash: SHARED_SHA, sourceServerId: "fast", sourceServerName: "Fast", sourceServerColor: "#111111", sourceServerUrl: "http://fast.remote.test" });
    expect(shared.also_from).toEqual([{ id: "fast2", name: "Fast two", url: "http://fast2.remote.test", color: "#222222" }]);
    const original = body.entries.find((e) => e.id === "bab4921c3048")!;
    expect(original).toMatchObject({ name: "tiny_100b", distro: "debian", hash: null, url: null, path: "/srv/images/tiny_100b.rts.png" });
    const edge = body.entries.find((e) => e.id === "alpine-edge")!;
    expect(edge.url).toBe("http://edge.remote.test/api/v1/containers/alpine-edge");
    expect(edge.blob_url).toBe(`http://edge.remote.test/blobs/sha256/${"cd".repeat(32)}`);
  });

  it.each<[string, string[]]>([
    ["?source=fast2", ["fast2:ffff00000002", "fast2:ffff00000003"]], // filtered before de-duplication
    ["?arch=arm64", ["fast2:ffff00000003"]],
    ["?arch=x86_64", ["local:local-kernel", "edge:alpine-edge"]],
    ["?q=tiny", ["fast:bab4921c3048"]],
    ["?distro=alpine&type=boot-bundle", ["edge:alpine-edge"]],
    ["?source=local,edge", ["local:local-kernel", "edge:alpine-edge"]],
  ])("filters %s", async (query, want) => {
    const body = await remoteCatalog(query);
    expect(body.entries.map((e) => `${e.source.id}:${e.id}`)).toEqual(want);
  });

  it("pages the merged list with limit/cursor", async () => {
    const p1 = await remoteCatalog("?limit=2");
    expect(p1.entries).toHaveLength(2);
    const p2 = await remoteCatalog(`?limit=2&cursor=${p1.next_cursor}`);
    const p3 = await remoteCatalog(`?limit=2&cursor=${p2.next_cursor}`);
    expect(p3.next_cursor).toBeNull();
    expect([...p1.entries, ...p2.entries, ...p3.entries].map((e) => e.id)).toHaveLength(5);
    expect(p3.entries[0]!.position).toEqual({ x: 4, y: 0 });
    const bad = await call("/api/v1/remote/catalog?cursor=zzz");
    expect(bad.status).toBe(400);
    await bad.arrayBuffer();
  });

  it("a repeated request is served from cache (no waiting on remotes) and revalidates with 304", async () => {
    const cold = await call("/api/v1/remote/catalog");
    const coldBody = await cold.json<RemoteCatalogResponse>();
    const t0 = Date.now();
    const warm = await call("/api/v1/remote/catalog");
    const warmBody = await warm.json<RemoteCatalogResponse>();
    expect(Date.now() - t0).toBeLessThan(400); // the slow remote would cost ≥ 500 ms (its timeout)
    expect(warmBody.sources.map((s) => s.fetched_at).slice(1)).toEqual(coldBody.sources.map((s) => s.fetched_at).slice(1));
    expect(warmBody.stale).toBe(false);
    const etag = warm.headers.get("etag")!;
    const revalidated = await call("/api/v1/remote/catalog", { headers: { "if-none-match": etag } });
    expect(revalidated.status).toBe(304);
    // Cache-Control: no-cache asks every remote again
    const fresh = await remoteCatalog("", { "cache-control": "no-cache" });
    expect(fresh.sources.find((s) => s.id === "fast")!.fetched_at).not.toBe(coldBody.sources.find((s) => s.id === "fast")!.fetched_at);
  });

  it("stale-while-revalidate: past freshness the cached answer is served at once and refreshed in the background", async () => {
    const staleEnv = { ...env, REMOTE_FRESH_SECONDS: "0", REMOTE_SERVERS: JSON.stringify([{ id: "fast", name: "Fast", url: "http://fast.remote.test" }]) };
    const get = async () => {
      const ctx = createExecutionContext();
      const res = await app.fetch(new Request(`${ORIGIN}/api/v1/remote/catalog`), staleEnv, ctx);
      const body = await res.json<RemoteCatalogResponse>();
      await waitOnExecutionContext(ctx);
      return body;
    };
    const first = await get();
    expect(first.stale).toBe(false);
    await new Promise((r) => setTimeout(r, 20));
    const second = await get();
    expect(second.stale).toBe(true); // served the cached copy...
    expect(second.sources[1]!.fetched_at).toBe(first.sources[1]!.fetched_at);
    const third = await get(); // ...while the refresh it triggered has landed
    expect(third.sources[1]!.fetched_at).not.toBe(first.sources[1]!.fetched_at);
    expect(third.entries.filter((e) => e.source.id === "fast")).toHaveLength(2);
  });

  it("bad REMOTE_SERVERS entries are skipped; unreachable hosts are per-source errors", async () => {
    const cfgEnv = { ...env, REMOTE_SERVERS: JSON.stringify([{ id: "x", url: "ftp://nope" }, { id: "down", url: "http://down.remote.test" }, { id: "bad id!", url: "http://fast.remote.test" }]) };
    const res = await app.fetch(new Request(`${ORIGIN}/api/v1/remote/catalog`), cfgEnv, createExecutionContext());
    const body = await res.json<RemoteCatalogResponse>();
    expect(body.sources.map((s) => [s.id, s.status])).toEqual([
      ["local", "ok"],
      ["down", "error"],
    ]);
    expect(body.sources[1]!.error?.code).toMatch(/^E_REMOTE_(UNREACHABLE|HTTP)$/); // miniflare may turn the failure into a 5xx
    expect(body.entries.map((e) => e.id)).toEqual(["local-kernel"]);
  });
});
