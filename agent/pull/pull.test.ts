import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import "../../test/helpers/loopback-only.mjs";
import { blockedHosts } from "../../test/helpers/loopback-only.mjs";
import { makeContainerBytes, startFaultServer, type Fault, type FaultServer } from "../../test/helpers/fault-server.js";
import { makeTestAgent, type TestAgent } from "../testing/harness.js";
import { ensureCached } from "./ensure.js";
import type { Settings } from "../config/settings.js";

const SIZE = 2 * 1024 * 1024 + 12345;
const BODY = makeContainerBytes(SIZE, 7);
const SHA = createHash("sha256").update(BODY).digest("hex");

let t: TestAgent;
let srv: FaultServer | undefined;

async function setup(opts: { faults?: Fault[]; digest?: "true" | "lie" | "none"; etag?: "strong" | "weak" | "none"; entry?: Record<string, unknown>; settings?: Partial<Settings>; body?: Buffer; cacheDir?: string } = {}) {
  t = await makeTestAgent(opts.settings, opts.cacheDir);
  srv = await startFaultServer({ body: opts.body ?? BODY, id: "tiny", chunk: 16 * 1024, ...opts });
  await t.agent.servers.add({ url: srv.url, name: "local" });
  return srv;
}

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const fileGets = () => srv!.containerRequests().filter((r) => r.method === "GET");
const codeOf = async (p: Promise<unknown>) => p.then(() => "resolved", (e: { code?: string }) => e.code);
async function cacheIsEmpty() {
  const entries = await t.agent.cache.list();
  const blobs = await t.agent.cache.blobHexes();
  const partial = await readdir(t.agent.cache.layout.partialDir).catch(() => []);
  return { entries: entries.length, blobs: blobs.length, partial: partial.length };
}

beforeEach(() => {
  srv = undefined;
});
afterEach(async () => {
  await srv?.close();
  await t?.cleanup();
  expect(blockedHosts()).toEqual([]);
});

describe("pull: happy path", () => {
  it("pulls by catalog id, verifies, and stores content-addressed with its source", async () => {
    await setup();
    const r = await ensureCached(t.agent, "tiny", { emit: t.emit });
    expect(r.sha256).toBe(SHA);
    expect(r.fromCache).toBe(false);
    expect(sha(await readFile(r.path))).toBe(SHA);
    expect(r.path).toBe(t.agent.cache.blobPath(SHA));
    expect(r.record.sources[0]).toMatchObject({ server: "local", id: "tiny", etag: srv!.etag });
    expect(fileGets().map((g) => g.url)).toEqual([`/blobs/sha256/${SHA}`]);
    expect(t.events.filter((e) => e.event === "verified")).toHaveLength(1);
    const progress = t.events.filter((e) => e.event === "progress");
    expect(progress.at(-1)).toMatchObject({ bytes: SIZE, total: SIZE });
  });

  it("second ensureCached of a fresh item does not touch the network", async () => {
    await setup();
    await ensureCached(t.agent, "tiny");
    const before = srv!.requests.length;
    const r = await ensureCached(t.agent, "tiny");
    expect(r.fromCache).toBe(true);
    expect(srv!.requests.length).toBe(before);
  });
});

