/**
 * A real Debian system from the edge: scripts/build-debian-image.sh builds a minimal Debian disk
 * with mmdebstrap (systemd, root on a virtio disk, the cloud kernel and its initramfs; cached in
 * .cache/debian-image between local runs, built fresh in CI), `pixelrts pack` makes it a boot
 * bundle of over 256 MiB of payload (a 16384x16384 container), `pixelrts publish` sends it to the
 * Worker under `wrangler dev` (multipart), and `pixelrts boot` pulls, verifies, unpacks and boots
 * it in QEMU (TCG): systemd reaches multi-user.target, then a unit prints PIXELRTS-DEBIAN-OK on
 * the serial console and powers the machine off.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runProcess } from "../helpers/cli.js";
import { afterAll, describe, expect, it } from "vitest";
import { freePort, startWranglerDev, type WranglerDev } from "../../scripts/lib/wrangler-dev.mjs";
import { CLI, requireOrExplain, ROOT } from "./system.js";

const hasMmdebstrap = spawnSync("sh", ["-c", "command -v mmdebstrap"]).status === 0;
if (!hasMmdebstrap && process.env.CI) throw new Error("mmdebstrap is missing in CI: scripts/setup-system.sh must install it");
const isRoot = process.getuid?.() === 0;
const ready = requireOrExplain("e2e debian") && hasMmdebstrap && isRoot;
if (!ready && !process.env.CI) console.warn("e2e debian: NOT RUN here: needs root, QEMU and mmdebstrap (bash scripts/setup-system.sh)");
const work = mkdtempSync(join(tmpdir(), "pixelrts-debian-"));
const TOKEN = "debian-token";
const env = { ...process.env, PIXELRTS_CONFIG_DIR: join(work, "config"), PIXELRTS_CACHE_DIR: join(work, "cache"), PIXELRTS_TOKEN: TOKEN };
let worker: WranglerDev | undefined;
afterAll(async () => {
  await worker?.stop();
  rmSync(work, { recursive: true, force: true });
});

/** The CLI, to its end (`close`: all of its output read). */
const pixelrts = (...args: string[]) => runProcess(process.execPath, [CLI, ...args], { cwd: work, env });

describe.runIf(ready)("a real Debian system, published to the Worker and booted from it", () => {
  it("reaches multi-user.target and prints its marker", async () => {
    const t: Record<string, number> = {};
    let t0 = performance.now();
    const image = join(ROOT, ".cache/debian-image");
    execFileSync("bash", [join(ROOT, "scripts/build-debian-image.sh")], { stdio: ["ignore", "ignore", "inherit"], env: { ...process.env, PIXELRTS_DEBIAN_DIR: image } });
    t.image = performance.now() - t0;
    const cmdline = readFileSync(join(image, "cmdline"), "utf8").trim();
    worker = await startWranglerDev({ port: await freePort(), stateDir: join(work, "r2"), vars: { PUBLISH_TOKEN: TOKEN } });
    const pack = await pixelrts("pack", "--kernel", join(image, "vmlinuz"), "--initrd", join(image, "initrd.img"), "--disk", join(image, "disk.img"), "--cmdline", cmdline, "--memory", "1G", "--name", "debian", "-o", "debian.rts.png", "--json");
    expect(pack.stderr).toBe("");
    const packed = JSON.parse(pack.stdout);
    expect(packed.payload_size).toBeGreaterThan(256 * 1024 * 1024);
    expect(packed.grid).toBe(16384);
    t.pack = pack.ms;
    expect((await pixelrts("servers", "add", worker.url, "--name", "edge")).code).toBe(0);
    const pub = await pixelrts("publish", "debian.rts.png", "--server", "edge", "--name", "debian", "--json");
    expect(pub.stderr).toBe("");
    expect(JSON.parse(pub.stdout)).toMatchObject({ name: "debian", multipart: true });
    t.publish = pub.ms;
    t0 = performance.now();
    const boot = await pixelrts("boot", "debian", "--server", "edge", "--kvm", "off", "--net", "none", "--display", "none", "--serial", "stdio", "--timeout", "300");
    t.boot = performance.now() - t0;
    const serial = boot.stdout.replace(/\x1b\[[0-9;]*[A-Za-z]/g, "");
    // the marker unit asks systemd itself (the console's "Reached target" status line may be cut
    // short by the poweroff it starts)
    expect(serial).toMatch(/PIXELRTS-DEBIAN-OK kernel=\S+-cloud-amd64 multi_user=active /);
    expect(boot.code).toBe(0);
    console.log(`e2e debian: image ${(t.image! / 1000).toFixed(1)} s, pack ${(t.pack! / 1000).toFixed(1)} s (${statSync(join(work, "debian.rts.png")).size} bytes), publish ${(t.publish! / 1000).toFixed(1)} s, boot to marker ${(t.boot! / 1000).toFixed(1)} s`);
  }, 900_000);
});
