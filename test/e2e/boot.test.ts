/**
 * The whole path, for real: `pixelrts pack` a boot bundle of a real Linux kernel + initramfs,
 * `pixelrts publish` it to the Worker running under `wrangler dev` (local R2), `pixelrts boot`
 * it from an empty cache in QEMU (TCG) and see the guest's marker line. Then the same offline
 * (Worker stopped), then with the cached copy damaged (refused; fetched again once the Worker
 * is back).
 */
import { createHash } from "node:crypto";
import { chmodSync, closeSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runProcess } from "../helpers/cli.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, startWranglerDev, type WranglerDev } from "../../scripts/lib/wrangler-dev.mjs";
import { CLI, MARKER, requireOrExplain, testImage } from "./system.js";

const ready = requireOrExplain("e2e boot");
const work = mkdtempSync(join(tmpdir(), "pixelrts-e2e-"));
const TOKEN = "e2e-token";
// One config dir plays publisher (its signing keys) and boot host (which trusts only `release`):
// every boot here requires a signature from a trusted key.
const baseEnv = { ...process.env, PIXELRTS_CONFIG_DIR: join(work, "config"), PIXELRTS_TOKEN: TOKEN, PIXELRTS_RETRY_BASE_MS: "100", PIXELRTS_RETRIES: "1", PIXELRTS_SIGNATURES: "require" };
let worker: WranglerDev | undefined;
let port = 0;
const timings: Record<string, number> = {};

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs the CLI; `cache` names the test's own cache dir, so every test starts from what it needs. */
function pixelrts(cache: string, ...args: string[]): Promise<Run> {
  return runProcess(process.execPath, [CLI, ...args], { cwd: work, env: { ...baseEnv, PIXELRTS_CACHE_DIR: join(work, "cache", cache) } });
}

// `--append quiet`: the kernel's messages through an emulated UART cost ~2 s of each TCG boot
// (measured 5.4 s vs 3.4 s); the marker comes from init, which writes to the console either way.
const bootArgs = ["boot", "demo-linux", "--server", "edge", "--kvm", "off", "--display", "none", "--serial", "stdio", "--net", "none", "--timeout", "120", "--append", "quiet"];

let workerUp = false;
/** Starts the Worker (local R2 kept in `work`) unless it is running. */
async function startWorker(): Promise<void> {
  if (workerUp) return;
  worker = await startWranglerDev({ port, stateDir: join(work, "r2"), vars: { PUBLISH_TOKEN: TOKEN } });
  workerUp = true;
}

let kernelVersion = "";
let published: Promise<{ pack: Run; pub: Run }> | undefined;
/** Packs the test kernel and publishes it once per run; every test awaits it. */
function publishOnce(): Promise<{ pack: Run; pub: Run }> {
  published ??= (async () => {
    await startWorker();
    const img = testImage();
    kernelVersion = img.version;
    const pack = await pixelrts("publisher", "pack", "--kernel", img.kernel, "--initrd", img.initrd, "--cmdline", "console=ttyS0 panic=-1", "--memory", "256M", "--name", "demo-linux", "-o", "demo-linux.rts.png");
    if (pack.code !== 0) throw new Error(`pack failed: ${pack.stderr}`);
    const add = await pixelrts("publisher", "servers", "add", worker!.url, "--name", "edge");
    if (add.code !== 0) throw new Error(`servers add failed: ${add.stderr}`);
    for (const key of ["release", "mallory"]) {
      const gen = await pixelrts("publisher", "key", "generate", key, "--json");
      if (gen.code !== 0) throw new Error(`key generate failed: ${gen.stderr}`);
      if (key === "release") await pixelrts("publisher", "trust", "add", JSON.parse(gen.stdout).public_key, "--name", "release");
    }
    const pub = await pixelrts("publisher", "publish", "demo-linux.rts.png", "--server", "edge", "--sign", "release", "--json");
    // two more, one unsigned, one signed by a key nobody trusts: boot refuses both before QEMU,
    // so the initramfs stands in for the kernel (1 MB to pack, publish and pull instead of 14)
    for (const [name, sign] of [["unsigned-linux", []], ["mallory-linux", ["--sign", "mallory"]]] as const) {
      const p = await pixelrts("publisher", "pack", "--kernel", img.initrd, "--initrd", img.initrd, "--cmdline", `console=ttyS0 panic=-1 ${name}`, "--name", name, "-o", `${name}.rts.png`);
      if (p.code !== 0) throw new Error(`pack failed: ${p.stderr}`);
      const q = await pixelrts("publisher", "publish", `${name}.rts.png`, "--server", "edge", ...sign);
      if (q.code !== 0) throw new Error(`publish failed: ${q.stderr}`);
    }
    return { pack, pub };
  })();
  return published;
}

beforeAll(async () => {
  if (!ready) return;
  port = await freePort();
  await startWorker();
  await publishOnce();
}, 180_000);

afterAll(async () => {
  await worker?.stop();
  rmSync(work, { recursive: true, force: true });
  if (Object.keys(timings).length) console.log(`e2e boot timings (ms): ${JSON.stringify(timings)}`);
});

