#!/usr/bin/env node
// `npm run demo`: the main job on embedded defaults. Checks Node and QEMU first (installing QEMU
// through scripts/setup-system.sh when it may: as root, or with passwordless sudo), starts the
// Worker (wrangler dev, local R2 under .cache/demo/), publishes the demo containers signed with a
// demo key (among them demo-linux, a real Linux kernel + busybox initramfs), lists the catalog,
// then boots demo-linux in QEMU under `signatures: require` with that key trusted, so you watch
// it come up in this terminal. Everything stops afterwards.
// The agent's config, keys and cache for the demo live in .cache/demo/ too: nothing of yours is
// touched. Exit status: the boot's, or 2 when something must be installed first.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { ROOT, freePort, startWranglerDev } from "./lib/wrangler-dev.mjs";
import { seed } from "./seed.mjs";

const demoDir = join(ROOT, ".cache/demo");
const TOKEN = "demo-token";
const KEY = "demo-publisher";
const CLI = join(ROOT, "agent/bin/pixelrts.mjs");
const configDir = join(demoDir, "config");
const env = { ...process.env, PIXELRTS_CONFIG_DIR: configDir, PIXELRTS_CACHE_DIR: join(demoDir, "cache"), PIXELRTS_TOKEN: TOKEN };
const bold = process.stdout.isTTY ? (s) => `\x1b[1m${s}\x1b[0m` : (s) => s;
const say = (s) => console.log(bold(`==> ${s}`));

/** Runs the CLI with the terminal attached; resolves to its exit status. */
function pixelrts(args, extraEnv = {}) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...env, ...extraEnv }, stdio: "inherit" });
    child.on("exit", (code) => resolve(code ?? 1));
  });
}

/** Runs the CLI quietly and returns its JSON output (or undefined when it failed). */
function pixelrtsJson(args) {
  const r = spawnSync(process.execPath, [CLI, ...args, "--json"], { env, encoding: "utf8" });
  try {
    return r.status === 0 ? JSON.parse(r.stdout) : undefined;
  } catch {
    return undefined;
  }
}

const onPath = (bin) => (process.env.PATH ?? "").split(":").some((d) => d && existsSync(join(d, bin)));

function checkNode() {
  const [major, minor] = process.versions.node.split(".").map(Number);
  if (major > 20 || (major === 20 && minor >= 19)) return;
  console.error(`The demo needs Node.js 20.19 or newer; this is ${process.versions.node}.`);
  console.error("On Debian 12 (whose apt has Node 18): install Node 20 from NodeSource (https://github.com/nodesource/distributions) or with nvm, then run npm ci again.");
  process.exit(2);
}

/** QEMU before anything is fetched: installed for you when this may install packages, else the one command to run. */
function checkQemu() {
  if (onPath("qemu-system-x86_64")) return;
  if (!onPath("apt-get")) return; // no Debian/Ubuntu: the Linux demo cannot be built here anyway (said below)
  const root = process.getuid?.() === 0;
  const sudo = !root && spawnSync("sudo", ["-n", "true"], { stdio: "ignore" }).status === 0;
  if (root || sudo) {
    say(`QEMU is not installed: installing it with scripts/setup-system.sh${sudo ? " (sudo)" : ""}`);
    const r = spawnSync(sudo ? "sudo" : "bash", sudo ? ["-n", "bash", join(ROOT, "scripts/setup-system.sh")] : [join(ROOT, "scripts/setup-system.sh")], { stdio: "inherit" });
    if (r.status === 0 && onPath("qemu-system-x86_64")) return;
  }
  console.error("The demo boots Linux in QEMU, which is not installed. Install it (about 85 MB), then run npm run demo again:");
  console.error("    sudo bash scripts/setup-system.sh        (or: sudo apt-get install -y --no-install-recommends qemu-system-x86)");
  process.exit(2);
}

checkNode();
checkQemu();
mkdirSync(demoDir, { recursive: true });
if (!existsSync(join(ROOT, "dist/pixelrts.mjs"))) execFileSync("npm", ["run", "--silent", "build"], { cwd: ROOT, stdio: "inherit" });

say("starting the PixelRTS Edge Worker (wrangler dev, local R2 in .cache/demo/r2)");
const port = await freePort();
const worker = await startWranglerDev({ port, stateDir: join(demoDir, "r2"), vars: { PUBLISH_TOKEN: TOKEN } });
let status = 1;
process.on("SIGINT", () => void worker.stop().then(() => process.exit(130)));
try {
  console.log(`    ${worker.url}  (open it in a browser; catalog JSON: ${worker.url}/api/v1/catalog)`);

  // A publisher key for the demo, trusted by this (demo) boot host.
  const keys = pixelrtsJson(["key", "ls"]) ?? [];
  let key = keys.find((k) => k.name === KEY);
  if (!key) {
    say(`making a signing key for the demo publisher (${KEY})`);
    key = pixelrtsJson(["key", "generate", KEY]);
  }
  const trusted = pixelrtsJson(["trust", "ls"]) ?? [];
  if (!trusted.some((t) => t.keyid === key.keyid)) pixelrtsJson(["trust", "add", key.public_key, "--name", KEY]);

  say("publishing the demo containers, signed (first run only)");
  const linux = onPath("apt-get");
  await seed({ url: worker.url, token: TOKEN, linux, sign: { configDir, key: KEY }, log: (s) => console.log(`    ${s}`) });

  const servers = pixelrtsJson(["servers", "ls"]) ?? [];
  if (servers.some((s) => s.name === "demo")) pixelrtsJson(["servers", "rm", "demo"]);
  pixelrtsJson(["servers", "add", worker.url, "--name", "demo", "--color", "#4f8cff", "--signatures", "require"]);
  say("the catalog, as the agent sees it");
  await pixelrts(["catalog", "--server", "demo"]);

  if (!linux) {
    say("this system has no apt-get, so the Linux demo (Debian's kernel) cannot be built here");
    console.log("    The other demo containers are in the catalog above: try `pixelrts inspect demo-bundle` or `pixelrts pull demo-disk`.");
    status = 0;
  } else {
    say("booting demo-linux: resolved by name, signature checked (signatures: require), pulled, verified, unpacked, run in QEMU (TCG)");
    status = await pixelrts(["boot", "demo-linux", "--server", "demo", "--kvm", "off", "--net", "none", "--timeout", "180"]);
    say(status === 0 ? "demo-linux booted and powered off: look for PIXELRTS-BOOT-OK above" : `the boot ended with status ${status}`);
  }
} catch (e) {
  console.error(String(e?.message ?? e));
} finally {
  say("stopping the Worker");
  await worker.stop();
}
if (status === 0) {
  console.log(`
${bold("Next steps")}
  npm start                           the Worker alone on http://127.0.0.1:8787 (open it in a browser)
  npm link                            install the pixelrts command (or: npm install -g .)
  pixelrts servers add http://127.0.0.1:8787 --name local
  pixelrts catalog                    what the servers list, and what is cached
  pixelrts boot demo-linux --kvm off  boot it yourself (pixelrts help boot for every flag)
  pixelrts key generate me            sign your own containers: see docs/TRUST.md
`);
}
process.exit(status);
