#!/usr/bin/env node
// Seeds a running PixelRTS Edge Worker with demo containers made by our own `pixelrts pack` and
// uploaded with `pixelrts publish` (so R2 stores and verifies their SHA-256, with thumbnails):
// three small filler containers (kernel segment, boot bundle, disk) and, where the test kernel
// can be fetched (Debian/Ubuntu: scripts/build-test-image.sh), `demo-linux`, a bootable bundle.
//   node scripts/seed.mjs [URL] [TOKEN]      defaults: http://127.0.0.1:8787 dev-token
// Only publishes what the catalog lacks (--force republishes everything).
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const CLI = join(root, "agent/bin/pixelrts.mjs");

/** Deterministic filler bytes (so demo containers and their hashes are stable). */
function bytes(n, seed) {
  const out = Buffer.alloc(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

const DEMOS = [
  {
    name: "demo-kernel",
    pack: (d) => [join(d, "vmlinuz"), "--name", "vmlinuz", "--type", "kernel", "--version", "6.1-demo", "--description", "Demo kernel segment (filler bytes, not bootable)"],
    files: { vmlinuz: bytes(48 * 1024, 1) },
    publish: ["--arch", "x86_64", "--distro", "demo", "--kernel-version", "6.1-demo"],
  },
  {
    name: "demo-bundle",
    pack: (d) => ["--kernel", join(d, "kernel"), "--initrd", join(d, "initrd"), "--arch", "x86_64", "--memory", "256M", "--name", "demo-bundle", "--description", "Demo boot bundle: kernel + initrd (filler bytes)"],
    files: { kernel: bytes(40 * 1024, 2), initrd: bytes(24 * 1024, 3) },
    publish: ["--distro", "demo"],
  },
  {
    name: "demo-disk",
    pack: (d) => [join(d, "disk.img"), "--name", "disk", "--type", "os", "--description", "Demo raw disk image (filler bytes)"],
    files: { "disk.img": bytes(200 * 1024, 4) },
    publish: ["--arch", "aarch64", "--distro", "demo"],
  },
];

/** The bootable demo: Debian's cloud kernel + a busybox initramfs that prints a marker. */
function linuxDemo(log) {
  const build = spawnSync("bash", [join(root, "scripts/build-test-image.sh")], { encoding: "utf8" });
  if (build.status !== 0) {
    log(`seed: skipping demo-linux (cannot fetch the test kernel: ${(build.stderr || "").trim().split("\n").pop()})`);
    return undefined;
  }
  const img = join(root, ".cache/test-image");
  const version = spawnSync("cat", [join(img, "kernel-version")], { encoding: "utf8" }).stdout.trim();
  return {
    name: "demo-linux",
    pack: () => ["--kernel", join(img, "vmlinuz"), "--initrd", join(img, "initramfs.cpio.gz"), "--cmdline", "console=ttyS0 panic=-1", "--memory", "256M", "--name", "demo-linux", "--version", version, "--description", "Debian cloud kernel + busybox initramfs: prints a marker and powers off"],
    files: {},
    publish: ["--arch", "x86_64", "--distro", "debian", "--kernel-version", version],
  };
}

/**
 * `sign`: { configDir, key } publishes with `--sign key` (the key lives in that config dir), and
 * also republishes demos that are there but unsigned (the bytes are deduplicated: only the
 * signature is new).
 */
export async function seed({ url = "http://127.0.0.1:8787", token = "dev-token", force = false, linux = true, sign, log = console.log } = {}) {
  const catalog = await (await fetch(`${url}/api/v1/catalog?thumbnails=0`)).json();
  const have = new Set(catalog.entries.filter((e) => !sign || (e.signatures ?? []).length > 0).map((e) => e.name));
  if (!existsSync(join(root, "dist/pixelrts.mjs"))) execFileSync("npm", ["run", "--silent", "build"], { cwd: root, stdio: "inherit" });
  const wanted = DEMOS.filter((d) => force || !have.has(d.name));
  if (linux && (force || !have.has("demo-linux"))) {
    const demo = linuxDemo(log);
    if (demo) wanted.push(demo);
  }
  if (!wanted.length) {
    log(`seed: catalog already has the demo containers (${[...have].join(", ")})`);
    return [];
  }
  const dir = await mkdtemp(join(tmpdir(), "pixelrts-seed-"));
  const env = { ...process.env, PIXELRTS_TOKEN: token, PIXELRTS_CONFIG_DIR: join(dir, "config"), PIXELRTS_CACHE_DIR: join(dir, "cache") };
  const published = [];
  try {
    for (const demo of wanted) {
      for (const [file, data] of Object.entries(demo.files)) await writeFile(join(dir, file), data);
      const out = join(dir, `${demo.name}.rts.png`);
      execFileSync(process.execPath, [CLI, "pack", ...demo.pack(dir), "-o", out], { env, stdio: ["ignore", "ignore", "inherit"] });
      const signArgs = sign ? ["--sign", sign.key] : [];
      const publishEnv = sign ? { ...env, PIXELRTS_CONFIG_DIR: sign.configDir } : env;
      const r = JSON.parse(execFileSync(process.execPath, [CLI, "publish", out, "--server", url, "--name", demo.name, "--json", ...signArgs, ...demo.publish], { env: publishEnv, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] }));
      published.push({ name: demo.name, size: r.size, sha256: r.sha256 });
      log(`seed: published ${demo.name} (${r.size} bytes, file sha256 ${r.sha256.slice(0, 12)}…${sign ? `, signed by ${sign.key}` : ""})`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return published;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2).filter((a) => a !== "--force");
  await seed({ url: (args[0] ?? "http://127.0.0.1:8787").replace(/\/+$/, ""), token: args[1] ?? "dev-token", force: process.argv.includes("--force") });
}
