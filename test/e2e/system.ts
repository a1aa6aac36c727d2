/**
 * System prerequisites of the end-to-end tests (QEMU, apt-get for the test kernel). CI installs
 * them (.ci/run → scripts/setup-system.sh) and a missing one fails there; on a developer machine
 * without them the suite says what to install instead of pretending to pass.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { join } from "node:path";
import { findOnPath } from "../../agent/boot/run-qemu.js";

export const ROOT = join(import.meta.dirname, "../..");
export const CLI = join(ROOT, "agent/bin/pixelrts.mjs");

export function missingPrerequisites(): string[] {
  const missing: string[] = [];
  if (!findOnPath("qemu-system-x86_64")) missing.push("qemu-system-x86 (apt-get install --no-install-recommends qemu-system-x86)");
  if (!findOnPath("apt-get") || !findOnPath("dpkg")) missing.push("apt-get and dpkg (Debian/Ubuntu), to fetch the test kernel");
  return missing;
}

export function requireOrExplain(suite: string): boolean {
  const missing = missingPrerequisites();
  if (missing.length && process.env.CI) throw new Error(`${suite}: CI must provide ${missing.join(", ")}: see scripts/setup-system.sh`);
  if (missing.length) console.warn(`${suite}: NOT RUN on this machine: install ${missing.join(", ")} (CI installs them)`);
  return missing.length === 0;
}

/** Builds (or reuses) the tiny Linux: cloud kernel + busybox initramfs printing a marker. */
export function testImage(): { kernel: string; initrd: string; version: string; dir: string } {
  const dir = join(ROOT, ".cache/test-image");
  execFileSync("bash", [join(ROOT, "scripts/build-test-image.sh")], { stdio: ["ignore", "ignore", "inherit"], env: { ...process.env, PIXELRTS_TEST_IMAGE_DIR: dir } });
  const version = spawnSync("cat", [join(dir, "kernel-version")], { encoding: "utf8" }).stdout.trim();
  return { kernel: join(dir, "vmlinuz"), initrd: join(dir, "initramfs.cpio.gz"), version, dir };
}

export const MARKER = "PIXELRTS-BOOT-OK";