describe("pull: resume", () => {
  it.each([
    [[40_000]],
    [[300_000, 900_000, 1_700_000]],
    [[SIZE - 100]],
  ])("resumes after connection resets at %j with Range + If-Range; bytes equal, one final hash", async (offsets) => {
    await setup({ faults: offsets.map((at) => ({ kind: "reset", at }) as Fault), settings: { retries: 1 } });
    const r = await ensureCached(t.agent, "tiny", { emit: t.emit });
    expect(sha(await readFile(r.path))).toBe(SHA);
    const gets = fileGets();
    expect(gets).toHaveLength(offsets.length + 1);
    expect(gets[0]!.range).toBeUndefined();
    for (const g of gets.slice(1)) {
      expect(g.range).toMatch(/^bytes=[1-9]\d*-$/);
      expect(g.ifRange).toBe(srv!.etag);
    }
    // resumed offsets never go backwards
    const starts = gets.slice(1).map((g) => Number(/\d+/.exec(g.range!)![0]));
    expect([...starts].sort((a, b) => a - b)).toEqual(starts);
    expect(t.events.filter((e) => e.event === "verified")).toHaveLength(1);
    expect(t.events.filter((e) => e.event === "retry").length).toBe(offsets.length);
  });

  it("restarts cleanly when the server ignores Range (200 instead of 206)", async () => {
    await setup({ faults: [{ kind: "reset", at: 500_000 }, { kind: "ignore-range" }] });
    const r = await ensureCached(t.agent, "tiny", { emit: t.emit });
    expect(sha(await readFile(r.path))).toBe(SHA);
    expect(fileGets()[1]!.range).toMatch(/^bytes=\d+-$/);
    expect(t.events.some((e) => e.event === "note" && /ignored the resume/.test(e.message))).toBe(true);
  });

  it("refuses a 206 whose Content-Range does not match, and restarts from 0", async () => {
    await setup({ faults: [{ kind: "reset", at: 500_000 }, { kind: "bad-content-range" }] });
    const r = await ensureCached(t.agent, "tiny", { emit: t.emit });
    expect(sha(await readFile(r.path))).toBe(SHA);
    const gets = fileGets();
    expect(gets).toHaveLength(3);
    expect(gets[2]!.range).toBeUndefined();
    expect(t.events.some((e) => e.event === "note" && /Content-Range/.test(e.message))).toBe(true);
  });

  it("does not resume without a strong ETag (weak validators cannot guard byte ranges)", async () => {
    await setup({ etag: "weak", faults: [{ kind: "reset", at: 500_000 }] });
    const r = await ensureCached(t.agent, "tiny");
    expect(sha(await readFile(r.path))).toBe(SHA);
    expect(fileGets().map((g) => g.range)).toEqual([undefined, undefined]);
  });

  it("gives up after the retry budget when no attempt can be resumed (regression: unbounded retries)", async () => {
    await setup({ etag: "weak", faults: Array.from({ length: 10 }, () => ({ kind: "reset" as const, at: 100_000 })), settings: { retries: 3 } });
    expect(await codeOf(ensureCached(t.agent, "tiny"))).toMatch(/^E_(NETWORK|TRUNCATED)$/);
    expect(fileGets()).toHaveLength(4);
  });

  it("a damaged partial file is dropped and the pull restarts from byte 0, not blamed on the server", async () => {
    await setup({ faults: [{ kind: "reset", at: 1_000_000 }], settings: { retries: 0 } });
    expect(await codeOf(ensureCached(t.agent, "tiny"))).toMatch(/^E_(NETWORK|TRUNCATED)$/);
    const dir = t.agent.cache.layout.partialDir;
    const part = (await readdir(dir)).find((f) => f.endsWith(".part"))!;
    const bytes = await readFile(join(dir, part));
    bytes.fill(0, 5000, 5004);
    await writeFile(join(dir, part), bytes);
    const r = await ensureCached(t.agent, "tiny", { emit: t.emit });
    expect(sha(await readFile(r.path))).toBe(SHA);
    expect(fileGets().slice(1).map((g) => g.range)).toEqual([expect.stringMatching(/^bytes=\d+-$/), undefined]);
  });

  it("a fresh verified download replaces a damaged blob left without its index entry", async () => {
    await setup();
    const first = await ensureCached(t.agent, "tiny");
    const { chmod, unlink } = await import("node:fs/promises");
    await chmod(first.path, 0o644);
    const damaged = await readFile(first.path);
    damaged[1234] = damaged[1234]! ^ 0xff;
    await writeFile(first.path, damaged);
    await unlink(t.agent.cache.layout.index(SHA));
    const again = await ensureCached(t.agent, "tiny");
    expect(sha(await readFile(again.path))).toBe(SHA);
  });

  it("a truncated body (FIN before Content-Length) is retried from where it stopped", async () => {
    await setup({ faults: [{ kind: "truncate", at: 700_000 }] });
    const r = await ensureCached(t.agent, "tiny", { emit: t.emit });
    expect(sha(await readFile(r.path))).toBe(SHA);
    expect(fileGets()[1]!.range).toMatch(/^bytes=[1-9]\d*-$/);
  });

  it("with no retries left a truncated pull keeps its partial, and the next pull resumes it", async () => {
    await setup({ faults: [{ kind: "truncate", at: 700_000 }], settings: { retries: 0 } });
    expect(await codeOf(ensureCached(t.agent, "tiny"))).toMatch(/^E_(TRUNCATED|NETWORK)$/);
    expect((await cacheIsEmpty()).entries).toBe(0);
    const r = await ensureCached(t.agent, "tiny");
    expect(sha(await readFile(r.path))).toBe(SHA);
    expect(fileGets()[1]!.range).toMatch(/^bytes=[1-9]\d*-$/);
  });

  it("a stalled body hits the idle timeout and is resumed", async () => {
    await setup({ faults: [{ kind: "stall", at: 200_000, ms: 3000 }], settings: { bodyTimeoutMs: 300 } });
    const r = await ensureCached(t.agent, "tiny", { emit: t.emit });
    expect(sha(await readFile(r.path))).toBe(SHA);
    const retry = t.events.find((e) => e.event === "retry");
    expect(retry).toMatchObject({ code: "E_TIMEOUT" });
  });
});

