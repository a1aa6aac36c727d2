/**
 * Hostile containers and hostile servers against the built CLI (real processes, real files):
 * - a container published to the real Worker (Miniflare) whose boot.machine carries QEMU
 *   properties is refused by `boot NAME` and `boot NAME --dry-run` (E_METADATA_INVALID);
 * - ids, names and metadata holding ESC/OSC/BEL/CR/C1/bidi characters, from a catalog server
 *   (node:http) and from a container, are printed escaped by catalog, pull, cache ls and inspect,
 *   while --json keeps their exact values;
 * - a catalog of 200,000 entries is listed, not E_INTERNAL;
 * - a valid signature over another payload's hash is never "trusted" through `inspect`.
 */
import { createHash, generateKeyPairSync, sign } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { runCli } from "./helpers/cli.js";
import type { PyDict } from "../shared/pyjson.js";
import { HOSTILE_TEXT, hostileBundle, RAW_CONTROL } from "./helpers/hostile-containers.js";
import { startTestWorker, type TestWorker } from "./helpers/miniflare-worker.js";

const TOKEN = "hostile-test-token";
const dir = mkdtempSync(join(tmpdir(), "pixelrts-hostile-"));
const fakeBin = join(dir, "bin");
const qemuRan = join(dir, "qemu-ran");
const env: Record<string, string> = {
  ...(process.env as Record<string, string>),
  PATH: `${fakeBin}:${process.env.PATH}`,
  HOME: dir,
  PIXELRTS_CONFIG_DIR: join(dir, "config"),
  PIXELRTS_CACHE_DIR: join(dir, "cache"),
  PIXELRTS_TOKEN: TOKEN,
  // No test here is about retries.
  PIXELRTS_RETRIES: "0",
};
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}
function cli(...args: string[]): Promise<Run> {
  return runCli(args, { cwd: dir, env });
}

let worker: TestWorker;
let evil: Server;
let evilUrl: string;
/** The container the hostile catalog serves, and its metadata description. */
let servedPng: Uint8Array;
const BIG_ROWS = 200_000;

beforeAll(async () => {
  mkdirSync(fakeBin);
  // A QEMU that only leaves a mark: the boots below must never start it.
  writeFileSync(join(fakeBin, "qemu-system-x86_64"), `#!/bin/sh\necho ran > ${JSON.stringify(qemuRan)}\nexit 0\n`);
  chmodSync(join(fakeBin, "qemu-system-x86_64"), 0o755);

  servedPng = await hostileBundle((doc) => doc.set("description", HOSTILE_TEXT));
  const pngSha = sha(servedPng);
  const big = JSON.stringify({ entries: Array.from({ length: BIG_ROWS }, (_, i) => ({ id: `c${i}`, name: `n${i}`, size: i })) });
  evil = createServer((req, res) => {
    const path = (req.url ?? "").split("?")[0];
    if (path === "/api/v1/catalog") {
      const entries = [
        { id: HOSTILE_TEXT, name: `name-${HOSTILE_TEXT}`, size: servedPng.length, sha256: pngSha, url: `${evilUrl}/c/hostile.rts.png`, description: HOSTILE_TEXT },
        { id: "plain", name: "plain\nfake-row  cached,verified", size: 1 },
      ];
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ entries }));
    } else if (path === "/big/api/v1/catalog") {
      res.writeHead(200, { "content-type": "application/json" }).end(big);
    } else if (path === "/c/hostile.rts.png") {
      res.writeHead(200, { "content-type": "image/png", "content-length": servedPng.length, etag: `"${pngSha}"` }).end(servedPng);
    } else res.writeHead(404, { "content-type": "application/json" }).end("{}");
  });
  await new Promise<void>((r) => evil.listen(0, "127.0.0.1", r));
  evilUrl = `http://127.0.0.1:${(evil.address() as AddressInfo).port}`;
  worker = await startTestWorker({ PUBLISH_TOKEN: TOKEN });
  for (const [url, name] of [[worker.url, "edge"], [evilUrl, "evil"], [`${evilUrl}/big`, "big"]]) {
    const r = await cli("servers", "add", url!, "--name", name!);
    expect(r.code, r.stderr).toBe(0);
  }
}, 60_000);

