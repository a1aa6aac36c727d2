/**
 * A catalog of thousands of entries, seeded straight into the D1 index in batches (the index is
 * what every catalog route reads): every route's storage calls, counted on wrapped bindings, stay
 * bounded by a constant (the unpaged catalog by one D1 call per batch of rows, and no R2 call at
 * all), the unpaged original-shape catalog streams (its first bytes arrive before the last rows
 * are read), and keyset pages, sorting and search give every entry exactly once.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import type { CatalogEntry, CatalogResponse } from "../../shared/catalog";
import { pointerStatement, BUMP_VERSION } from "../db/write";
import app from "../index";
import { countingBucket, countingDb, newCounter } from "../test/counting";
import { ORIGIN } from "../test/helpers";

const N = 5000;
const name = (i: number) => `c${String(i).padStart(5, "0")}`;
const THUMB = btoa(String.fromCharCode(...Array.from({ length: 1024 }, (_, i) => (i * 7) & 0xff))); // ~1.4 KB inline
const counter = newCounter();
const bindings = () => ({ ...env, REMOTE_SERVERS: "[]", BUCKET: countingBucket(env.BUCKET, counter), DB: countingDb(env.DB, counter) });

let lastCtx: ExecutionContext = createExecutionContext();

async function get(path: string, init?: RequestInit): Promise<Response> {
  counter.reset();
  lastCtx = createExecutionContext();
  return app.fetch(new Request(ORIGIN + path, init), bindings(), lastCtx);
}

beforeAll(async () => {
  const stmts: D1PreparedStatement[] = [];
  for (let i = 0; i < N; i++) {
    const sha = i.toString(16).padStart(64, "0");
    const id = sha.slice(0, 32);
    stmts.push(
      pointerStatement(env.DB, {
        name: name(i),
        seq: 1,
        pointerEtag: `etag-${i}`,
        thumbInline: i % 3 === 0 ? THUMB : null,
        record: {
          sha256: sha,
          size: 100 + i,
          data_hash: null,
          data_size: null,
          grid_size: 4,
          type: i % 2 ? "kernel" : "os",
          distro: i === 4321 ? "needle" : i % 5 === 0 ? "debian" : "alpine",
          arch: i % 4 === 0 ? "aarch64" : "x86_64",
          kernel_version: null,
          description: i === 1234 ? "the haystack's golden needle" : `container number ${i}`,
          content_version: null,
          segments: [],
          name: name(i),
          gen: id,
          link: id,
          blob_etag: `"${id}"`,
          published_at: new Date(Date.UTC(2026, 0, 1) + i * 60_000).toISOString(),
          thumb: i % 3 === 0 ? id : undefined,
        },
      }),
    );
    if (stmts.length === 500) await env.DB.batch(stmts.splice(0));
  }
  await env.DB.batch([...stmts, env.DB.prepare(BUMP_VERSION)]);
}, 120_000);

const r2Calls = () => counter.r2.length;
const d1Calls = () => counter.d1.length;

describe(`${N} entries: bounded storage calls per request`, () => {
  it("a page of 50, a filter, a search, a single entry: one D1 call each, no R2 call", async () => {
    for (const path of ["/api/v1/catalog?limit=50", "/api/v1/catalog?limit=50&distro=debian&arch=arm64", "/api/v1/catalog?q=golden%20needle&limit=50", "/api/v1/catalog?q=golden", "/api/v1/catalog/c04000", "/api/v1/catalog?limit=50&sort=date"]) {
      const res = await get(path);
      expect(res.status, path).toBe(200);
      await res.arrayBuffer();
      expect([d1Calls(), r2Calls()], path).toEqual([1, 0]);
    }
    const search = await (await get("/api/v1/catalog?q=golden%20needle")).json<CatalogResponse>();
    expect(search.entries.map((e) => e.id)).toEqual([name(1234)]);
    const deep = await (await get("/api/v1/catalog?distro=needle&limit=5")).json<CatalogResponse>();
    expect(deep.entries.map((e) => e.id)).toEqual([name(4321)]);
  });

  it("a revalidation (If-None-Match) answers 304 after one D1 read", async () => {
    const first = await get("/api/v1/catalog?limit=50");
    const etag = first.headers.get("etag")!;
    await first.arrayBuffer();
    const again = await get("/api/v1/catalog?limit=50", { headers: { "if-none-match": etag } });
    expect(again.status).toBe(304);
    expect([d1Calls(), r2Calls()]).toEqual([1, 0]);
    const unpaged = await get("/api/v1/catalog");
    const unpagedEtag = unpaged.headers.get("etag")!;
    await unpaged.body!.cancel();
    const revalidated = await get("/api/v1/catalog", { headers: { "if-none-match": unpagedEtag } });
    expect(revalidated.status).toBe(304);
    expect([d1Calls(), r2Calls()]).toEqual([1, 0]);
  });

  it("the unpaged original-shape catalog: every entry, inline thumbnails, one D1 call per batch of rows, no R2 call", async () => {
    const res = await get("/api/v1/catalog");
    const body = await res.json<CatalogResponse>();
    expect(body.entries).toHaveLength(N);
    expect(body.entries[N - 1]!.id).toBe(name(N - 1));
    expect(body.entries[N - 1]!.position).toEqual({ x: (N - 1) % 10, y: Math.floor((N - 1) / 10) });
    expect(body.grid_dimensions).toEqual({ width: 11, height: Math.floor((N - 1) / 10) + 2 });
    expect(body.next_cursor).toBeNull();
    expect(body.entries[3]!.thumbnail).toBe(THUMB);
    expect(body.entries[4]!.thumbnail).toBe("");
    expect(r2Calls()).toBe(0);
    expect(d1Calls()).toBeLessThanOrEqual(Math.ceil(N / 250) + 1); // 250 rows a batch with thumbnails
    const light = await get("/api/v1/catalog?thumbnails=0");
    expect((await light.json<CatalogResponse>()).entries).toHaveLength(N);
    expect(d1Calls()).toBeLessThanOrEqual(Math.ceil(N / 1000) + 1);
  });

  it("is streamed: the first bytes arrive before the last rows are read", async () => {
    const res = await get("/api/v1/catalog");
    const reader = res.body!.getReader();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value!).startsWith('{"entries":[{')).toBe(true);
    const callsAtFirstBytes = d1Calls();
    expect(callsAtFirstBytes).toBeLessThan(Math.ceil(N / 250));
    let total = first.value!.length;
    for (;;) {
      const r = await reader.read();
      if (r.done) break;
      total += r.value.length;
    }
    expect(d1Calls()).toBeGreaterThan(callsAtFirstBytes);
    expect(total).toBeGreaterThan(N * 300);
  });

  it("keyset pages of 1000 by name and by date give every entry once, in order", async () => {
    for (const sort of ["name", "date"] as const) {
      const seen: CatalogEntry[] = [];
      let cursor: string | null = null;
      do {
        const res = await get(`/api/v1/catalog?limit=1000&thumbnails=0&sort=${sort}${cursor ? `&cursor=${cursor}` : ""}`);
        const page: CatalogResponse = await res.json();
        expect(d1Calls()).toBeLessThanOrEqual(2);
        expect(r2Calls()).toBe(0);
        if (seen.length) expect(page.entries[0]!.position).toEqual({ x: seen.length % 10, y: Math.floor(seen.length / 10) });
        seen.push(...page.entries);
        cursor = page.next_cursor;
      } while (cursor);
      expect(seen).toHaveLength(N);
      expect(new Set(seen.map((e) => e.id)).size).toBe(N);
      if (sort === "date") expect(seen[0]!.id).toBe(name(N - 1));
      else expect(seen[0]!.id).toBe(name(0));
    }
  });

  it("the page at /: at most two D1 calls (version, then one batch), one when the rendered page is cached", async () => {
    for (const path of ["/", "/?q=golden", "/?distro=debian&arch=arm64&sort=date&page=7"]) {
      const res = await get(path, { headers: { accept: "text/html" } });
      expect(res.status, path).toBe(200);
      await res.text();
      expect(r2Calls(), path).toBe(0);
      expect(d1Calls(), path).toBeLessThanOrEqual(2);
    }
    await get("/?q=golden", { headers: { accept: "text/html" } }).then((r) => r.text());
    await waitOnExecutionContext(lastCtx); // the page was put in the cache
    const again = await get("/?q=golden", { headers: { accept: "text/html" } });
    expect(await again.text()).toContain(name(1234));
    expect([d1Calls(), r2Calls()]).toEqual([1, 0]); // the Cache API held the page for this index version
    const detail = await get(`/containers/${name(4000)}`, { headers: { accept: "text/html" } });
    expect(detail.status).toBe(200);
    await detail.text();
    expect([d1Calls(), r2Calls()]).toEqual([1, 0]);
  });

  it("the merged catalog without remotes: bounded the same way", async () => {
    const res = await get("/api/v1/remote/catalog?limit=50");
    expect((await res.json<CatalogResponse>()).entries).toHaveLength(50);
    expect([d1Calls(), r2Calls()]).toEqual([1, 0]); // no remote: no remote-cache read
    const all = await get("/api/v1/remote/catalog?thumbnails=0");
    expect((await all.json<CatalogResponse>()).entries).toHaveLength(N);
    expect(r2Calls()).toBe(0);
    expect(d1Calls()).toBeLessThanOrEqual(Math.ceil(N / 1000) + 1);
  });
});