describe("pull: retry policy", () => {
  it("503 + Retry-After is retried, waiting at least what the server asked", async () => {
    await setup({ faults: [{ kind: "status", status: 503, retryAfter: "1" }] });
    const r = await ensureCached(t.agent, "tiny", { emit: t.emit });
    expect(r.sha256).toBe(SHA);
    const retry = t.events.find((e) => e.event === "retry");
    expect(retry).toMatchObject({ attempt: 1, code: "E_SERVER" });
    expect(retry && "delay_ms" in retry && retry.delay_ms).toBeGreaterThanOrEqual(1000);
  });

  it("a Retry-After beyond the cap fails at once with the reason", async () => {
    await setup({ faults: [{ kind: "status", status: 503, retryAfter: "120" }] });
    const err = await ensureCached(t.agent, "tiny").catch((e) => e);
    expect(err.code).toBe("E_SERVER");
    expect(err.message).toMatch(/retry after 120 s/);
    expect(fileGets()).toHaveLength(1);
  });

  it("gives up after the configured retries on repeated 5xx", async () => {
    await setup({ faults: [500, 502, 503, 504].map((status) => ({ kind: "status", status }) as Fault), settings: { retries: 3 } });
    const err = await ensureCached(t.agent, "tiny", { emit: t.emit }).catch((e) => e);
    expect(err.code).toBe("E_SERVER");
    expect(fileGets()).toHaveLength(4);
    expect(t.events.filter((e) => e.event === "retry").map((e) => e.event === "retry" && e.attempt)).toEqual([1, 2, 3]);
  });

  it("404 is not retried and caches nothing", async () => {
    await setup({ faults: [{ kind: "status", status: 404 }] });
    expect(await codeOf(ensureCached(t.agent, "tiny", { emit: t.emit }))).toBe("E_HTTP");
    expect(fileGets()).toHaveLength(1);
    expect(t.events.filter((e) => e.event === "retry")).toHaveLength(0);
    expect(await cacheIsEmpty()).toEqual({ entries: 0, blobs: 0, partial: 0 });
  });
});

