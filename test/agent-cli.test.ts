/**
 * The agent through its real interface: the built CLI in child processes, talking HTTP over
 * loopback to the fault-injecting server. Every child is preloaded with the loopback guard.
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { chmod, mkdtemp, readFile, rm, writeFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { makeContainerBytes, startFaultServer, type Fault, type FaultServer } from "./helpers/fault-server.js";
import { buildCli, CLI, runCli } from "./helpers/cli.js";
import "./helpers/loopback-only.mjs";
import { blockedHosts } from "./helpers/loopback-only.mjs";

const GUARD = fileURLToPath(new URL("./helpers/loopback-only.mjs", import.meta.url));
const BODY = makeContainerBytes(3 * 1024 * 1024 + 77, 11);
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
type CliEvent = { event: string; [k: string]: unknown };

/**
 * A CLI run whose NDJSON events can be awaited while it runs. `waitFor` rejects if the process
 * ends without printing a matching event, so a test never waits on a condition that cannot come.
 */
function cliLive(args: string[]) {
  const seen: CliEvent[] = [];
  const waiters: { match: (e: CliEvent) => boolean; resolve: () => void }[] = [];
  let buffered = "";
  let closed = false;
  const onClose: (() => void)[] = [];
  const child = spawn(process.execPath, ["--import", GUARD, CLI, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => {
    stdout += d;
    buffered += d;
    for (let nl = buffered.indexOf("\n"); nl >= 0; nl = buffered.indexOf("\n")) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      if (!line.trim()) continue;
      const e = JSON.parse(line) as CliEvent;
      seen.push(e);
      for (const w of waiters.filter((w) => w.match(e))) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  });
  child.stderr.on("data", (d) => (stderr += d));
  const done = new Promise<Run>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => {
      closed = true;
      for (const f of onClose) f();
      resolve({ code, stdout, stderr });
    });
  });
  const waitFor = (match: (e: CliEvent) => boolean) =>
    new Promise<void>((resolve, reject) => {
      if (seen.some(match)) return resolve();
      if (closed) return reject(new Error(`pixelrts ${args.join(" ")} ended without the awaited event; stderr: ${stderr}`));
      waiters.push({ match, resolve });
      onClose.push(() => reject(new Error(`pixelrts ${args.join(" ")} ended without the awaited event; stderr: ${stderr}`)));
    });
  return { done, waitFor };
}
const events = (r: Run) => r.stdout.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as CliEvent);

async function serve(opts: { faults?: Fault[]; digest?: "true" | "lie" | "none" } = {}) {
  srv = await startFaultServer({ body: BODY, id: "tiny", chunk: 32 * 1024, ...opts });
  const r = await cli(["servers", "add", srv.url, "--name", "local"]);
  expect(r.code).toBe(0);
  return srv;
}

beforeAll(async () => {
  // The CLI runs from the bundle, as users run it; the build warns about nothing.
  expect(buildCli().stderr).toBe("");
}, 60_000);

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "pixelrts-cli-"));
  env = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: dir,
    PIXELRTS_CONFIG_DIR: join(dir, "config"),
    PIXELRTS_CACHE_DIR: join(dir, "cache"),
    PIXELRTS_RETRY_BASE_MS: "5",
    PIXELRTS_RETRY_JITTER_MS: "5",
    PIXELRTS_RETRY_MAX_MS: "2000",
  };
  srv = undefined;
});
afterEach(async () => {
  await srv?.close();
  await rm(dir, { recursive: true, force: true });
});
afterAll(() => {
  expect(blockedHosts()).toEqual([]);
});

