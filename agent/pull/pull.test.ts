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

async function setup(opts: { faults?: Fault[]; repeatFaults?: boolean; digest?: "true" | "lie" | "none"; etag?: "strong" | "weak" | "none"; entry?: Record<string, unknown>; settings?: Partial<Settings>; body?: Buffer; cacheDir?: string } = {}) {
  t = await makeTestAgent(opts.settings, opts.cacheDir);
  srv = await startFaultServer({ body: opts.body ?? BODY, id: "tiny", chunk: 16 * 1024, ...opts });
  await t.agent.servers.add({ url: srv.url, name: "local" });
  return srv;
}

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
/** For cutting faults: cut only once the agent saved its first MiB, so a partial file surely exists. */
const afterSaved = () => t.waitForEvent((e) => e.event === "progress" && e.bytes >= 1 << 20);
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

  it("a second pull by name asks the catalog again (like docker pull) but downloads nothing", async () => {
    await setup();
    await ensureCached(t.agent, "tiny");
    const catalogs = () => srv!.requests.filter((r) => r.url.startsWith("/api/v1/catalog")).length;
    const before = catalogs();
    const r = await ensureCached(t.agent, "tiny");
    expect(r.fromCache).toBe(true);
    expect(catalogs()).toBe(before + 1);
    expect(fileGets()).toHaveLength(1);
  });

  it("offline, a pull by name uses the cached copy and says how old it is", async () => {
    await setup();
    await ensureCached(t.agent, "tiny");
    const requests = srv!.requests.length;
    const r = await ensureCached(t.agent, "tiny", { offline: true });
    expect(r).toMatchObject({ fromCache: true, sha256: SHA });
    expect(r.note).toMatch(/^offline: using the cached copy last checked .* \(\d+ s ago\)$/);
    expect(srv!.requests.length).toBe(requests);
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
    // A GET resumes (Range + If-Range) exactly when bytes were saved before it. (A reset can
    // destroy a body whose first bytes were not read yet, e.g. in a cold process: nothing saved.)
    const retryAt = t.events.flatMap((e, i) => (e.event === "retry" ? [i] : []));
    retryAt.forEach((at, n) => {
      const saved = t.events.slice(0, at).some((e) => e.event === "progress" && e.bytes > 0);
      const g = gets[n + 1]!;
      if (saved) {
        expect(g.range).toMatch(/^bytes=[1-9]\d*-$/);
        expect(g.ifRange).toBe(srv!.etag);
      } else expect(g.range).toBeUndefined();
    });
    // resumed offsets never go backwards
    const starts = gets.slice(1).flatMap((g) => (g.range ? [Number(/\d+/.exec(g.range)![0])] : []));
    expect([...starts].sort((a, b) => a - b)).toEqual(starts);
    expect(t.events.filter((e) => e.event === "verified")).toHaveLength(1);
    expect(t.events.filter((e) => e.event === "retry").length).toBe(offsets.length);
  });

  it("restarts cleanly when the server ignores Range (200 instead of 206)", async () => {
    await setup({ faults: [{ kind: "reset", at: 1_200_000, after: afterSaved }, { kind: "ignore-range" }] });
    const r = await ensureCached(t.agent, "tiny", { emit: t.emit });
    expect(sha(await readFile(r.path))).toBe(SHA);
    expect(fileGets()[1]!.range).toMatch(/^bytes=\d+-$/);
    expect(t.events.some((e) => e.event === "note" && /ignored the resume/.test(e.message))).toBe(true);
  });

  it("refuses a 206 whose Content-Range does not match, and restarts from 0", async () => {
    await setup({ faults: [{ kind: "reset", at: 1_200_000, after: afterSaved }, { kind: "bad-content-range" }] });
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
    await setup({ faults: [{ kind: "reset", at: 1_200_000, after: afterSaved }], settings: { retries: 0 } });
    expect(await codeOf(ensureCached(t.agent, "tiny", { emit: t.emit }))).toMatch(/^E_(NETWORK|TRUNCATED)$/);
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
    await setup({ faults: [{ kind: "truncate", at: 1_200_000, after: afterSaved }] });
    const r = await ensureCached(t.agent, "tiny", { emit: t.emit });
    expect(sha(await readFile(r.path))).toBe(SHA);
    expect(fileGets()[1]!.range).toMatch(/^bytes=[1-9]\d*-$/);
  });

  it("with no retries left a truncated pull keeps its partial, and the next pull resumes it", async () => {
    await setup({ faults: [{ kind: "truncate", at: 1_200_000, after: afterSaved }], settings: { retries: 0 } });
    expect(await codeOf(ensureCached(t.agent, "tiny", { emit: t.emit }))).toMatch(/^E_(TRUNCATED|NETWORK)$/);
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
    const second = await makeTestAgent({}, t.env.PIXELRTS_CACHE_DIR);
    await second.agent.servers.add({ url: srv!.url, name: "local" });
    try {
      const p1 = ensureCached(t.agent, "tiny", { emit: t.emit });
      // the first one is streaming: start the second, and let the body go once it is waiting
      await t.waitForEvent((e) => e.event === "start");
      const p2 = ensureCached(second.agent, "tiny", { emit: second.emit });
      await second.waitForEvent((e) => e.event === "note" && /another pixelrts process/.test(e.message));
      release();
      const [a, b] = await Promise.all([p1, p2]);
      expect(a.sha256).toBe(SHA);
      expect(b.sha256).toBe(SHA);
      expect(b.fromCache).toBe(true);
      expect(fileGets()).toHaveLength(1);
    } finally {
      await second.cleanup();
    }
  });

  it("hold: the item is in use (never evicted) until released", async () => {
    await setup({ settings: { cacheMaxBytes: 10 * 1024 * 1024 } });
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

describe("pull: pulls end (regressions: retry 1/3 for ever, drips, endless lock waits)", () => {
  const blobUrl = () => `${srv!.url}/blobs/sha256/${SHA}`;
  const retries = () => t.events.filter((e): e is Extract<typeof e, { event: "retry" }> => e.event === "retry");

  it("a server that truncates, then lies on every resume, fails (E_TRUNCATED/E_NETWORK) within the retry budget", async () => {
    // truncated at 700 kB; the resume is answered 206 with one byte wrong, so the agent restarts
    // from 0 and is truncated again: the re-downloaded bytes are not progress past byte 700 000
    await setup({ faults: [{ kind: "truncate", at: 700_000 }, { kind: "corrupt", at: 900_000 }], repeatFaults: true, settings: { retries: 2 } });
    expect(await codeOf(ensureCached(t.agent, blobUrl(), { emit: t.emit }))).toMatch(/^E_(TRUNCATED|NETWORK)$/);
    expect(retries().at(-1)).toMatchObject({ attempt: 2, of: 2 }); // the budget was spent, not reset by re-downloaded bytes
    expect(retries().length).toBeLessThanOrEqual(4);
    expect(fileGets().length).toBeLessThanOrEqual(8);
    // the good bytes stay for a resume, nothing unverified is cached
    expect(await cacheIsEmpty()).toMatchObject({ entries: 0, blobs: 0 });
    const part = (await readdir(t.agent.cache.layout.partialDir)).find((f) => f.endsWith(".part"));
    const kept = part ? await readFile(join(t.agent.cache.layout.partialDir, part)) : Buffer.alloc(0);
    expect(kept.length).toBeLessThanOrEqual(700_000);
    expect(kept.equals(BODY.subarray(0, kept.length))).toBe(true);
  });

  it("a server that ignores Range and stalls every time fails E_TIMEOUT within the retry budget", async () => {
    await setup({ faults: [{ kind: "ignore-range-stall", at: 300_000, ms: 30_000 }], repeatFaults: true, settings: { retries: 1, bodyTimeoutMs: 200 } });
    expect(await codeOf(ensureCached(t.agent, blobUrl(), { emit: t.emit }))).toBe("E_TIMEOUT");
    // the second GET asked for the rest, got the whole file again and stalled at the same byte
    expect(fileGets().map((g) => [g.range, g.status])).toEqual([[undefined, 200], ["bytes=300000-", 200]]);
    expect(retries().map((r) => r.attempt)).toEqual([1]);
  });

  it("a drip below the low-speed limit fails E_TOO_SLOW (the idle timeout never fires), retried within the budget", async () => {
    await setup({ faults: [{ kind: "drip", bytes: 16, everyMs: 20 }], repeatFaults: true, settings: { retries: 1, bodyTimeoutMs: 5000, lowSpeedBytes: 4096, lowSpeedMs: 200 } });
    const err = await ensureCached(t.agent, blobUrl(), { emit: t.emit }).catch((e) => e);
    expect(err.code).toBe("E_TOO_SLOW");
    expect(err.message).toMatch(/low-speed limit/);
    expect(fileGets()).toHaveLength(2);
    expect(retries().map((r) => [r.attempt, r.code])).toEqual([[1, "E_TOO_SLOW"]]);
  });

  it("the overall pull deadline ends a pull whose server holds the body (E_PULL_TIMEOUT), keeping the good bytes", async () => {
    await setup({ faults: [{ kind: "hold", at: 1_200_000, until: new Promise(() => {}) }], settings: { pullTimeoutMs: 300, bodyTimeoutMs: 60_000 } });
    const err = await ensureCached(t.agent, blobUrl(), { emit: t.emit }).catch((e) => e);
    expect(err.code).toBe("E_PULL_TIMEOUT");
    expect(err.message).toMatch(/PIXELRTS_PULL_TIMEOUT_MS|--timeout/);
    expect(retries()).toEqual([]);
    expect((await cacheIsEmpty()).entries).toBe(0);
    const part = (await readdir(t.agent.cache.layout.partialDir)).find((f) => f.endsWith(".part"));
    expect((await readFile(join(t.agent.cache.layout.partialDir, part!))).length).toBeGreaterThanOrEqual(1 << 20);
  });

  it("the deadline can be given per call (pull --timeout) and also bounds waiting for retries", async () => {
    await setup({ faults: [{ kind: "status", status: 503, retryAfter: "2" }], repeatFaults: true, settings: { retries: 5, retryMaxMs: 5000 } });
    expect(await codeOf(ensureCached(t.agent, blobUrl(), { emit: t.emit, timeoutMs: 200 }))).toBe("E_PULL_TIMEOUT");
    expect(fileGets()).toHaveLength(1);
  });

  it("a process waiting on a holder that makes no progress takes the download over, resuming from its bytes", async () => {
    // the holder's own timeouts are long: only the waiter's judgement ends its wait
    await setup({ faults: [{ kind: "hold", at: 1_500_000, until: new Promise(() => {}) }], settings: { bodyTimeoutMs: 60_000 } });
    const waiter = await makeTestAgent({ lowSpeedBytes: 1024, lowSpeedMs: 300 }, t.env.PIXELRTS_CACHE_DIR);
    const stop = new AbortController();
    try {
      const holder = ensureCached(t.agent, blobUrl(), { emit: t.emit, signal: stop.signal }).catch((e) => e);
      await t.waitForEvent((e) => e.event === "progress" && e.bytes >= 1 << 20);
      const r = await ensureCached(waiter.agent, blobUrl(), { emit: waiter.emit });
      expect(sha(await readFile(r.path))).toBe(SHA);
      expect(r.fromCache).toBe(false);
      expect(waiter.events.some((e) => e.event === "note" && /no progress .*taking the download over/.test(e.message))).toBe(true);
      expect(waiter.events.find((e) => e.event === "start")).toMatchObject({ resume_from: expect.any(Number) });
      const start = waiter.events.find((e) => e.event === "start") as { resume_from: number };
      expect(start.resume_from).toBeGreaterThanOrEqual(1 << 20);
      expect(fileGets().map((g) => g.range)).toEqual([undefined, `bytes=${start.resume_from}-`]);
      stop.abort();
      expect((await holder).code).toBe("E_INTERRUPTED");
      expect(await readdir(t.agent.cache.layout.locksDir)).toEqual([]);
    } finally {
      stop.abort();
      await waiter.cleanup();
    }
  });

  it("waiting on another process's download is bounded by the pull deadline", async () => {
    await setup({ faults: [{ kind: "hold", at: 1_500_000, until: new Promise(() => {}) }], settings: { bodyTimeoutMs: 60_000 } });
    const waiter = await makeTestAgent({ pullTimeoutMs: 300 }, t.env.PIXELRTS_CACHE_DIR);
    const stop = new AbortController();
    try {
      const holder = ensureCached(t.agent, blobUrl(), { emit: t.emit, signal: stop.signal }).catch((e) => e);
      await t.waitForEvent((e) => e.event === "start");
      expect(await codeOf(ensureCached(waiter.agent, blobUrl(), { emit: waiter.emit }))).toBe("E_PULL_TIMEOUT");
      expect(waiter.events.some((e) => e.event === "note" && /another pixelrts process/.test(e.message))).toBe(true);
      stop.abort();
      await holder;
    } finally {
      stop.abort();
      await waiter.cleanup();
    }
  });
});

describe("pull: resume validators (mutation: the 206 ETag re-check)", () => {
  it("a 206 carrying another ETag is refused before its body is used, and the pull restarts from byte 0", async () => {
    await setup({ faults: [{ kind: "reset", at: 1_200_000, after: afterSaved }, { kind: "etag-changed" }], settings: { retries: 1 } });
    const r = await ensureCached(t.agent, "tiny", { emit: t.emit });
    expect(sha(await readFile(r.path))).toBe(SHA);
    const gets = fileGets();
    expect(gets.map((g) => [g.range === undefined ? "full" : "range", g.status])).toEqual([["full", 200], ["range", 206], ["full", 200]]);
    expect(t.events.some((e) => e.event === "note" && /ETag "changed-[0-9a-f]+", expected/.test(e.message))).toBe(true);
  });
});

describe("pull: worker-thread hasher (hashMode: worker)", () => {
  it("a fresh pull and a resumed pull both verify with the worker hasher (its final partial batch is hashed)", async () => {
    await setup({ faults: [{ kind: "reset", at: 1_300_000, after: afterSaved }], settings: { hashMode: "worker", retries: 1 } });
    const r = await ensureCached(t.agent, "tiny", { emit: t.emit });
    expect(sha(await readFile(r.path))).toBe(SHA);
    expect(fileGets()[1]!.range).toMatch(/^bytes=[1-9]\d*-$/);
    expect(t.events.filter((e) => e.event === "verified")).toHaveLength(1);
  });
});

describe("pull: --offline (cache first, never the network)", () => {
  it("offline with nothing cached is E_OFFLINE for a name, a URL and a digest, and sends no request", async () => {
    await setup();
    for (const ref of ["tiny", `${srv!.url}/api/v1/containers/tiny`, `sha256:${SHA}`]) {
      expect(await codeOf(ensureCached(t.agent, ref, { offline: true }))).toBe("E_OFFLINE");
    }
    expect(srv!.requests).toEqual([]);
  });

  it("offline with a stale cached copy uses it without revalidating (no request), by name, URL and digest", async () => {
    await setup({ settings: { containerFreshMs: 0, catalogFreshMs: 0 } });
    const url = `${srv!.url}/api/v1/containers/tiny`;
    await ensureCached(t.agent, "tiny");
    await ensureCached(t.agent, url);
    const before = srv!.requests.length;
    for (const ref of ["tiny", url, `sha256:${SHA}`]) {
      const r = await ensureCached(t.agent, ref, { offline: true });
      expect(r).toMatchObject({ sha256: SHA, fromCache: true });
      expect(sha(await readFile(r.path))).toBe(SHA);
    }
    expect(srv!.requests.length).toBe(before);
    // the same refs online do revalidate (the stale copies were not fresh)
    await ensureCached(t.agent, "tiny");
    expect(srv!.requests.length).toBeGreaterThan(before);
  });
});