// Each test its own cache (catalog copies included), so each stands alone and sees fresh catalogs.
beforeEach(() => {
  env.PIXELRTS_CACHE_DIR = mkdtempSync(join(dir, "cache-"));
});

afterAll(async () => {
  await worker?.dispose();
  await new Promise((r) => evil?.close(r));
  rmSync(dir, { recursive: true, force: true });
});

describe("a hostile container from a catalog (the real Worker)", () => {
  it("boot.machine \"q35,initrd=/etc/hostname\" is refused by boot NAME and boot NAME --dry-run, and QEMU never runs (regression)", async () => {
    writeFileSync(join(dir, "machine.rts.png"), await hostileBundle((_doc, boot) => boot.set("machine", "q35,initrd=/etc/hostname")));
    const pub = await cli("publish", "machine.rts.png", "--server", "edge", "--name", "hostile-machine", "--no-thumbnail");
    expect(pub.code, pub.stderr).toBe(0);
    const message = /^pixelrts: E_METADATA_INVALID: the container's boot\.machine must be a bare machine type .*, got "q35,initrd=\/etc\/hostname"\n$/;
    const dry = await cli("boot", "hostile-machine", "--server", "edge", "--dry-run", "--kvm", "off");
    expect(dry.code).toBe(3);
    expect(dry.stderr).toMatch(message);
    expect(dry.stdout).not.toContain("qemu-system");
    const real = await cli("boot", "hostile-machine", "--server", "edge", "--kvm", "off");
    expect(real.code).toBe(3);
    expect(real.stderr).toMatch(message);
    expect(existsSync(qemuRan)).toBe(false);
  });

  it("a numeric boot.cmdline from a catalog is E_METADATA_INVALID, not E_INTERNAL (regression)", async () => {
    writeFileSync(join(dir, "cmdline.rts.png"), await hostileBundle((_doc, boot) => boot.set("cmdline", 42)));
    expect((await cli("publish", "cmdline.rts.png", "--server", "edge", "--name", "hostile-cmdline", "--no-thumbnail")).code).toBe(0);
    const r = await cli("boot", "hostile-cmdline", "--server", "edge", "--dry-run", "--kvm", "off");
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toBe("pixelrts: E_METADATA_INVALID: the container's boot.cmdline must be a string, got a number\n");
  });
});

