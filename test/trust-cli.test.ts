/**
 * Signed containers through the built CLI (docs/TRUST.md): keys, sign, verify, the trust store,
 * and `pull`/`boot` under `signatures: require` against a loopback catalog server that lists
 * signature envelopes the way the Worker does (`/blobs/sha256/<hex>/signatures`). What each
 * refusal leaves behind is checked: nothing reaches the cache, QEMU is never started.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ServerStore } from "../agent/config/servers.js";
import { buildCli, runCli } from "./helpers/cli.js";
import { makeContainerBytes } from "./helpers/fault-server.js";

const work = mkdtempSync(join(tmpdir(), "pixelrts-trust-"));
const publisher = { PIXELRTS_CONFIG_DIR: join(work, "publisher"), PIXELRTS_CACHE_DIR: join(work, "publisher-cache") };
let host: Record<string, string>;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(env: Record<string, string>, ...args: string[]): Promise<Run> {
  return runCli(args, { cwd: work, env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: work, PIXELRTS_RETRIES: "0", ...env } });
}

/** A catalog server: one entry per name, bytes by digest, and the envelopes listed for each digest. */
interface Listed {
  name: string;
  file: string;
  envelopes: unknown[];
}
let server: Server;
let base = "";
const listing = new Map<string, Listed>();
const requests: string[] = [];
/** When set, the signature lists answer 503 (a server whose signatures route is down). */
let signaturesDown = false;

function fileOf(sha: string): Listed | undefined {
  return [...listing.values()].find((l) => createHash("sha256").update(readFileSync(l.file)).digest("hex") === sha);
}

beforeAll(async () => {
  buildCli();
  server = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    requests.push(path);
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    if (path === "/api/v1/catalog") {
      return json(200, {
        entries: [...listing.values()].map((l) => {
          const bytes = readFileSync(l.file);
          const sha = createHash("sha256").update(bytes).digest("hex");
          return { id: l.name, name: l.name, path: `/api/v1/containers/${l.name}`, size: bytes.length, sha256: sha, url: `${base}/api/v1/containers/${l.name}`, blob_url: `${base}/blobs/sha256/${sha}` };
        }),
      });
    }
    let m = /^\/blobs\/sha256\/([0-9a-f]{64})\/signatures$/.exec(path);
    if (m) {
      if (signaturesDown) return json(503, { error: { code: "E_UNAVAILABLE", message: "down" } });
      const l = fileOf(m[1]!);
      return l ? json(200, { sha256: m[1], signatures: l.envelopes }) : json(404, { error: { code: "E_NOT_FOUND" } });
    }
    m = /^\/blobs\/sha256\/([0-9a-f]{64})$/.exec(path);
    if (m) {
      const l = fileOf(m[1]!);
      if (!l) return json(404, { error: { code: "E_NOT_FOUND" } });
      const bytes = readFileSync(l.file);
      res.writeHead(200, { "content-type": "image/png", "content-length": String(bytes.length), "x-pixelrts-sha256": m[1]!, etag: `"${m[1]!.slice(0, 16)}"` });
      return res.end(bytes);
    }
    json(404, { error: { code: "E_NOT_FOUND" } });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  // the publisher: a key, and two containers packed from different payloads
  expect((await cli(publisher, "key", "generate", "alice")).code).toBe(0);
  expect((await cli(publisher, "key", "generate", "mallory")).code).toBe(0);
  for (const [name, seed] of [["demo", 1], ["other", 2]] as const) {
    writeFileSync(join(work, `${name}.bin`), makeContainerBytes(50_000, seed));
    expect((await cli(publisher, "pack", join(work, `${name}.bin`), "-o", join(work, `${name}.rts.png`), "--name", name, "--type", "kernel")).code).toBe(0);
  }
}, 60_000);

afterAll(async () => {
  await new Promise((r) => server.close(r));
  rmSync(work, { recursive: true, force: true });
});

let hostN = 0;
beforeEach(async () => {
  // every test is a fresh boot host, requiring signatures, with the catalog server configured
  hostN++;
  host = { PIXELRTS_CONFIG_DIR: join(work, `host${hostN}`), PIXELRTS_CACHE_DIR: join(work, `host${hostN}-cache`), PIXELRTS_SIGNATURES: "require" };
  // what `servers add --no-check` does, in this process (a CLI start per test adds up; the command itself is tested in agent-cli)
  await new ServerStore(host.PIXELRTS_CONFIG_DIR!).add({ url: base, name: "edge" });
  listing.clear();
  requests.length = 0;
  signaturesDown = false;
});

