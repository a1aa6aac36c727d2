import { createHash } from "node:crypto";
import { readFile, stat, writeFile, chmod, rm, utimes } from "node:fs/promises";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ensureCached } from "../pull/ensure.js";
import { makeTestAgent, type TestAgent } from "../testing/harness.js";
import type { ContentCache } from "./cache.js";
import { clear, evictToBudget, gc, verify } from "./maintenance.js";
import { acquireLock, tryLock } from "./lock.js";

let t: TestAgent;
let cache: ContentCache;

beforeEach(async () => {
  t = await makeTestAgent();
  cache = t.agent.cache;
  await cache.init();
});
afterEach(async () => {
  await t.cleanup();
});

/** Puts `size` bytes (distinct per seed) into the cache with a given last-access time. */
async function put(seed: number, size: number, lastAccess: number): Promise<string> {
  const buf = Buffer.alloc(size, seed);
  const hex = createHash("sha256").update(buf).digest("hex");
  const tmp = cache.tempPath("test");
  await writeFile(tmp, buf);
  await cache.commit(tmp, { sha256: hex, size, source: { url: `http://127.0.0.1/item${seed}`, id: `item${seed}`, server: "s", checkedAt: 0 } });
  await cache.update(hex, (e) => ({ ...e, lastAccess }));
  return hex;
}

describe("cache store", () => {
  it("commits content-addressed, read-only, with a self-checking index record", async () => {
    const hex = await put(1, 1000, 5);
    const blob = cache.blobPath(hex);
    expect(blob).toContain(`/v1/blobs/sha256/${hex.slice(0, 2)}/${hex}`);
    expect((await stat(blob)).mode & 0o222).toBe(0);
    const e = await cache.get(hex);
    expect(e).toMatchObject({ sha256: hex, size: 1000, pinned: false });
    // a damaged record is not trusted
    const idx = cache.layout.index(hex);
    const text = await readFile(idx, "utf8");
    await writeFile(idx, text.replace('"size":1000', '"size":1001'));
    expect(await cache.get(hex)).toBeUndefined();
  });

  it("committing the same bytes twice is success and merges sources", async () => {
    const hex = await put(2, 100, 1);
    const tmp = cache.tempPath("again");
    await writeFile(tmp, Buffer.alloc(100, 2));
    const e = await cache.commit(tmp, { sha256: hex, size: 100, source: { url: "http://127.0.0.1/other", checkedAt: 1 } });
    expect(e.sources.map((s) => s.url).sort()).toEqual(["http://127.0.0.1/item2", "http://127.0.0.1/other"]);
    await expect(stat(tmp)).rejects.toThrow();
  });

  it("resolves by sha prefix, id and name", async () => {
    const hex = await put(3, 10, 1);
    expect((await cache.resolve(hex.slice(0, 10))).map((e) => e.sha256)).toEqual([hex]);
    expect((await cache.resolve(`sha256:${hex}`)).map((e) => e.sha256)).toEqual([hex]);
    expect((await cache.resolve("item3")).map((e) => e.sha256)).toEqual([hex]);
    expect(await cache.resolve("item3", "other-server")).toEqual([]);
  });
});

describe("LRU eviction", () => {
  it("evicts least recently used first, down to the budget", async () => {
    const a = await put(1, 100, 1000);
    const b = await put(2, 100, 3000);
    const c = await put(3, 100, 2000);
    const r = await evictToBudget(cache, 150);
    expect(r.items).toEqual([a, c]);
    expect(await cache.get(b)).toBeDefined();
    expect(r.totalBytes).toBe(100);
  });

  it("equal last-access times: the item added first is evicted first (whatever order the index lists them in)", async () => {
    // Two pairs with the tie broken in opposite directions: dropping or flipping the tie-break
    // fails one of them, whichever order the directory listing happens to give.
    const a = await put(1, 100, 5000);
    const b = await put(2, 100, 5000);
    await cache.update(a, (e) => ({ ...e, addedAt: 10 }));
    await cache.update(b, (e) => ({ ...e, addedAt: 20 }));
    expect((await evictToBudget(cache, 100)).items).toEqual([a]);
    const c = await put(3, 100, 5000);
    await cache.update(b, (e) => ({ ...e, addedAt: 40 }));
    await cache.update(c, (e) => ({ ...e, addedAt: 30 }));
    expect((await evictToBudget(cache, 100)).items).toEqual([c]);
    expect(await cache.get(b)).toBeDefined();
  });

  it("a cache hit refreshes recency: the item just used is evicted last", async () => {
    const older = await put(1, 100, 1000);
    const newer = await put(2, 100, 2000);
    const hit = await ensureCached(t.agent, `sha256:${older}`);
    expect(hit).toMatchObject({ sha256: older, fromCache: true });
    expect((await cache.get(older))!.lastAccess).toBeGreaterThan(2000);
    expect((await evictToBudget(cache, 100)).items).toEqual([newer]);
    expect(await cache.get(older)).toBeDefined();
  });

  it("never evicts pinned, in-use or protected items, even over budget", async () => {
    const a = await put(1, 100, 1000);
    const b = await put(2, 100, 2000);
    const c = await put(3, 100, 3000);
    const d = await put(4, 100, 4000);
    await cache.setPinned(a, true);
    const release = await cache.acquireUse(b);
    const r = await evictToBudget(cache, 0, [d]);
    expect(r.items).toEqual([c]);
    expect(r.totalBytes).toBe(300);
    await release();
    const r2 = await evictToBudget(cache, 0);
    expect(r2.items).toEqual([b, d]);
    expect(await cache.get(a)).toBeDefined();
  });

  it("an in-use marker of a dead process does not protect", async () => {
    const a = await put(1, 100, 1000);
    await writeFile(`${cache.layout.inUseDir}/${a}.999999999.dead`, "");
    const r = await evictToBudget(cache, 0);
    expect(r.items).toEqual([a]);
  });
});

