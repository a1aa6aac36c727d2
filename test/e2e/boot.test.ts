/**
 * The whole path, for real: `pixelrts pack` a boot bundle of a real Linux kernel + initramfs,
 * `pixelrts publish` it to the Worker running under `wrangler dev` (local R2), `pixelrts boot`
 * it from an empty cache in QEMU (TCG) and see the guest's marker line. Then the same offline
 * (Worker stopped), then with the cached copy damaged (refused; fetched again once the Worker
 * is back).
 */
import { spawn } from "node:child_process";
import { chmodSync, mkdtempSync, openSync, readdirSync, rmSync, writeSync, closeSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, startWranglerDev, type WranglerDev } from "../../scripts/lib/wrangler-dev.mjs";
import { CLI, MARKER, requireOrExplain, testImage } from "./system.js";

const ready = requireOrExplain("e2e boot");
const work = mkdtempSync(join(tmpdir(), "pixelrts-e2e-"));
const TOKEN = "e2e-token";
const env = { ...process.env, PIXELRTS_CACHE_DIR: join(work, "cache"), PIXELRTS_CONFIG_DIR: join(work, "config"), PIXELRTS_TOKEN: TOKEN, PIXELRTS_RETRY_BASE_MS: "100", PIXELRTS_RETRIES: "1" };
let worker: WranglerDev | undefined;
let port = 0;
const timings: Record<string, number> = {};

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

function pixelrts(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [CLI, ...args], { cwd: work, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c) => (stdout += c));
    child.stderr.on("data", (c) => (stderr += c));
    child.on("exit", (code) => resolve({ code, stdout, stderr, ms: performance.now() - t0 }));
  });
}

const bootArgs = ["boot", "demo-linux", "--server", "edge", "--kvm", "off", "--display", "none", "--serial", "stdio", "--net", "none", "--timeout", "120"];

async function startWorker(): Promise<void> {
  worker = await startWranglerDev({ port, stateDir: join(work, "r2"), vars: { PUBLISH_TOKEN: TOKEN } });
}

beforeAll(async () => {
  if (!ready) return;
  port = await freePort();
  await startWorker();
}, 120_000);

afterAll(async () => {
  await worker?.stop();
  rmSync(work, { recursive: true, force: true });
  if (Object.keys(timings).length) console.log(`e2e boot timings (ms): ${JSON.stringify(timings)}`);
});

describe.runIf(ready)("a real Linux boots from the edge catalog", () => {
  let kernelVersion = "";

  it("packs and publishes a boot bundle of the test kernel", async () => {
    const img = testImage();
    kernelVersion = img.version;
    expect(kernelVersion).toMatch(/^\d+\.\d+/);
    const pack = await pixelrts("pack", "--kernel", img.kernel, "--initrd", img.initrd, "--cmdline", "console=ttyS0 panic=-1", "--memory", "256M", "--name", "demo-linux", "-o", "demo-linux.rts.png");
    expect(pack.code, pack.stderr).toBe(0);
    expect((await pixelrts("servers", "add", worker!.url, "--name", "edge")).code).toBe(0);
    const pub = await pixelrts("publish", "demo-linux.rts.png", "--server", "edge", "--json");
    expect(pub.code, pub.stderr).toBe(0);
    expect(JSON.parse(pub.stdout)).toMatchObject({ event: "published", name: "demo-linux", thumbnail: true });
    const cat = await pixelrts("catalog", "--json");
    expect(cat.code, cat.stderr).toBe(0);
    expect(cat.stdout).toContain("demo-linux");
  }, 180_000);

  it("boots it from an empty cache: pulled, verified, unpacked, QEMU prints the marker", async () => {
    const r = await pixelrts(...bootArgs);
    timings.cold_boot = Math.round(r.ms);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`${MARKER} kernel=${kernelVersion}`);
  }, 180_000);

  it("boots again with the Worker stopped, from the cache", async () => {
    await worker!.stop();
    const health = await fetch(`${worker!.url}/api/v1/health`).then(() => "up", () => "down");
    expect(health).toBe("down");
    const r = await pixelrts(...bootArgs);
    timings.offline_boot = Math.round(r.ms);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(MARKER);
    const dry = await pixelrts(...bootArgs, "--dry-run");
    timings.cached_dry_run = Math.round(dry.ms);
    expect(dry.stdout).toMatch(/^qemu-system-x86_64 .*-kernel .*\/unpacked\/[0-9a-f]{64}\/kernel /);
  }, 180_000);

  it("refuses a damaged cached copy, then fetches it again once the Worker is back", async () => {
    const blobs = join(work, "cache/v1/blobs/sha256");
    const [dir] = readdirSync(blobs);
    const [name] = readdirSync(join(blobs, dir!));
    const blob = join(blobs, dir!, name!);
    chmodSync(blob, 0o644);
    const fd = openSync(blob, "r+");
    writeSync(fd, Buffer.from([0x00, 0xff, 0x00]), 0, 3, Math.floor(statSync(blob).size / 2));
    closeSync(fd);

    const refused = await pixelrts(...bootArgs);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/damaged/);
    expect(refused.stdout).not.toContain(MARKER);

    await startWorker();
    const r = await pixelrts(...bootArgs);
    timings.reboot_after_repull = Math.round(r.ms);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(MARKER);
  }, 240_000);
});