describe("pull: integrity", () => {
  it("a server lying about the digest (URL pull): bytes rejected, nothing cached", async () => {
    await setup({ digest: "lie" });
    expect(await codeOf(ensureCached(t.agent, `${srv!.url}/api/v1/containers/tiny`))).toBe("E_DIGEST_MISMATCH");
    expect(fileGets()).toHaveLength(1); // integrity failures are not retried
    expect(await cacheIsEmpty()).toEqual({ entries: 0, blobs: 0, partial: 0 });
  });

  it("headers disagreeing with the catalog's hash: refused before downloading", async () => {
    await setup({ digest: "lie", entry: { sha256: SHA, hash: SHA, blob_url: null } });
    const err = await ensureCached(t.agent, "tiny").catch((e) => e);
    expect(err.code).toBe("E_DIGEST_MISMATCH");
    expect(err.message).toMatch(/catalog/);
    expect(await cacheIsEmpty()).toEqual({ entries: 0, blobs: 0, partial: 0 });
  });

  it("no digest from anyone: refuses to cache unverifiable bytes", async () => {
    await setup({ digest: "none" });
    expect(await codeOf(ensureCached(t.agent, "tiny"))).toBe("E_DIGEST_UNKNOWN");
    expect(await cacheIsEmpty()).toEqual({ entries: 0, blobs: 0, partial: 0 });
  });

  it("an HTML error page is never saved as a container", async () => {
    await setup({ faults: [{ kind: "html" }] });
    expect(await codeOf(ensureCached(t.agent, "tiny"))).toBe("E_BAD_CONTENT_TYPE");
    expect(fileGets()).toHaveLength(1);
    expect(await cacheIsEmpty()).toEqual({ entries: 0, blobs: 0, partial: 0 });
  });

  it("catalog size disagreeing with Content-Length is refused", async () => {
    await setup({ entry: { size: SIZE + 1 } });
    expect(await codeOf(ensureCached(t.agent, "tiny"))).toBe("E_SIZE_MISMATCH");
    expect((await cacheIsEmpty()).entries).toBe(0);
  });

  it("verified bytes that are not a PNG are not cached", async () => {
    const notPng = Buffer.from(BODY);
    notPng[0] = 0;
    await setup({ body: notPng });
    expect(await codeOf(ensureCached(t.agent, "tiny"))).toBe("E_NOT_PNG");
    expect(await cacheIsEmpty()).toEqual({ entries: 0, blobs: 0, partial: 0 });
  });
});

describe("pull: local disk failures", () => {
  it("a write failing with ENOSPC mid-download leaves no index entry and no partial", async () => {
    await setup();
    const beforeWrite = (pos: number) => {
      if (pos >= 1_000_000) throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
    };
    expect(await codeOf(ensureCached(t.agent, "tiny", { beforeWrite }))).toBe("E_DISK_FULL");
    expect(fileGets()).toHaveLength(1); // not retried
    expect(await cacheIsEmpty()).toEqual({ entries: 0, blobs: 0, partial: 0 });
  });
});

