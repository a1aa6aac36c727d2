/**
 * The CLI as a newcomer meets it, through the built binary: help that explains every flag with
 * its default and an example, "did you mean" for commands, flags and verbs, --version, a quiet
 * exit when the reader of a pipe goes away, and the everyday server verbs.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildCli, CLI, runCli } from "./helpers/cli.js";

const ROOT = join(import.meta.dirname, "..");
const dir = mkdtempSync(join(tmpdir(), "pixelrts-usability-"));
const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, PIXELRTS_CONFIG_DIR: join(dir, "config"), PIXELRTS_CACHE_DIR: join(dir, "cache"), PIXELRTS_CATALOG_TIMEOUT_MS: "2000", PIXELRTS_TOKEN: "test-token", PIXELRTS_RETRIES: "0" };

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(...args: string[]): Promise<Run> {
  return cliWith({}, ...args);
}

function cliWith(extraEnv: Record<string, string>, ...args: string[]): Promise<Run> {
  return runCli(args, { env: { ...env, ...extraEnv } });
}

let health: Server;
let healthUrl = "";
beforeAll(async () => {
  buildCli();
  // A server with a health route and a 3000-entry catalog (more than a pipe holds).
  const entries = Array.from({ length: 3000 }, (_, i) => ({ id: `os-${i}`, name: `os-${i}`, path: `/x/${i}`, size: 1000 + i }));
  health = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    const body = path === "/api/v1/health" ? '{"status":"ok"}' : path === "/api/v1/catalog" ? JSON.stringify({ entries }) : "{}";
    res.writeHead(body === "{}" ? 404 : 200, { "content-type": "application/json" });
    res.end(body);
  });
  await new Promise<void>((r) => health.listen(0, "127.0.0.1", r));
  healthUrl = `http://127.0.0.1:${(health.address() as AddressInfo).port}`;
}, 60_000);
afterAll(async () => {
  await new Promise((r) => health.close(r));
  rmSync(dir, { recursive: true, force: true });
});

describe("help", () => {
  it("`help boot` describes every flag, its default, and gives examples", async () => {
    const r = await cli("help", "boot");
    expect(r.code).toBe(0);
    for (const flag of ["--memory <SIZE>", "--cpus <N>", "--kvm <MODE>", "--display <DISPLAY>", "--serial <TARGET>", "--append <ARGS>", "--net <MODE>", "--timeout <SECONDS>", "--offline", "--dry-run", "--json"]) {
      expect(r.stdout).toContain(flag);
    }
    expect(r.stdout.replace(/\s+/g, " ")).toMatch(/--kvm <MODE> auto: [^(]*\(default: auto\)/);
    expect(r.stdout).toMatch(/Examples:\n {2}pixelrts boot /);
    expect(await cli("boot", "--help")).toMatchObject({ code: 0, stdout: r.stdout });
  });

  it("help for a verb, and the command list", async () => {
    expect((await cli("help", "servers", "add")).stdout).toMatch(/^Usage: pixelrts servers add \[options\] <URL>/);
    const top = await cli("help");
    expect(top.code).toBe(0);
    for (const name of ["pack", "inspect", "catalog", "pull", "boot", "publish", "servers", "cache"]) expect(top.stdout).toMatch(new RegExp(`\\n  ${name}\\b`));
    expect((await cli()).stdout).toBe(top.stdout);
  });

  it("`help foo` is a usage error (exit 2), with a suggestion when something is close", async () => {
    expect(await cli("help", "foo")).toMatchObject({ code: 2, stdout: "", stderr: "pixelrts: E_USAGE: unknown command 'foo' (see 'pixelrts help')\n" });
    expect((await cli("help", "boto")).stderr).toContain("(did you mean boot?)");
  });

  it("--version prints the package version", async () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string };
    expect(await cli("--version")).toMatchObject({ code: 0, stdout: `pixelrts ${pkg.version}\n` });
  });
});

describe("did you mean", () => {
  it.each([
    [["pul", "demo"], "unknown command 'pul' (did you mean pull?)"],
    [["boot", "x", "--memmory", "1G"], "unknown option '--memmory' (did you mean --memory?)"],
    [["servers", "ad", "http://x"], "unknown command 'ad' (did you mean add?)"],
    [["cache", "verfy"], "unknown command 'verfy' (did you mean verify?)"],
  ])("%j → one E_USAGE line with the suggestion, exit 2", async (args, text) => {
    const r = await cli(...args);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`pixelrts: E_USAGE: ${text} (see 'pixelrts help')\n`);
  });
});

describe("servers", () => {
  it("add checks /api/v1/health (a warning, or --no-check), rename, default, ls; publish uses the default", async () => {
    const up = await cli("servers", "add", healthUrl, "--name", "up");
    expect(up).toMatchObject({ code: 0, stderr: "" });
    const dead = await cli("servers", "add", "http://127.0.0.1:9", "--name", "dead");
    expect(dead.code).toBe(0);
    expect(dead.stderr).toMatch(/^warning: http:\/\/127\.0\.0\.1:9 does not answer \/api\/v1\/health \(E_NETWORK: .*--no-check/);
    expect((await cli("servers", "add", "http://127.0.0.1:10", "--name", "quiet", "--no-check")).stderr).toBe("");
    expect((await cli("servers", "rename", "dead", "gone")).stdout).toBe("renamed to gone http://127.0.0.1:9\n");
    expect((await cli("servers", "default", "quiet")).code).toBe(0);
    const ls = JSON.parse((await cli("servers", "ls", "--json")).stdout) as { name: string; default: boolean }[];
    expect(ls.map((s) => [s.name, s.default])).toEqual([["quiet", true], ["up", false], ["gone", false]]);
    expect((await cli("servers")).stdout).toMatch(/^NAME\s+URL\s+COLOR\s+DEFAULT\s+SIGNATURES\nquiet\s+http:\/\/127\.0\.0\.1:10\s+yes\n/);
    expect((await cli("servers", "rename", "nope", "x")).code).toBe(2);
    const tiny = join(dir, "tiny.bin");
    writeFileSync(tiny, "x".repeat(100));
    expect((await cli("pack", tiny, "-o", join(dir, "tiny.rts.png"))).code).toBe(0);
    const pub = await cli("publish", join(dir, "tiny.rts.png"), "--json");
    expect(pub.code).toBe(4); // it went to the default server, which is not running
    expect(pub.stderr).toContain("127.0.0.1:10");
  });
});

describe("pipes", () => {
  it("a reader that goes away (| head -1) ends the CLI quietly", async () => {
    const own = { PIXELRTS_CONFIG_DIR: join(dir, "pipes-config") };
    const add = await cliWith(own, "servers", "add", healthUrl, "--name", "big", "--no-check");
    expect(add.code).toBe(0);
    const full = await cliWith(own, "catalog", "--server", "big");
    expect(full.stdout.length).toBeGreaterThan(128 * 1024); // more than a pipe buffers: the writer meets EPIPE
    const r = spawnSync("bash", ["-c", `set -o pipefail; node ${CLI} catalog --server big | head -1`], { env: { ...env, ...own }, encoding: "utf8" });
    expect(r.stdout).toMatch(/^ID\s+SIZE\s+ARCH/);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
  });
});

describe("words and exit statuses", () => {
  it("catalog exits 4 when every server failed (and 0 with a saved copy to show)", async () => {
    const own = { PIXELRTS_CONFIG_DIR: join(dir, "dead-config"), PIXELRTS_CACHE_DIR: join(dir, "dead-cache") };
    expect((await cliWith(own, "servers", "add", "http://127.0.0.1:9", "--name", "dead", "--no-check")).code).toBe(0);
    const r = await cliWith(own, "catalog");
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/^pixelrts: dead: E_NETWORK: /m);
    expect((await cliWith(own, "catalog", "--json")).code).toBe(4);
  });

  it("every --json output uses snake_case keys", async () => {
    const own = { PIXELRTS_CONFIG_DIR: join(dir, "keys-config"), PIXELRTS_CACHE_DIR: join(dir, "keys-cache") };
    await cliWith(own, "servers", "add", healthUrl, "--name", "k", "--no-check");
    const docs = [
      JSON.parse((await cliWith(own, "servers", "ls", "--json")).stdout),
      JSON.parse((await cliWith(own, "servers", "add", "http://127.0.0.1:11", "--name", "k2", "--no-check", "--json")).stdout),
      JSON.parse((await cliWith(own, "cache", "ls", "--json")).stdout),
      JSON.parse((await cliWith(own, "cache", "gc", "--json")).stdout),
      JSON.parse((await cliWith(own, "catalog", "--server", "k", "--json")).stdout),
    ];
    const keys: string[] = [];
    const walk = (v: unknown) => {
      if (Array.isArray(v)) v.forEach(walk);
      else if (v && typeof v === "object") for (const [k, x] of Object.entries(v)) keys.push(k), walk(x);
    };
    docs.forEach(walk);
    expect(keys.length).toBeGreaterThan(20);
    expect(keys.filter((k) => !/^[a-z0-9_]+$/.test(k))).toEqual([]);
  });
});

describe("npm start", () => {
  it("refuses a taken port, saying which and how to choose another, before starting anything", async () => {
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, "127.0.0.1", r));
    const port = (taken.address() as AddressInfo).port;
    try {
      const r = spawnSync(process.execPath, [join(ROOT, "scripts/start.mjs")], { env: { ...env, PORT: String(port), SEED: "0" }, encoding: "utf8", timeout: 30_000 });
      expect(r.status).toBe(1);
      expect(r.stderr).toContain(`Port ${port} on 127.0.0.1 is taken`);
      expect(r.stderr).toContain(`PORT=${port + 1} npm start`);
    } finally {
      await new Promise((r) => taken.close(r));
    }
  });
});