async function signed(file: string, key: string, ...extra: string[]): Promise<unknown> {
  const out = join(work, `${key}-${Math.random().toString(36).slice(2)}.sig.json`);
  const r = await cli(publisher, "sign", join(work, file), "--key", key, "-o", out, ...extra);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(readFileSync(out, "utf8"));
}

const publicKey = async (name: string) => (await cli(publisher, "key", "export", name)).stdout.trim();
async function cachedBlobs(): Promise<{ sha256: string; signed: string }[]> {
  const r = await cli(host, "cache", "ls", "--json");
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout).entries;
}

describe("keys, sign and verify", () => {
  it("key generate prints the public key; sign + verify round trip; verify needs trust", async () => {
    const ls = JSON.parse((await cli(publisher, "key", "ls", "--json")).stdout) as { name: string; keyid: string; public_key: string }[];
    expect(ls.map((k) => k.name)).toEqual(["alice", "mallory"]);
    expect(ls[0]!.public_key).toMatch(/^ed25519:[A-Za-z0-9+/]{43}=$/);
    expect(readFileSync(join(publisher.PIXELRTS_CONFIG_DIR, "keys", "alice.pem"), "utf8")).toMatch(/PRIVATE KEY/);
    const sign = await cli(publisher, "sign", join(work, "demo.rts.png"), "--key", "alice");
    expect(sign.code, sign.stderr).toBe(0);
    expect(existsSync(join(work, "demo.sig.json"))).toBe(true);
    const untrusted = await cli(host, "verify", join(work, "demo.rts.png"));
    expect(untrusted.code).toBe(3);
    expect(untrusted.stderr).toContain(`E_UNTRUSTED_KEY`);
    expect(untrusted.stderr).toContain(`pixelrts trust add ${await publicKey("alice")}`);
    expect((await cli(host, "trust", "add", await publicKey("alice"), "--name", "alice")).code).toBe(0);
    const ok = await cli(host, "verify", join(work, "demo.rts.png"), "--json");
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ state: "trusted", key_name: "alice", statement: { name: "demo", type: "https://pixelrts.dev/signature/v1" } });
    // the signature of one file does not cover another
    const other = await cli(host, "verify", join(work, "other.rts.png"), "--sig", join(work, "demo.sig.json"));
    expect(other.code).toBe(3);
    expect(other.stderr).toContain("E_SIGNATURE_MISMATCH");
  });
});

