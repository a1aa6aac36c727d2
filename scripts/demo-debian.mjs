#!/usr/bin/env node
// `npm run demo:debian`: a real Debian system from the edge. Builds (once; cached in
// .cache/debian-image) a minimal Debian disk with mmdebstrap from this machine's apt sources
// (scripts/build-debian-image.sh, needs root), packs kernel + initramfs + disk as a boot bundle
// (over 256 MiB of payload: a 16384x16384 container), publishes it to the Worker under
// `wrangler dev` (local R2 in .cache/demo-debian/), and boots it with `pixelrts boot` under TCG:
// systemd reaches multi-user.target, a unit prints PIXELRTS-DEBIAN-OK (with multi_user=active) and powers off.
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, freePort, startWranglerDev } from "./lib/wrangler-dev.mjs";

const dir = join(ROOT, ".cache/demo-debian");
const image = join(ROOT, ".cache/debian-image");
mkdirSync(dir, { recursive: true });
const TOKEN = "demo-token";
const CLI = join(ROOT, "agent/bin/pixelrts.mjs");
const env = { ...process.env, PIXELRTS_CONFIG_DIR: join(dir, "config"), PIXELRTS_CACHE_DIR: join(dir, "cache"), PIXELRTS_TOKEN: TOKEN };
const say = (s) => console.log(`\x1b[1m==> ${s}\x1b[0m`);
const pixelrts = (args, allowFail = false) =>
  new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env, stdio: "inherit" });
    child.on("exit", (code) => {
      if (code !== 0 && !allowFail) console.error(`(pixelrts ${args[0]} exited ${code})`);
      resolve(code ?? 1);
    });
  });

if (!existsSync(join(ROOT, "dist/pixelrts.mjs"))) execFileSync("npm", ["run", "--silent", "build"], { cwd: ROOT, stdio: "inherit" });
say("building the Debian image (mmdebstrap; cached in .cache/debian-image)");
execFileSync("bash", [join(ROOT, "scripts/build-debian-image.sh")], { stdio: "inherit", env: { ...process.env, PIXELRTS_DEBIAN_DIR: image, CI: "" } });
say("starting the Worker (wrangler dev, local R2 in .cache/demo-debian/r2)");
const worker = await startWranglerDev({ port: await freePort(), stateDir: join(dir, "r2"), vars: { PUBLISH_TOKEN: TOKEN } });
let status = 1;
try {
  const cmdline = readFileSync(join(image, "cmdline"), "utf8").trim();
  say("packing kernel + initramfs + disk into a boot bundle");
  if ((await pixelrts(["pack", "--kernel", join(image, "vmlinuz"), "--initrd", join(image, "initrd.img"), "--disk", join(image, "disk.img"), "--cmdline", cmdline, "--memory", "1G", "--name", "debian", "-o", join(dir, "debian.rts.png")])) !== 0) throw new Error("pack failed");
  await pixelrts(["servers", "rm", "demo-debian"], true);
  await pixelrts(["servers", "add", worker.url, "--name", "demo-debian"]);
  say("publishing it (multipart upload)");
  if ((await pixelrts(["publish", join(dir, "debian.rts.png"), "--server", "demo-debian", "--name", "debian"])) !== 0) throw new Error("publish failed");
  say("booting it from the edge: pulled, verified, unpacked, run in QEMU (TCG)");
  status = await pixelrts(["boot", "debian", "--server", "demo-debian", "--kvm", "off", "--net", "none", "--display", "none", "--serial", "stdio", "--timeout", "300"]);
  say(status === 0 ? "Debian booted and powered off: look for 'PIXELRTS-DEBIAN-OK … multi_user=active' above" : `boot ended with status ${status}`);
} catch (e) {
  console.error(String(e?.message ?? e));
} finally {
  say("stopping the Worker");
  await worker.stop();
}
process.exit(status);