/** A tiny tmpfs for real ENOSPC (needs root and mount(2); skipped elsewhere). */
async function withTmpfs(sizeKiB: number, fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "pixelrts-tmpfs-"));
  execFileSync("mount", ["-t", "tmpfs", "-o", `size=${sizeKiB}k`, "tmpfs", dir]);
  try {
    await fn(dir);
  } finally {
    await t?.cleanup().catch(() => {});
    execFileSync("umount", [dir]);
    await rm(dir, { recursive: true, force: true });
  }
}
const canMount = (() => {
  if (process.getuid?.() !== 0) return false;
  try {
    execFileSync("sh", ["-c", "d=$(mktemp -d) && mount -t tmpfs -o size=64k tmpfs $d && umount $d && rmdir $d"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();

describe.skipIf(!canMount)("pull: real disk full (tmpfs)", () => {
  it("too little space is refused up front; nothing in the index", async () => {
    await withTmpfs(1024, async (dir) => {
      await setup({ cacheDir: join(dir, "cache") });
      expect(await codeOf(ensureCached(t.agent, "tiny"))).toBe("E_DISK_FULL");
      expect(await cacheIsEmpty()).toEqual({ entries: 0, blobs: 0, partial: 0 });
    });
  });

  it("the disk filling up mid-download (kernel ENOSPC) leaves no partial and no index entry", async () => {
    await withTmpfs(4096, async (dir) => {
      await setup({ cacheDir: join(dir, "cache") });
      let filled = false;
      const beforeWrite = async () => {
        if (filled) return;
        filled = true;
        await writeFile(join(dir, "filler"), Buffer.alloc(3 * 1024 * 1024)); // someone else eats the space
      };
      const err = await ensureCached(t.agent, "tiny", { beforeWrite }).catch((e) => e);
      expect(err.code).toBe("E_DISK_FULL");
      expect(err.details.errno).toBe("ENOSPC");
      expect(await cacheIsEmpty()).toEqual({ entries: 0, blobs: 0, partial: 0 });
    });
  });
});

describe("pull: sharing and offline", () => {
  it("two concurrent pulls of one object share one download", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    await setup({ faults: [{ kind: "hold", at: 600_000, until: gate }] });
    const events2: string[] = [];
    const p1 = ensureCached(t.agent, "tiny");
    // wait until the first one is streaming, then start the second
    while (fileGets().length === 0) await new Promise((r) => setTimeout(r, 10));
    const p2 = ensureCached(t.agent, "tiny", { emit: (e) => void events2.push(e.event === "note" ? e.message : e.event) });
    while (!events2.some((m) => /another pixelrts process/.test(m))) await new Promise((r) => setTimeout(r, 10));
    release();
    const [a, b] = await Promise.all([p1, p2]);
    expect(a.sha256).toBe(SHA);
    expect(b.sha256).toBe(SHA);
    expect(b.fromCache).toBe(true);
    expect(fileGets()).toHaveLength(1);
  });

  it("hold: the item is in use (never evicted) until released", async () => {
    await setup({ settings: { cacheMaxBytes: 0 } });
    const r = await ensureCached(t.agent, "tiny", { hold: true });
    expect((await t.agent.cache.inUse()).has(r.sha256)).toBe(true);
    const { evictToBudget } = await import("../cache/maintenance.js");
    expect((await evictToBudget(t.agent.cache, 0)).items).toEqual([]);
    await r.release();
    expect((await evictToBudget(t.agent.cache, 0)).items).toEqual([SHA]);
  });

  it("URL pulls revalidate with If-None-Match once stale (304 → cached copy)", async () => {
    await setup({ settings: { containerFreshMs: 0 } });
    const url = `${srv!.url}/api/v1/containers/tiny`;
    await ensureCached(t.agent, url);
    const r = await ensureCached(t.agent, url);
    expect(r.fromCache).toBe(true);
    const gets = fileGets();
    expect(gets).toHaveLength(2);
    expect(gets[1]!.ifNoneMatch).toBe(srv!.etag);
  });

  it("with the server stopped, a stale cached item is used with a note", async () => {
    await setup({ settings: { containerFreshMs: 0, catalogFreshMs: 0 } });
    await ensureCached(t.agent, "tiny");
    await srv!.close();
    srv = undefined;
    const r = await ensureCached(t.agent, "tiny");
    expect(r.fromCache).toBe(true);
    expect(r.stale).toBe(true);
    expect(r.note).toMatch(/unreachable/);
    expect(sha(await readFile(r.path))).toBe(SHA);
  });

  it("with the server stopped and nothing cached, the error says so", async () => {
    await setup();
    await srv!.close();
    srv = undefined;
    expect(await codeOf(ensureCached(t.agent, "tiny"))).toBe("E_NETWORK");
  });
});