describe.runIf(ready)("a real Linux boots from the edge catalog", () => {
  it("packs and publishes a boot bundle of the test kernel", async () => {
    const { pack, pub } = await publishOnce();
    expect(pack.code, pack.stderr).toBe(0);
    expect(kernelVersion).toMatch(/^\d+\.\d+/);
    expect(pub.code, pub.stderr).toBe(0);
    expect(JSON.parse(pub.stdout)).toMatchObject({ event: "published", name: "demo-linux", thumbnail: true, signed: { key_name: "release" } });
    const cat = await pixelrts("publisher", "catalog", "--json");
    expect(cat.code, cat.stderr).toBe(0);
    expect(cat.stdout).toContain("demo-linux");
  }, 180_000);

  it("boots it from an empty cache: pulled, verified, unpacked, QEMU prints the marker", async () => {
    await publishOnce();
    await startWorker();
    const r = await pixelrts("cold", ...bootArgs);
    timings.cold_boot = Math.round(r.ms);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`${MARKER} kernel=${kernelVersion}`);
    // the boot line says which key vouched for what it boots
    expect(r.stderr).toMatch(/^booting demo-linux \(signed by release \([0-9a-f]{16}\) at \S+\) with qemu-system-x86_64/m);
  }, 180_000);

  it("refuses an unsigned container and one signed by a key it does not trust: QEMU never starts", async () => {
    await publishOnce();
    await startWorker();
    const unsigned = await pixelrts("refusals", "boot", "unsigned-linux", ...bootArgs.slice(2));
    expect(unsigned.code).toBe(3);
    expect(unsigned.stderr).toMatch(/^pixelrts: E_UNSIGNED: /m);
    const untrusted = await pixelrts("refusals", "boot", "mallory-linux", ...bootArgs.slice(2));
    expect(untrusted.code).toBe(3);
    expect(untrusted.stderr).toMatch(/^pixelrts: E_UNTRUSTED_KEY: .*pixelrts trust add ed25519:/m);
    for (const r of [unsigned, untrusted]) {
      expect(r.stdout).not.toContain(MARKER);
      expect(r.stderr).not.toMatch(/^booting /m);
    }
    expect(JSON.parse((await pixelrts("refusals", "cache", "ls", "--json")).stdout).entries).toEqual([]);
  }, 120_000);

  it("refuses a damaged cached copy offline, and fetches it again when it can", async () => {
    await publishOnce();
    await startWorker();
    expect((await pixelrts("damaged", "pull", "demo-linux", "--server", "edge")).code).toBe(0);
    const blobs = join(work, "cache/damaged/v1/blobs/sha256");
    const [dir] = readdirSync(blobs);
    const [name] = readdirSync(join(blobs, dir!));
    const blob = join(blobs, dir!, name!);
    const blobSha = name!; // blobs/sha256/ab/<hex>
    chmodSync(blob, 0o644);
    const fd = openSync(blob, "r+");
    writeSync(fd, Buffer.from([0x00, 0xff, 0x00]), 0, 3, Math.floor(statSync(blob).size / 2));
    closeSync(fd);

    const refused = await pixelrts("damaged", ...bootArgs, "--offline");
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/damaged/);
    expect(refused.stdout).not.toContain(MARKER);

    // QEMU itself was proven by the boots above: here what matters is that the copy is fetched
    // again and verified, so a dry run (everything but starting QEMU) is enough.
    const r = await pixelrts("damaged", ...bootArgs, "--dry-run", "--json");
    timings.repull_dry_run = Math.round(r.ms);
    expect(r.code, r.stderr).toBe(0);
    const events = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as { event: string; sha256?: string });
    expect(events.find((e) => e.event === "verified")?.sha256).toBe(blobSha);
    expect(events.at(-1)).toMatchObject({ event: "dry-run", binary: "qemu-system-x86_64" });
    expect(createHash("sha256").update(readFileSync(blob)).digest("hex")).toBe(blobSha);
  }, 240_000);
  it("boots again with the Worker stopped, from the cache", async () => {
    await publishOnce();
    await startWorker();
    expect((await pixelrts("offline", "pull", "demo-linux", "--server", "edge")).code).toBe(0);
    // Last in the file, so nothing after it needs the Worker (a later test would start it again).
    await worker!.stop();
    workerUp = false;
    {
      const health = await fetch(`${worker!.url}/api/v1/health`).then(() => "up", () => "down");
      expect(health).toBe("down");
      const r = await pixelrts("offline", ...bootArgs);
      timings.offline_boot = Math.round(r.ms);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain(MARKER);
      const dry = await pixelrts("offline", ...bootArgs, "--dry-run");
      timings.cached_dry_run = Math.round(dry.ms);
      expect(dry.stdout).toMatch(/^qemu-system-x86_64 .*-kernel .*\/unpacked\/[0-9a-f]{64}\/kernel /);
    }
  }, 180_000);
});