describe("pull and boot under signatures: require", () => {
  it("a cached copy whose signatures cannot be fetched says so, not E_UNSIGNED (regression)", async () => {
    listing.set("demo", { name: "demo", file: join(work, "demo.rts.png"), envelopes: [await signed("demo.rts.png", "alice")] });
    expect((await cli({ ...host, PIXELRTS_SIGNATURES: "off" }, "pull", "demo")).code).toBe(0); // cached, no signatures kept
    signaturesDown = true;
    const r = await cli(host, "pull", "demo");
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/^pixelrts: E_SERVER: .*signatures.*503/);
    expect(r.stderr).not.toContain("E_UNSIGNED");
  });

  it("an unsigned container is refused before a byte is fetched: E_UNSIGNED, nothing cached", async () => {
    listing.set("demo", { name: "demo", file: join(work, "demo.rts.png"), envelopes: [] });
    const r = await cli(host, "pull", "demo");
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^pixelrts: E_UNSIGNED: 'demo' is not signed/m);
    expect(requests.filter((p) => /^\/blobs\/sha256\/[0-9a-f]{64}$/.test(p))).toEqual([]);
    expect(await cachedBlobs()).toEqual([]);
  });

  it("a key the host does not trust: E_UNTRUSTED_KEY with the command that would trust it", async () => {
    listing.set("demo", { name: "demo", file: join(work, "demo.rts.png"), envelopes: [await signed("demo.rts.png", "mallory")] });
    const r = await cli(host, "pull", "demo");
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`E_UNTRUSTED_KEY`);
    expect(r.stderr).toContain(`pixelrts trust add ${await publicKey("mallory")} --server edge`);
    expect(await cachedBlobs()).toEqual([]);
  });

  it("a container a trusted key signed is pulled, shown as signed, and boots offline from the cache", async () => {
    listing.set("demo", { name: "demo", file: join(work, "demo.rts.png"), envelopes: [await signed("demo.rts.png", "alice")] });
    expect((await cli(host, "trust", "add", await publicKey("alice"), "--name", "alice", "--server", "edge")).code).toBe(0);
    const r = await cli(host, "pull", "demo", "--json");
    expect(r.code, r.stderr).toBe(0);
    const done = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
    expect(done).toMatchObject({ event: "done", signature: { policy: "require", state: "trusted", key_name: "alice" } });
    expect((await cachedBlobs()).map((b) => b.signed)).toEqual(["alice"]);
    expect((await cli(host, "catalog")).stdout).toMatch(/\ndemo\s.*\salice\s+[0-9a-f]{12}\n/);
    // offline: the envelopes saved with the blob are judged again
    const offline = await cli(host, "pull", "demo", "--offline", "--json");
    expect(offline.code, offline.stderr).toBe(0);
    expect(JSON.parse(offline.stdout.trim().split("\n").at(-1)!)).toMatchObject({ from_cache: true, signature: { state: "trusted" } });
    // and once the key is no longer trusted, the cached copy is refused too
    expect((await cli(host, "trust", "rm", "alice")).code).toBe(0);
    expect((await cli(host, "pull", "demo", "--offline")).stderr).toContain("E_UNTRUSTED_KEY");
  });

  it("a signature for another name is refused (substitution): E_SIGNATURE_MISMATCH", async () => {
    // the server lists the bytes alice signed as 'demo' under the name 'other'
    listing.set("other", { name: "other", file: join(work, "demo.rts.png"), envelopes: [await signed("demo.rts.png", "alice")] });
    expect((await cli(host, "trust", "add", await publicKey("alice"))).code).toBe(0);
    const r = await cli(host, "pull", "other");
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/E_SIGNATURE_MISMATCH: .*signed for the name 'demo', not 'other'/);
    expect(await cachedBlobs()).toEqual([]);
  });

  it("an older signed container under a name already seen newer is a rollback (E_ROLLBACK) unless --allow-downgrade", async () => {
    expect((await cli(host, "trust", "add", await publicKey("alice"))).code).toBe(0);
    listing.set("demo", { name: "demo", file: join(work, "demo.rts.png"), envelopes: [await signed("demo.rts.png", "alice")] });
    expect((await cli(host, "pull", "demo")).code).toBe(0);
    // the server now serves an older release (signed in 2020) under the same name
    const backdated = await backdate(join(work, "other.rts.png"), "demo", "2020-01-01T00:00:00Z");
    listing.set("demo", { name: "demo", file: join(work, "other.rts.png"), envelopes: [backdated] });
    const r = await cli(host, "pull", "demo");
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/E_ROLLBACK: edge serves 'demo' signed at 2020-01-01T00:00:00Z, older than/);
    expect((await cli(host, "pull", "demo", "--allow-downgrade")).code).toBe(0);
  });

  it("boot FILE: the envelope beside it is checked before QEMU; a tampered file is refused", async () => {
    expect((await cli(host, "trust", "add", await publicKey("alice"))).code).toBe(0);
    const copy = join(work, "copy.rts.png");
    writeFileSync(copy, readFileSync(join(work, "demo.rts.png")));
    writeFileSync(join(work, "copy.sig.json"), JSON.stringify(await signed("demo.rts.png", "alice")));
    const ok = await cli(host, "boot", copy, "--dry-run", "--json");
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ event: "dry-run", signature: { state: "trusted", key_name: expect.any(String) } });
    const bytes = readFileSync(copy);
    bytes[bytes.length - 20] = bytes[bytes.length - 20]! ^ 1;
    writeFileSync(copy, bytes);
    const bad = await cli(host, "boot", copy, "--dry-run");
    expect(bad.code).toBe(3);
    expect(bad.stderr).toContain("E_SIGNATURE_MISMATCH");
  });
});

/** A fresh envelope by alice over `file` named `name`, with a chosen signed_at (the rollback scenario). */
async function backdate(file: string, name: string, signedAt: string): Promise<unknown> {
  const { signSubject, describeFile } = await import("../agent/trust/sign.js");
  const { Keyring } = await import("../agent/trust/keyring.js");
  const key = await new Keyring(publisher.PIXELRTS_CONFIG_DIR).load("alice");
  return (await signSubject(await describeFile(file, name), key, new Date(signedAt))).envelope;
}
