/**
 * `pixelrts boot` through the real CLI process with a fake qemu-system-x86_64 on PATH that
 * records its argv: the spawn path, exit status propagation, unpack caching and QEMU-missing
 * errors. (The real boot of a real kernel is test/e2e.)
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "../..");
const work = mkdtempSync(join(tmpdir(), "pixelrts-boot-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const fakeBin = join(work, "bin");
mkdirSync(fakeBin);
const argvFile = join(work, "qemu-argv.txt");
writeFileSync(
  join(fakeBin, "qemu-system-x86_64"),
  `#!/bin/sh
printf '%s\\n' "$@" > "${argvFile}"
case "$*" in *hang*) sleep 30;; esac
case "$*" in *term-then-zero*) trap 'exit 0' TERM; echo "fake qemu: waiting"; sleep 30 & wait;; esac
case "$*" in *wait-for-term*) trap 'echo "fake qemu: got SIGTERM"; exit 5' TERM; echo "fake qemu: waiting"; sleep 30 & wait;; esac
echo "fake qemu: serial line"
exit 7
`,
);
chmodSync(join(fakeBin, "qemu-system-x86_64"), 0o755);

const env = (path: string) => ({ ...process.env, PATH: path, PIXELRTS_CACHE_DIR: join(work, "cache"), PIXELRTS_CONFIG_DIR: join(work, "config") });
function cli(path: string, ...args: string[]) {
  const r = spawnSync(process.execPath, [join(ROOT, "agent/bin/pixelrts.mjs"), ...args], { cwd: work, encoding: "utf8", env: env(path) });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

const kernel = Buffer.alloc(20_000, 0x4b);
const initrd = Buffer.alloc(7_000, 0x49);
writeFileSync(join(work, "vmlinuz"), kernel);
writeFileSync(join(work, "initrd.img"), initrd);
const packed = spawnSync(process.execPath, [join(ROOT, "agent/bin/pixelrts.mjs"), "pack", "--kernel", "vmlinuz", "--initrd", "initrd.img", "--cmdline", "console=ttyS0 panic=-1", "--memory", "256M", "-o", "demo.rts.png"], { cwd: work });
const withFake = `${fakeBin}:${process.env.PATH}`;

describe("pixelrts boot FILE with a recording fake QEMU", () => {
  it("packs the fixture", () => expect(packed.status).toBe(0));

  it("spawns QEMU with the extracted, hash-checked kernel and initrd and propagates its exit status", () => {
    const r = cli(withFake, "boot", "demo.rts.png", "--kvm", "off", "--net", "none");
    expect(r.code).toBe(7);
    expect(r.stdout).toContain("fake qemu: serial line");
    const args = readFileSync(argvFile, "utf8").trim().split("\n");
    const at = (flag: string) => args[args.indexOf(flag) + 1]!;
    expect(sha(readFileSync(at("-kernel")))).toBe(sha(kernel));
    expect(sha(readFileSync(at("-initrd")))).toBe(sha(initrd));
    expect(at("-append")).toBe("console=ttyS0 panic=-1");
    expect(at("-m")).toBe("256M");
    expect(at("-accel")).toBe("tcg");
    expect(args.join(" ")).not.toContain(".rts.png");
  });

  it("reuses the unpacked files on the next boot and prints a dry run without spawning", () => {
    rmSync(argvFile, { force: true });
    const r = cli(withFake, "boot", "demo.rts.png", "--dry-run", "--json", "--kvm", "off");
    expect(r.code).toBe(0);
    const ev = JSON.parse(r.stdout);
    expect(ev).toMatchObject({ event: "dry-run", binary: "qemu-system-x86_64", reused_unpack: true });
    expect(() => readFileSync(argvFile)).toThrow();
    const line = cli(withFake, "boot", "demo.rts.png", "--dry-run", "--kvm", "off", "--append", "quiet loglevel=3");
    expect(line.stdout.trim()).toMatch(/^qemu-system-x86_64 -machine q35 .* -append 'console=ttyS0 panic=-1 quiet loglevel=3' /);
  });

  it("names the package to install when QEMU is missing", () => {
    const r = cli("/nonexistent-bin", "boot", "demo.rts.png", "--kvm", "off");
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^pixelrts: E_QEMU_NOT_FOUND: qemu-system-x86_64 is not installed \(Debian\/Ubuntu: sudo apt-get install qemu-system-x86 .*Fedora.*brew install qemu\)\n$/);
  });

  it("stops a QEMU that outlives --timeout", () => {
    const r = cli(withFake, "boot", "demo.rts.png", "--kvm", "off", "--append", "hang", "--timeout", "1");
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/E_BOOT_TIMEOUT/);
  });

  it("forwards SIGTERM to QEMU and exits with QEMU's status", async () => {
    const { spawn } = await import("node:child_process");
    const child = spawn(process.execPath, [join(ROOT, "agent/bin/pixelrts.mjs"), "boot", "demo.rts.png", "--kvm", "off", "--append", "wait-for-term"], { cwd: work, env: env(withFake) });
    let out = "";
    let sent = false;
    child.stdout.on("data", (c) => {
      out += c;
      if (!sent && out.includes("fake qemu: waiting")) sent = child.kill("SIGTERM");
    });
    const code = await new Promise<number | null>((r) => child.on("exit", (c) => r(c)));
    expect(out).toContain("fake qemu: got SIGTERM");
    expect(code).toBe(5);
  });

  it("an interrupted boot exits 128+signal even when QEMU itself exits 0 (as real QEMU does)", async () => {
    const { spawn } = await import("node:child_process");
    const child = spawn(process.execPath, [join(ROOT, "agent/bin/pixelrts.mjs"), "boot", "demo.rts.png", "--kvm", "off", "--append", "term-then-zero"], { cwd: work, env: env(withFake) });
    let sent = false;
    child.stdout.on("data", (c: Buffer) => {
      if (!sent && c.toString().includes("fake qemu: waiting")) sent = child.kill("SIGTERM");
    });
    expect(await new Promise<number | null>((r) => child.on("exit", (c) => r(c)))).toBe(143);
  });

  it("a directory or a URL is never mistaken for a container file", () => {
    const dir = cli(withFake, "boot", work, "--dry-run");
    expect(dir.code).toBe(2);
    expect(dir.stderr).toMatch(/E_USAGE: .* is not a regular file/);
    const url = cli(withFake, "boot", "http://127.0.0.1:9/images/x.rts.png", "--dry-run");
    expect(url.stderr).not.toMatch(/no such file/);
    expect(url.stderr).toMatch(/E_NETWORK|E_OFFLINE/);
  });

  it("takes boot settings from each container, even when two share a payload", () => {
    expect(cli(withFake, "pack", "--kernel", "vmlinuz", "--initrd", "initrd.img", "--cmdline", "console=ttyS0 B=2", "--memory", "1G", "-o", "b.rts.png").code).toBe(0);
    const a = cli(withFake, "boot", "demo.rts.png", "--dry-run", "--kvm", "off");
    const b = cli(withFake, "boot", "b.rts.png", "--dry-run", "--kvm", "off");
    expect(a.stdout).toContain("-append 'console=ttyS0 panic=-1'");
    expect(b.stdout).toContain("-m 1G");
    expect(b.stdout).toContain("-append 'console=ttyS0 B=2'");
  });

  it("refuses a qcow2 disk that names a backing file on the host", () => {
    // A minimal qcow2 v3 header whose backing_file_offset points at "/etc/hostname".
    const q = Buffer.alloc(512);
    q.write("QFI\xfb", 0, "latin1");
    q.writeUInt32BE(3, 4);
    q.writeBigUInt64BE(200n, 8);
    q.writeUInt32BE(13, 16);
    q.write("/etc/hostname", 200);
    writeFileSync(join(work, "evil.qcow2"), q);
    expect(cli(withFake, "pack", "--kernel", "vmlinuz", "--disk", "evil.qcow2", "-o", "evil.rts.png").code).toBe(0);
    const r = cli(withFake, "boot", "evil.rts.png", "--dry-run", "--kvm", "off");
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/E_NOT_BOOTABLE: the qcow2 disk names a backing file/);
  });

  it("refuses a container whose payload fails its hash, before QEMU sees a byte", () => {
    const bad = join(ROOT, "test/fixtures/vectors/corrupt_pixelflip_nonpow_1000003.rts.png");
    const r = cli(withFake, "boot", bad, "--kvm", "off");
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/E_HASH_MISMATCH/);
  });

  it("refuses a container that holds no kernel", () => {
    const r = cli(withFake, "boot", join(ROOT, "test/fixtures/vectors/tiny_16b.rts.png"), "--kvm", "off");
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/E_NOT_BOOTABLE/);
  });

  it("cache clear removes unpacked boot files too", () => {
    const unpacked = join(work, "cache/v1/unpacked");
    expect(readdirSync(unpacked).length).toBeGreaterThan(0);
    const r = cli(withFake, "cache", "clear", "--yes");
    expect(r.code, r.stderr).toBe(0);
    expect(readdirSync(unpacked)).toEqual([]);
  });
});
