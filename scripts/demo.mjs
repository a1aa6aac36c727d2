#!/usr/bin/env node
// `npm run demo`: the main job on embedded defaults. Starts the Worker (wrangler dev, local R2
// under .cache/demo/), publishes the demo containers if missing (among them demo-linux, a real
// Linux kernel + busybox initramfs), lists the catalog with the agent and boots demo-linux in
// QEMU so you watch it come up in this terminal, then shuts everything down.
// The agent's config and cache for the demo live in .cache/demo/ too: nothing of yours is touched,
// and nothing is installed system-wide (missing QEMU → the exact install command is printed).
import { spawn } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { execFileSync } from "node:child_process";
import { ROOT, freePort, startWranglerDev } from "./lib/wrangler-dev.mjs";
import { seed } from "./seed.mjs";

const demoDir = join(ROOT, ".cache/demo");
mkdirSync(demoDir, { recursive: true });
const TOKEN = "demo-token";
const CLI = join(ROOT, "agent/bin/pixelrts.mjs");
const env = { ...process.env, PIXELRTS_CONFIG_DIR: join(demoDir, "config"), PIXELRTS_CACHE_DIR: join(demoDir, "cache"), PIXELRTS_TOKEN: TOKEN };
const say = (s) => console.log(`\x1b[1m==> ${s}\x1b[0m`);

function pixelrts(args, { allowFail = false } = {}) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env, stdio: "inherit" });
    child.on("exit", (code) => {
      if (code !== 0 && !allowFail) console.error(`(pixelrts ${args[0]} exited ${code})`);
      resolve(code ?? 1);
    });
  });
}

function hasQemu() {
  return (process.env.PATH ?? "").split(":").some((d) => d && existsSync(join(d, "qemu-system-x86_64")));
}

if (!existsSync(join(ROOT, "dist/pixelrts.mjs"))) execFileSync("npm", ["run", "--silent", "build"], { cwd: ROOT, stdio: "inherit" });

say("starting the PixelRTS Edge Worker (wrangler dev, local R2 in .cache/demo/r2)");
const port = await freePort();
const worker = await startWranglerDev({ port, stateDir: join(demoDir, "r2"), vars: { PUBLISH_TOKEN: TOKEN } });
let status = 1;
const shutdown = async () => {
  await worker.stop();
};
process.on("SIGINT", () => void shutdown().then(() => process.exit(130)));
try {
  console.log(`    ${worker.url}  (catalog: ${worker.url}/api/v1/catalog)`);
  say("publishing the demo containers (first run only)");
  await seed({ url: worker.url, token: TOKEN, log: (s) => console.log(`    ${s}`) });
  await pixelrts(["servers", "rm", "demo"], { allowFail: true }).catch(() => {});
  await pixelrts(["servers", "add", worker.url, "--name", "demo", "--color", "#4f8cff"]);
  say("the catalog, as the agent sees it");
  await pixelrts(["catalog", "--server", "demo"]);
  if (!hasQemu()) {
    say("QEMU is not installed, so demo-linux cannot boot here. Install it with:");
    console.log("    sudo apt-get install -y --no-install-recommends qemu-system-x86     (Debian/Ubuntu)");
    console.log("    sudo dnf install qemu-system-x86-core                                (Fedora)");
    console.log("    brew install qemu                                                    (macOS)");
  } else {
    say("booting demo-linux: pulled through the Worker, verified, unpacked, run in QEMU (TCG)");
    status = await pixelrts(["boot", "demo-linux", "--server", "demo", "--kvm", "off", "--net", "none", "--timeout", "180"]);
    say(status === 0 ? "demo-linux booted and powered off: look for PIXELRTS-BOOT-OK above" : `boot ended with status ${status}`);
  }
} catch (e) {
  console.error(String(e?.message ?? e));
} finally {
  say("stopping the Worker");
  await shutdown();
}
process.exit(status);
