/**
 * `pixelrts pull` through the built CLI: --offline, --timeout, the pull settings from env and
 * config.json, and the exit codes of the new error codes. Children run with the loopback guard.
 */
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { makeContainerBytes, startFaultServer, type Fault, type FaultServer } from "./helpers/fault-server.js";
import { buildCli, runCli } from "./helpers/cli.js";
import "./helpers/loopback-only.mjs";
import { blockedHosts } from "./helpers/loopback-only.mjs";

const GUARD = fileURLToPath(new URL("./helpers/loopback-only.mjs", import.meta.url));
const BODY = makeContainerBytes(1_500_000, 5);
const SHA = createHash("sha256").update(BODY).digest("hex");

let dir: string;
let env: Record<string, string>;
let srv: FaultServer | undefined;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], extraEnv: Record<string, string> = {}): Promise<Run> {
  return runCli(args, { nodeArgs: ["--import", GUARD], env: { ...env, ...extraEnv } });
}
const lastEvent = (r: Run) => JSON.parse(r.stdout.trim().split("\n").at(-1)!) as Record<string, unknown>;

async function serve(faults: Fault[] = [], repeatFaults = false): Promise<FaultServer> {
  srv = await startFaultServer({ body: BODY, id: "tiny", chunk: 16 * 1024, faults, repeatFaults });
  return srv;
}
const fileGets = () => srv!.containerRequests().filter((r) => r.method === "GET");

beforeAll(() => buildCli(), 60_000);
afterAll(() => {
  expect(blockedHosts()).toEqual([]);
});

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "pixelrts-pullcli-"));
  env = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, PIXELRTS_CONFIG_DIR: join(dir, "config"), PIXELRTS_CACHE_DIR: join(dir, "cache"), PIXELRTS_RETRIES: "0", PIXELRTS_RETRY_BASE_MS: "5", PIXELRTS_RETRY_JITTER_MS: "0" };
  srv = undefined;
});
afterEach(async () => {
  await srv?.close();
  await rm(dir, { recursive: true, force: true });
});

describe("pixelrts pull --offline", () => {
  it("nothing cached: E_OFFLINE, exit 4, and not one request (pull and boot)", async () => {
    await serve();
    const url = `${srv!.url}/api/v1/containers/tiny`;
    const r = await cli(["pull", url, "--offline"]);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/^pixelrts: E_OFFLINE: .*--offline/);
    expect(srv!.requests).toEqual([]);
    // boot takes the same flag to the same place (it reaches QEMU only through a cached copy)
    const b = await cli(["boot", url, "--offline", "--dry-run"]);
    expect(b.code).toBe(4);
    expect(b.stderr).toMatch(/^pixelrts: E_OFFLINE: .*--offline/);
    expect(srv!.requests).toEqual([]);
  });

  it("a stale cached copy is used as is, without revalidating", async () => {
    await serve();
    await mkdir(env.PIXELRTS_CONFIG_DIR!, { recursive: true });
    await writeFile(join(env.PIXELRTS_CONFIG_DIR!, "config.json"), JSON.stringify({ containerFreshMs: 0 }));
    const url = `${srv!.url}/api/v1/containers/tiny`;
    expect((await cli(["pull", url])).code).toBe(0);
    const before = srv!.requests.length;
    const r = await cli(["pull", url, "--offline", "--json"]);
    expect(r.code).toBe(0);
    expect(lastEvent(r)).toMatchObject({ event: "done", sha256: SHA, from_cache: true });
    expect(srv!.requests.length).toBe(before);
    // without --offline the stale copy is revalidated (If-None-Match → 304)
    expect((await cli(["pull", url])).code).toBe(0);
    expect(fileGets().at(-1)).toMatchObject({ ifNoneMatch: srv!.etag, status: 304 });
  });
});