describe("hostile text is printed escaped; --json keeps it exact (regression)", () => {
  it("catalog: ids and names with ESC/OSC/CR/C1/bidi/newline cannot forge or rewrite rows", async () => {
    const r = await cli("catalog", "--server", "evil", "--source", "servers");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).not.toMatch(RAW_CONTROL);
    expect(r.stderr).not.toMatch(RAW_CONTROL);
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines).toHaveLength(3); // header + two entries: the newline in a name made no extra row
    expect(r.stdout).toContain("evil\\x1b]0;owned\\x07\\x1b[2J\\x0dcached,verified\\x9b31m\\u202egnp.\\x7f");
    expect(r.stdout).toContain("plain\\x0afake-row  cached,verified");
  });

  it("catalog --json keeps the exact strings", async () => {
    const r = await cli("catalog", "--server", "evil", "--source", "servers", "--json");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).not.toMatch(RAW_CONTROL);
    const view = JSON.parse(r.stdout) as { rows: { id: string; name: string }[] };
    expect(view.rows.map((x) => x.id)).toEqual([HOSTILE_TEXT, "plain"]);
    expect(view.rows[0]!.name).toBe(`name-${HOSTILE_TEXT}`);
  });

  it("pull, cache ls and inspect of what a hostile server sent", async () => {
    const pull = await cli("pull", HOSTILE_TEXT, "--server", "evil");
    expect(pull.code, pull.stderr).toBe(0);
    expect(pull.stdout + pull.stderr).not.toMatch(RAW_CONTROL);
    expect(pull.stdout).toContain(`evil\\x1b]0;owned\\x07`);
    const ls = await cli("cache", "ls");
    expect(ls.code, ls.stderr).toBe(0);
    expect(ls.stdout).not.toMatch(RAW_CONTROL);
    expect(ls.stdout.trimEnd().split("\n")).toHaveLength(3); // header, one item, summary
    expect(ls.stdout).toContain("evil\\x1b]0;owned\\x07");
    const lsJson = JSON.parse((await cli("cache", "ls", "--json")).stdout) as { entries: { sources: { id?: string }[]; path: string }[] };
    expect(lsJson.entries[0]!.sources.map((s) => s.id)).toContain(HOSTILE_TEXT);
    const info = await cli("inspect", lsJson.entries[0]!.path);
    expect(info.code, info.stderr).toBe(0);
    expect(info.stdout).not.toMatch(RAW_CONTROL);
    expect(info.stdout).toMatch(/^description +evil\\x1b\]0;owned\\x07/m);
    const infoJson = await cli("inspect", lsJson.entries[0]!.path, "--json");
    expect(infoJson.stdout).not.toMatch(RAW_CONTROL);
    expect(JSON.parse(infoJson.stdout).description).toBe(HOSTILE_TEXT);
  });

  it("boot --dry-run of that container: every printed line is free of control characters", async () => {
    const r = await cli("boot", HOSTILE_TEXT, "--server", "evil", "--dry-run", "--kvm", "off");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout + r.stderr).not.toMatch(RAW_CONTROL);
    expect(r.stdout).toMatch(/^qemu-system-x86_64 -machine q35 /);
  });
});

describe("large catalogs", () => {
  it(`lists ${BIG_ROWS} entries (regression: Maximum call stack size exceeded in the table)`, async () => {
    const r = await cli("catalog", "--server", "big", "--source", "servers");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines).toHaveLength(BIG_ROWS + 1);
    expect(lines[BIG_ROWS]).toMatch(/^c199999 +n199999 /);
  });
});

describe("signatures through inspect", () => {
  it("a valid, trusted signature over another payload's hash is reported invalid (exit 3), never trusted (regression)", async () => {
    const { publicKey, privateKey } = generateKeyPairSync("ed25519");
    const pub = (publicKey.export({ format: "der", type: "spki" }) as Buffer).subarray(-32).toString("hex");
    const otherHash = sha(new TextEncoder().encode("some other payload"));
    const value = sign(null, Buffer.from(otherHash, "hex"), privateKey).toString("hex");
    writeFileSync(
      join(dir, "signed.rts.png"),
      await hostileBundle((doc) => {
        doc.delete("data_hash");
        (doc.get("hashes") as PyDict).set("data", otherHash);
        doc.set("signature", new Map([["algorithm", "Ed25519"], ["public_key", pub], ["value", value]]));
      }),
    );
    env.PIXELRTS_PUBLIC_KEY = pub;
    try {
      const r = await cli("inspect", "signed.rts.png", "--json");
      const info = JSON.parse(r.stdout);
      expect(info.hash_status).toBe("unverified (no data_hash)");
      expect(info.signature).toBe("invalid");
      expect(info.signature_reason).toContain("it signs other bytes");
      expect(r.code).toBe(3);
      const human = await cli("inspect", "signed.rts.png");
      expect(human.stderr).toMatch(/^pixelrts: E_SIGNATURE_INVALID: the signature is over hashes.data/m);
      expect(human.code).toBe(3);
    } finally {
      delete env.PIXELRTS_PUBLIC_KEY;
    }
  });
});
