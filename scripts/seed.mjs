#!/usr/bin/env node
// Seeds a running PixelRTS Edge Worker with a few demo containers made by our own
// `pixelrts pack`, published through the Worker (so R2 stores and verifies their SHA-256).
//   node scripts/seed.mjs [URL] [TOKEN]      defaults: http://127.0.0.1:8787 dev-token
// Exits 0 without changes when the catalog already has entries (use --force to republish).
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));

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
    args: (d) => [join(d, "vmlinuz"), "--name", "vmlinuz", "--type", "kernel", "--version", "6.1-demo", "--description", "Demo kernel segment (filler bytes, not bootable)"],
    files: { vmlinuz: bytes(48 * 1024, 1) },
    headers: { "x-pixelrts-arch": "x86_64", "x-pixelrts-distro": "demo", "x-pixelrts-kernel-version": "6.1-demo" },
  },
  {
    name: "demo-bundle",
    args: (d) => ["--kernel", join(d, "kernel"), "--initrd", join(d, "initrd"), "--arch", "x86_64", "--memory", "256M", "--name", "demo-bundle", "--description", "Demo boot bundle: kernel + initrd (filler bytes)"],
    files: { kernel: bytes(40 * 1024, 2), initrd: bytes(24 * 1024, 3) },
    headers: { "x-pixelrts-distro": "demo" },
  },
  {
    name: "demo-disk",
    args: (d) => [join(d, "disk.img"), "--name", "disk", "--type", "os", "--description", "Demo raw disk image (filler bytes)"],
    files: { "disk.img": bytes(200 * 1024, 4) },
    headers: { "x-pixelrts-arch": "aarch64", "x-pixelrts-distro": "demo" },
  },
];

export async function seed({ url = "http://127.0.0.1:8787", token = "dev-token", force = false, log = console.log } = {}) {
  const catalog = await (await fetch(`${url}/api/v1/catalog?thumbnails=0`)).json();
  if (catalog.entries.length && !force) {
    log(`seed: catalog already has ${catalog.entries.length} entries, nothing to do`);
    return [];
  }
  if (!existsSync(join(root, "dist/pixelrts.mjs"))) execFileSync("npm", ["run", "--silent", "build"], { cwd: root, stdio: "inherit" });
  const dir = await mkdtemp(join(tmpdir(), "pixelrts-seed-"));
  const published = [];
  try {
    for (const demo of DEMOS) {
      for (const [file, data] of Object.entries(demo.files)) await writeFile(join(dir, file), data);
      const out = join(dir, `${demo.name}.rts.png`);
      execFileSync(process.execPath, [join(root, "agent/bin/pixelrts.mjs"), "pack", ...demo.args(dir), "-o", out], { cwd: root, stdio: ["ignore", "ignore", "inherit"] });
      const png = await readFile(out);
      const sha256 = createHash("sha256").update(png).digest("hex");
      const auth = { authorization: `Bearer ${token}` };
      const res = await fetch(`${url}/api/v1/containers/${demo.name}`, { method: "PUT", body: png, headers: { ...auth, "content-type": "image/png", "x-pixelrts-sha256": sha256, ...demo.headers } });
      if (!res.ok) throw new Error(`seed: publishing ${demo.name} failed: HTTP ${res.status} ${await res.text()}`);
      // the container is a small PNG itself: good enough as its own thumbnail
      if (png.length <= 256 * 1024) {
        const t = await fetch(`${url}/api/v1/containers/${demo.name}/thumbnail`, { method: "PUT", body: png, headers: { ...auth, "content-type": "image/png" } });
        if (!t.ok) throw new Error(`seed: thumbnail of ${demo.name} failed: HTTP ${t.status}`);
      }
      published.push({ name: demo.name, size: png.length, sha256 });
      log(`seed: published ${demo.name} (${png.length} bytes, sha256 ${sha256.slice(0, 12)}…)`);
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
