/**
 * Remote aggregation through the real outbound path: the Worker's fetches are answered by the
 * fixture servers in test/remotes.node.ts (fast, slow past the timeout, 500, invalid JSON, huge,
 * and `count-*` hosts whose answer says how often they were fetched). Only the first test
 * includes the slow server (every request with it waits for REMOTE_TIMEOUT_MS); the others use
 * the same servers without it, so they assert the same merge without waiting.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { RemoteCatalogResponse } from "../../shared/catalog";
import app from "../index";
import { clearRemoteCache } from "../remote/cache";
import { type Fixture, makeContainer, ORIGIN, publish } from "../test/helpers";

const SHARED_SHA = "ab".repeat(32);
const ALL_REMOTES = JSON.parse(env.REMOTE_SERVERS as string) as { id: string }[];
const WITHOUT_SLOW = JSON.stringify(ALL_REMOTES.filter((r) => r.id !== "slow"));
const counter = (tag: string) => ({ id: `count-${tag}`, name: "Counter", url: `http://count-${tag}.remote.test` });
let local: Fixture;

beforeAll(async () => {
  local = await makeContainer(900, { type: "kernel", name: "local-kernel", description: "our own kernel" }, 42);
  const res = await publish("local-kernel", local, { "x-pixelrts-arch": "x86_64" });
  expect(res.status).toBe(201);
  await res.arrayBuffer();
});

beforeEach(() => clearRemoteCache());

/** GET /api/v1/remote/catalog with `remotes` as REMOTE_SERVERS (default: all but the slow one); waits for background work. */
async function remoteCall(query = "", headers: Record<string, string> = {}, remotes = WITHOUT_SLOW, vars: Record<string, string> = {}): Promise<Response> {
  const ctx = createExecutionContext();
  const res = await app.fetch(new Request(`${ORIGIN}/api/v1/remote/catalog${query}`, { headers }), { ...env, REMOTE_SERVERS: remotes, ...vars }, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

async function remoteCatalog(query = "", headers: Record<string, string> = {}, remotes = WITHOUT_SLOW, vars: Record<string, string> = {}): Promise<RemoteCatalogResponse> {
  const res = await remoteCall(query, headers, remotes, vars);
  expect(res.status).toBe(200);
  return res.json<RemoteCatalogResponse>();
}

describe("GET /api/v1/remote/catalog", () => {
  it("a saved remote answer drops the D1 slots no source has written for a month (removed or reconfigured sources)", async () => {
    const orphan = "orphan-slot-of-a-removed-source";
    await env.DB.prepare("INSERT INTO remote_cache (source_key, part, fetched_ms, body) VALUES (?1, 0, ?2, '{}')").bind(orphan, Date.now() - 31 * 86_400_000).run();
    await env.DB.prepare("INSERT INTO remote_cache (source_key, part, fetched_ms, body) VALUES (?1, 0, ?2, '{}')").bind(`${orphan}-recent`, Date.now() - 86_400_000).run();
    await remoteCatalog("", { "cache-control": "no-cache" }); // fetched now, so saved now
    const left = await env.DB.prepare("SELECT source_key FROM remote_cache WHERE source_key LIKE ?1").bind(`${orphan}%`).all<{ source_key: string }>();
    expect(left.results.map((r) => r.source_key)).toEqual([`${orphan}-recent`]);
  });

  it("merges every server; slow, failing, malformed and huge ones are reported, never fatal", async () => {
    const body = await remoteCatalog("", {}, JSON.stringify(ALL_REMOTES));
    const byId = Object.fromEntries(body.sources.map((s) => [s.id, s]));
    expect(body.sources.map((s) => s.id)).toEqual(["local", "fast", "fast2", "edge", "slow", "error", "invalid", "huge"]);
    expect(byId.local).toMatchObject({ status: "ok", local: true, count: 1, error: null });
    expect(byId.fast).toMatchObject({ status: "ok", count: 2, error: null, url: "http://fast.remote.test", color: "#111111" });
    expect(byId.fast2).toMatchObject({ status: "ok", count: 2, url: "http://fast2.remote.test" }); // trailing / stripped
    expect(byId.edge).toMatchObject({ status: "ok", count: 1 }); // non-object entries dropped
    // gave up at REMOTE_TIMEOUT_MS (500): its answer (entry "late", after 3 s) never made it in
    expect(byId.slow).toMatchObject({ status: "timeout", count: 0, error: { code: "E_REMOTE_TIMEOUT" } });
    expect(body.entries.map((e) => e.id)).not.toContain("late");
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
    const bad = await remoteCall("?cursor=zzz");
    expect(bad.status).toBe(400);
    await bad.arrayBuffer();
  });

  it("a repeated request is served from cache (the remote is not asked again) and revalidates with 304", async () => {
    const remotes = JSON.stringify([counter("warm")]);
    const ids = (b: RemoteCatalogResponse) => b.entries.filter((e) => e.source.id === "count-warm").map((e) => e.id);
    const cold = await remoteCatalog("", {}, remotes);
    expect(ids(cold)).toEqual(["fetched-1"]);
    const warmRes = await remoteCall("", {}, remotes);
    const warm = await warmRes.json<RemoteCatalogResponse>();
    expect(ids(warm)).toEqual(["fetched-1"]); // no second fetch
    expect(warm.sources[1]!.fetched_at).toBe(cold.sources[1]!.fetched_at);
    expect(warm.stale).toBe(false);
    const revalidated = await remoteCall("", { "if-none-match": warmRes.headers.get("etag")! }, remotes);
    expect(revalidated.status).toBe(304);
    // a revalidation that does not match reads the local rows when it streams them (not prefetched)
    const changed = await remoteCall("", { "if-none-match": '"an-older-version"' }, remotes);
    expect(changed.status).toBe(200);
    expect((await changed.json<RemoteCatalogResponse>()).entries.map((e) => e.id)).toEqual(warm.entries.map((e) => e.id));
    // Cache-Control: no-cache asks the remote again
    expect(ids(await remoteCatalog("", { "cache-control": "no-cache" }, remotes))).toEqual(["fetched-2"]);
  });

  it("stale-while-revalidate: past freshness the cached answer is served at once and refreshed in the background", async () => {
    // REMOTE_FRESH_SECONDS=0: every cached answer is already stale, no waiting needed
    const remotes = JSON.stringify([counter("swr")]);
    const get = () => remoteCatalog("", {}, remotes, { REMOTE_FRESH_SECONDS: "0" }); // waits for the background refresh
    const ids = (b: RemoteCatalogResponse) => b.entries.filter((e) => e.source.id === "count-swr").map((e) => e.id);
    const first = await get();
    expect([first.stale, ids(first)]).toEqual([false, ["fetched-1"]]);
    const second = await get();
    expect([second.stale, ids(second)]).toEqual([true, ["fetched-1"]]); // the cached copy, while fetch 2 ran in the background
    const third = await get();
    expect(ids(third)).toEqual(["fetched-2"]); // the refresh the second request triggered has landed
  });

  it("bad REMOTE_SERVERS entries are skipped; unreachable hosts are per-source errors", async () => {
    const body = await remoteCatalog("", {}, JSON.stringify([{ id: "x", url: "ftp://nope" }, { id: "down", url: "http://down.remote.test" }, { id: "bad id!", url: "http://fast.remote.test" }]));
    expect(body.sources.map((s) => [s.id, s.status])).toEqual([
      ["local", "ok"],
      ["down", "error"],
    ]);
    expect(body.sources[1]!.error?.code).toMatch(/^E_REMOTE_(UNREACHABLE|HTTP)$/); // miniflare may turn the failure into a 5xx
    expect(body.entries.map((e) => e.id)).toEqual(["local-kernel"]);
  });
});