describe("verify / gc / clear", () => {
  it("verify re-hashes, removes corrupt items and re-records good orphans", async () => {
    const good = await put(1, 5000, 1);
    const bad = await put(2, 5000, 1);
    const orphan = await put(3, 5000, 1);
    const blob = cache.blobPath(bad);
    await chmod(blob, 0o644);
    const bytes = await readFile(blob);
    bytes[100] = bytes[100]! ^ 0xff;
    await writeFile(blob, bytes);
    await rm(cache.layout.index(orphan));
    const rep = await verify(cache);
    expect(rep.checked).toBe(3);
    expect(rep.removed.map((r) => r.sha256)).toEqual([bad]);
    expect(rep.adopted).toEqual([orphan]);
    expect(await cache.get(bad)).toBeUndefined();
    await expect(stat(blob)).rejects.toThrow();
    expect(await cache.get(good)).toBeDefined();
    expect(await cache.get(orphan)).toBeDefined();
  });

  it("gc reports each step: dangling records, old orphans, old temp files, LRU", async () => {
    const keep = await put(1, 100, 2000);
    const old = await put(2, 100, 1000);
    const dangling = await put(3, 100, 3000);
    await rm(cache.blobPath(dangling), { force: true });
    const orphan = await put(4, 100, 1);
    await rm(cache.layout.index(orphan));
    const past = new Date(Date.now() - 24 * 3600_000);
    await utimes(cache.blobPath(orphan), past, past);
    const tmp = `${cache.layout.tmpDir}/stale.tmp`;
    await writeFile(tmp, "x");
    await utimes(tmp, past, past);
    const rep = await gc(cache, 100);
    const by = Object.fromEntries(rep.steps.map((s) => [s.step, s.items]));
    expect(by["dangling"]).toEqual(expect.arrayContaining([dangling, orphan]));
    expect(by["temp-files"]).toEqual(["stale.tmp"]);
    expect(by["evict-lru"]).toEqual([old]);
    expect(await cache.get(keep)).toBeDefined();
    expect(rep.totalBytes).toBe(100);
  });

  it("clear removes partial downloads at rest and other processes' work files, but not those of a key being downloaded", async () => {
    const idle = "a".repeat(64);
    const busy = "b".repeat(64);
    const files = (key: string) => [`${key}.part`, `${key}.part.json`, `${key}.123-abcd1234-0f0f0f0f.work`, `${key}.123-abcd1234-0f0f0f0f.work.json`];
    for (const f of [...files(idle), ...files(busy)]) await writeFile(`${cache.layout.partialDir}/${f}`, "x");
    await writeFile(cache.layout.lock(busy), JSON.stringify({ pid: process.pid, host: "h", since: 0 }));
    await clear(cache);
    const { readdir } = await import("node:fs/promises");
    expect((await readdir(cache.layout.partialDir)).sort()).toEqual(files(busy).sort());
  });

  it("clear removes everything not in use", async () => {
    const a = await put(1, 100, 1);
    const b = await put(2, 100, 1);
    await cache.setPinned(a, true);
    const release = await cache.acquireUse(b);
    const rep = await clear(cache);
    expect(rep.removed).toBe(1);
    expect(rep.skippedInUse).toEqual([b]);
    expect(await cache.get(a)).toBeUndefined();
    await release();
  });
});

describe("download lock", () => {
  it("is exclusive, and a dead holder's lock is broken", async () => {
    const path = `${cache.layout.locksDir}/k.lock`;
    const l1 = await tryLock(path);
    expect("release" in l1).toBe(true);
    const l2 = await tryLock(path);
    expect(l2).toMatchObject({ heldBy: { pid: process.pid } });
    if ("release" in l1) await l1.release();
    await writeFile(path, JSON.stringify({ pid: 999999999, host: (await import("node:os")).hostname(), since: 0 }));
    const l3 = await acquireLock(path, { timeoutMs: 1000 });
    expect(JSON.parse(await readFile(path, "utf8")).pid).toBe(process.pid);
    await l3.release();
  });
});