describe("pixelrts servers", () => {
  it("add, ls, rm; a bad URL is a usage error (exit 2)", async () => {
    expect((await cli(["servers", "add", "http://127.0.0.1:9/", "--name", "a", "--color", "#112233"])).code).toBe(0);
    const ls = await cli(["servers", "ls", "--json"]);
    expect(JSON.parse(ls.stdout)).toEqual([expect.objectContaining({ name: "a", url: "http://127.0.0.1:9", color: "#112233" })]);
    const bad = await cli(["servers", "add", "ftp://127.0.0.1/"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^pixelrts: E_BAD_URL: /);
    expect((await cli(["servers", "rm", "a"])).code).toBe(0);
    expect(JSON.parse((await cli(["servers", "ls", "--json"])).stdout)).toEqual([]);
  });
});

describe("pixelrts pull", () => {
  it("--json prints NDJSON start/progress/verified/done and caches the verified file", async () => {
    await serve();
    const r = await cli(["pull", "tiny", "--json"]);
    expect(r.code).toBe(0);
    const ev = events(r);
    expect(ev[0]).toMatchObject({ event: "start", size: BODY.length, sha256: SHA, resume_from: 0 });
    expect(ev.filter((e) => e.event === "progress").at(-1)).toMatchObject({ bytes: BODY.length, total: BODY.length });
    expect(ev.at(-3)).toMatchObject({ event: "verified", sha256: SHA });
    // the signature state (signatures: warn, the default): shown, not a refusal
    expect(ev.at(-2)).toMatchObject({ event: "note", message: "not signed (signatures: warn)" });
    const done = ev.at(-1)!;
    expect(done).toMatchObject({ event: "done", sha256: SHA, from_cache: false, signature: { policy: "warn", state: "unsigned", keyids: [] } });
    expect(createHash("sha256").update(await readFile(done.path as string)).digest("hex")).toBe(SHA);
  });

  it("retries 503 with one line per failure, then succeeds (plain output when piped)", async () => {
    await serve({ faults: [{ kind: "status", status: 503 }, { kind: "reset", at: 1_000_000 }] });
    const r = await cli(["pull", "tiny"]);
    expect(r.code).toBe(0);
    const lines = r.stderr.trim().split("\n");
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^pixelrts: tiny: GET .* → 503; retry 1\/3 in /);
    expect(lines[1]).toMatch(/reset or closed early; retry 1\/3/);
    expect(lines[2]).toBe("pixelrts: tiny: not signed (signatures: warn)");
    expect(r.stdout).toContain(`sha256:${SHA}`);
    expect(r.stdout).not.toMatch(/\r|\x1b/); // no bar when not a terminal
  });

  it("404 → exit 4, not retried; lying digest → exit 3, nothing cached", async () => {
    await serve({ faults: [{ kind: "status", status: 404 }] });
    const r = await cli(["pull", "tiny"]);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/^pixelrts: E_HTTP: GET .* → 404\n$/);
    await srv!.close();
    srv = await startFaultServer({ body: BODY, id: "tiny", digest: "lie" });
    const lie = await cli(["pull", `${srv.url}/api/v1/containers/tiny`, "--json"]);
    expect(lie.code).toBe(3);
    expect(events(lie).at(-1)).toMatchObject({ event: "error", code: "E_DIGEST_MISMATCH" });
    expect(JSON.parse((await cli(["cache", "ls", "--json"])).stdout).entries).toEqual([]);
  });

  it("two processes pulling the same object share one download", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    await serve({ faults: [{ kind: "hold", at: 1_000_000, until: gate }] });
    const a = cliLive(["pull", "tiny", "--json"]);
    const b = cliLive(["pull", "tiny", "--json"]);
    // Let the body flow only once one process is downloading (held at 1 MB) and the other is
    // waiting on its lock: then the second one can only have taken the shared download.
    const downloading = (e: CliEvent) => e.event === "start";
    const waiting = (e: CliEvent) => e.event === "note" && /another pixelrts process/.test(String(e.message));
    await Promise.race([
      Promise.all([a.waitFor(downloading), b.waitFor(waiting)]),
      Promise.all([b.waitFor(downloading), a.waitFor(waiting)]),
    ]);
    release();
    const [ra, rb] = await Promise.all([a.done, b.done]);
    expect([ra.code, rb.code]).toEqual([0, 0]);
    const doneA = events(ra).at(-1)!;
    const doneB = events(rb).at(-1)!;
    expect(doneA).toMatchObject({ event: "done", sha256: SHA });
    expect(doneB).toMatchObject({ event: "done", sha256: SHA, path: doneA.path });
    expect([doneA.from_cache, doneB.from_cache].sort()).toEqual([false, true]);
    expect(srv!.containerRequests().filter((r) => r.method === "GET")).toHaveLength(1);
    expect(createHash("sha256").update(await readFile(doneA.path as string)).digest("hex")).toBe(SHA);
  });

  it("offline: with the server stopped, pull and catalog use the cache and say so", async () => {
    await serve();
    await mkdir(env.PIXELRTS_CONFIG_DIR!, { recursive: true });
    await writeFile(join(env.PIXELRTS_CONFIG_DIR!, "config.json"), JSON.stringify({ catalogFreshMs: 0, containerFreshMs: 0 }));
    expect((await cli(["pull", "tiny"])).code).toBe(0);
    await srv!.close();
    srv = undefined;
    const r = await cli(["pull", "tiny", "--json"]);
    expect(r.code).toBe(0);
    const ev = events(r);
    expect(ev.find((e) => e.event === "note")?.message).toMatch(/unreachable.*cached copy/);
    expect(ev.at(-1)).toMatchObject({ event: "done", sha256: SHA, from_cache: true, stale: true });
    const cat = await cli(["catalog", "--json"]);
    expect(cat.code).toBe(0);
    const view = JSON.parse(cat.stdout);
    expect(view.rows).toEqual([expect.objectContaining({ id: "tiny", sha256: SHA, source: "local", cached: true, stale: true })]);
    expect(view.servers[0]).toMatchObject({ server: "local", status: "stale", error: expect.objectContaining({ code: "E_NETWORK" }) });
    const human = await cli(["catalog"]);
    expect(human.stderr).toMatch(/local: E_NETWORK: .*showing the copy from/);
    expect(human.stdout).toMatch(/^ID\s+SIZE\s+ARCH\s+TYPE\s+UPDATED\s+SOURCE\s+STATE\s+SIGNED\s+FILE SHA256\n/);
    expect(human.stdout).toMatch(/\ntiny\s+3\.15 MB\s+\S+\s+\S+\s+\S+( ago)?\s+local\s+cached,verified,stale\s+-\s+[0-9a-f]{12}\n/);
  });
});