describe("pixelrts pull: pulls end", () => {
  it("pull --timeout SECONDS ends a pull whose server holds the body: E_PULL_TIMEOUT, exit 4", async () => {
    await serve([{ kind: "hold", at: 200_000, until: new Promise(() => {}) }]);
    const r = await cli(["pull", `${srv!.url}/blobs/sha256/${SHA}`, "--timeout", "0.3", "--json"]);
    expect(r.code).toBe(4);
    expect(lastEvent(r)).toMatchObject({ event: "error", code: "E_PULL_TIMEOUT" });
  });

  it("pullTimeoutMs in config.json is the default deadline", async () => {
    await serve([{ kind: "hold", at: 200_000, until: new Promise(() => {}) }]);
    await mkdir(env.PIXELRTS_CONFIG_DIR!, { recursive: true });
    await writeFile(join(env.PIXELRTS_CONFIG_DIR!, "config.json"), JSON.stringify({ pullTimeoutMs: 300 }));
    const r = await cli(["pull", `${srv!.url}/blobs/sha256/${SHA}`]);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/^pixelrts: E_PULL_TIMEOUT: the pull did not finish within 0.3 s/);
  });

  it("pull --timeout must be a number of seconds (exit 2)", async () => {
    const r = await cli(["pull", "http://127.0.0.1:9/x", "--timeout", "soon"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/E_USAGE: --timeout takes seconds/);
  });

  it("PIXELRTS_LOW_SPEED_BYTES / PIXELRTS_LOW_SPEED_MS: a drip is E_TOO_SLOW, exit 4", async () => {
    await serve([{ kind: "drip", bytes: 8, everyMs: 20 }], true);
    const r = await cli(["pull", `${srv!.url}/blobs/sha256/${SHA}`], { PIXELRTS_LOW_SPEED_BYTES: "1KiB", PIXELRTS_LOW_SPEED_MS: "300", PIXELRTS_RETRIES: "1" });
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/below the low-speed limit .*; retry 1\/1 in /);
    expect(r.stderr).toMatch(/^pixelrts: E_TOO_SLOW: .*low-speed limit of 1024 bytes\/s/m);
    expect(fileGets()).toHaveLength(2);
  });
});

describe("pixelrts pull: hashing in a worker thread", () => {
  // Regression: the hash worker was unref'd, so once the download had finished nothing kept the
  // process's event loop alive while it waited for the digest: exit 13 ("unsettled top-level
  // await"), no message, nothing cached. "auto" picks the worker for 32 MiB or more; forced here.
  it("PIXELRTS_HASH_MODE=worker: the pull completes, exits 0 and the bytes are cached", async () => {
    await serve();
    const r = await cli(["pull", `${srv!.url}/api/v1/containers/tiny`, "--json"], { PIXELRTS_HASH_MODE: "worker" });
    expect(r.stderr).not.toMatch(/E_/);
    expect(r.code).toBe(0);
    expect(lastEvent(r)).toMatchObject({ event: "done", sha256: SHA, from_cache: false });
    const ls = await cli(["cache", "ls", "--json"]);
    expect((JSON.parse(ls.stdout) as { entries: { sha256: string }[] }).entries.map((e) => e.sha256)).toEqual([SHA]);
  });
});

describe("pixelrts pull: redirects", () => {
  it("a redirect loop is E_TOO_MANY_REDIRECTS (exit 4); a redirect to file: is E_BAD_URL (exit 2)", async () => {
    await serve();
    const loop = await cli(["pull", `${srv!.url}/r/loop-a`], { PIXELRTS_RETRIES: "3" });
    expect(loop.code).toBe(4);
    expect(loop.stderr).toMatch(/^pixelrts: E_TOO_MANY_REDIRECTS: redirect loop: /);
    const file = await cli(["pull", `${srv!.url}/r/file`], { PIXELRTS_RETRIES: "3" });
    expect(file.code).toBe(2);
    expect(file.stderr).toMatch(/^pixelrts: E_BAD_URL: .*redirected \(302\) to a file: URL/);
    expect(srv!.requests.filter((r) => r.url.startsWith("/r/"))).toHaveLength(3); // loop-a, loop-b, file: none retried
  });
});
