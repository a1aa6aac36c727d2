/**
 * Boot latency without QEMU: how long `pixelrts boot NAME --dry-run` takes to print the argv for
 * a container already in the cache (process start, cache lookup, re-hash of the container and
 * unpacked files, argv), against plain `node -e ""` start-up in the same run. With QEMU present,
 * also one real boot of the test kernel to its marker line. Prints figures; asserts nothing.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findOnPath } from "../agent/boot/run-qemu.js";

const ROOT = join(import.meta.dirname, "..");
const CLI = join(ROOT, "agent/bin/pixelrts.mjs");
const work = mkdtempSync(join(tmpdir(), "pixelrts-bootbench-"));
const env = { ...process.env, PIXELRTS_CACHE_DIR: join(work, "cache"), PIXELRTS_CONFIG_DIR: join(work, "config") };
const run = (args: string[]) => {
  const t0 = performance.now();
  const r = spawnSync(args[0]!, args.slice(1), { cwd: work, env, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${args.join(" ")} failed: ${r.stderr}`);
  return { ms: performance.now() - t0, out: r.stdout };
};
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

try {
  const img = join(ROOT, ".cache/test-image");
  const haveImage = spawnSync("bash", [join(ROOT, "scripts/build-test-image.sh")], { stdio: "ignore" }).status === 0;
  let kernel = join(img, "vmlinuz");
  let initrd = join(img, "initramfs.cpio.gz");
  if (!haveImage) {
    // No apt here: a synthetic 12 MB kernel and 1 MB initrd give the same file sizes to hash.
    kernel = join(work, "vmlinuz");
    initrd = join(work, "initrd");
    writeFileSync(kernel, Buffer.alloc(12_000_000, 1));
    writeFileSync(initrd, Buffer.alloc(1_000_000, 2));
  }
  run([process.execPath, CLI, "pack", "--kernel", kernel, "--initrd", initrd, "--cmdline", "console=ttyS0 panic=-1", "-o", "demo.rts.png"]);
  const first = run([process.execPath, CLI, "boot", "demo.rts.png", "--dry-run", "--kvm", "off"]);
  const warm = Array.from({ length: 9 }, () => run([process.execPath, CLI, "boot", "demo.rts.png", "--dry-run", "--kvm", "off"]).ms);
  const node = Array.from({ length: 9 }, () => run([process.execPath, "-e", ""]).ms);
  console.log(`pixelrts boot --dry-run (container ${haveImage ? "of the real test kernel" : "with synthetic 13 MB of segments"})`);
  console.log(`  first (decode + unpack)   ${first.ms.toFixed(0)} ms`);
  console.log(`  cached, median of 9       ${median(warm).toFixed(0)} ms  (node start-up alone: ${median(node).toFixed(0)} ms, ratio ${(median(warm) / median(node)).toFixed(1)}x)`);
  if (haveImage && findOnPath("qemu-system-x86_64")) {
    const boot = run([process.execPath, CLI, "boot", "demo.rts.png", "--kvm", "off", "--net", "none", "--timeout", "120"]);
    console.log(`  real boot to marker (TCG) ${boot.ms.toFixed(0)} ms  ${/PIXELRTS-BOOT-OK[^\n]*/.exec(boot.out)?.[0] ?? "(no marker!)"}`);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