describe("everyday verbs take catalog refs", () => {
  it("pull -o keeps a copy; inspect and extract take an id; cache rm removes one item", async () => {
    // a real container this time (the fault server's usual body is only PNG-shaped)
    await writeFile(join(dir, "payload.in"), Buffer.alloc(70_000, 9));
    expect((await cli(["pack", join(dir, "payload.in"), "-o", join(dir, "real.rts.png"), "--type", "kernel"])).code).toBe(0);
    const body = await readFile(join(dir, "real.rts.png"));
    const sha = createHash("sha256").update(body).digest("hex");
    srv = await startFaultServer({ body, id: "real" });
    expect((await cli(["servers", "add", srv.url, "--name", "local", "--no-check"])).code).toBe(0);
    const copy = join(dir, "copy.rts.png");
    const bad = await cli(["pull", "real", "-o", join(dir, "no-such-dir", "x.rts.png")]);
    expect(bad.code).toBe(2); // checked before anything is fetched
    expect(srv.containerRequests()).toEqual([]);
    expect((await cli(["pull", "real", "-o", copy])).code).toBe(0);
    expect(createHash("sha256").update(await readFile(copy)).digest("hex")).toBe(sha);
    const info = await cli(["inspect", "real", "--json"]);
    expect(info.code, info.stderr).toBe(0);
    const payloadSha = createHash("sha256").update(Buffer.alloc(70_000, 9)).digest("hex");
    expect(JSON.parse(info.stdout)).toMatchObject({ file_sha256: sha, payload_sha256: payloadSha, hash_status: "verified" });
    const human = await cli(["inspect", sha.slice(0, 10)]);
    expect(human.stdout).toMatch(new RegExp(`^file sha256 +${sha}$`, "m"));
    expect(human.stdout).toMatch(new RegExp(`^payload sha256 +${payloadSha}$`, "m"));
    const out = join(dir, "payload.out");
    const x = await cli(["extract", "real", "-o", out, "--json"]);
    expect(x.code, x.stderr).toBe(0);
    expect(JSON.parse(x.stdout)).toMatchObject({ integrity: "verified", payload_sha256: payloadSha });
    expect(createHash("sha256").update(await readFile(out)).digest("hex")).toBe(payloadSha);
    expect((await cli(["cache", "rm", "real"])).stdout).toMatch(/^removed [0-9a-f]{12} /);
    expect(JSON.parse((await cli(["cache", "ls", "--json"])).stdout).entries).toEqual([]);
  });
});

describe("pixelrts cache", () => {
  it("ls, pin/unpin, verify (exit 3 after removing a corrupt item), clear needs --yes when piped", async () => {
    await serve();
    expect((await cli(["pull", "tiny"])).code).toBe(0);
    expect((await cli(["cache", "pin", "tiny"])).stdout).toMatch(/^pinned /);
    const ls = JSON.parse((await cli(["cache", "ls", "--json"])).stdout);
    expect(ls.entries).toEqual([expect.objectContaining({ sha256: SHA, pinned: true, size: BODY.length })]);
    expect((await cli(["cache", "unpin", SHA.slice(0, 10)])).code).toBe(0);
    expect((await cli(["cache", "verify"])).code).toBe(0);
    const blob = ls.entries[0].path as string;
    await chmod(blob, 0o644);
    const bytes = await readFile(blob);
    bytes[12345] = bytes[12345]! ^ 1;
    await writeFile(blob, bytes);
    const v = await cli(["cache", "verify", "--json"]);
    expect(v.code).toBe(3);
    expect(JSON.parse(v.stdout).removed).toEqual([expect.objectContaining({ sha256: SHA })]);
    const clear = await cli(["cache", "clear"]);
    expect(clear.code).toBe(2);
    expect(clear.stderr).toMatch(/E_USAGE: .*--yes/);
    expect((await cli(["cache", "clear", "--yes"])).code).toBe(0);
    expect((await cli(["cache", "gc", "--json"])).code).toBe(0);
  });
});
