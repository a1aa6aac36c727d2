/**
 * `pixelrts boot` through the real CLI process with a fake qemu-system-x86_64 on PATH that
 * records its argv: the spawn path, exit status propagation, unpack caching, QEMU-missing
 * errors, and hostile containers whose boot settings must never reach QEMU. (The real boot of a
 * real kernel is test/e2e.) The fake is a Node script with no child processes, so nothing
 * outlives it and holds the CLI's pipes open; every test stands alone (`-t NAME`).
 */
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { type CliRun, runCli } from "../../test/helpers/cli.js";
import type { PyDict, PyValue } from "../../shared/pyjson.js";
import { hostileBundle as makeHostileBundle, RAW_CONTROL } from "../../test/helpers/hostile-containers.js";

const ROOT = join(import.meta.dirname, "../..");
const work = mkdtempSync(join(tmpdir(), "pixelrts-boot-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const fakeBin = join(work, "bin");
mkdirSync(fakeBin);
const argvFile = join(work, "qemu-argv.txt");
// Modes are picked by a word of the kernel command line (--append). Waiting modes stay alive on
// a timer (no child process) and give up after 20 s, so a regression fails instead of hanging.
writeFileSync(
  join(fakeBin, "qemu-system-x86_64"),
  `#!${process.execPath}
const fs = require("node:fs");
const args = process.argv.slice(2);
fs.writeFileSync(${JSON.stringify(argvFile)}, args.join("\\n") + "\\n");
const say = (s) => fs.writeSync(1, s + "\\n");
const words = (args[args.indexOf("-append") + 1] ?? "").split(" ");
const wait = (onTerm) => {
  process.on("SIGTERM", onTerm);
  say("fake qemu: waiting");
  setTimeout(() => { say("fake qemu: nobody stopped me"); process.exit(99); }, 20000);
};
if (words.includes("wait-for-term")) wait(() => { say("fake qemu: got SIGTERM"); process.exit(5); });
else if (words.includes("term-then-zero")) wait(() => process.exit(0));
else if (words.includes("hang")) wait(() => { say("fake qemu: got SIGTERM"); process.exit(0); });
else { say("fake qemu: serial line"); process.exit(7); }
`,
);
chmodSync(join(fakeBin, "qemu-system-x86_64"), 0o755);

// No retries: no test here is about them (a closed port would otherwise cost 1+2+4 s).
const env = (path: string) => ({ ...process.env, PATH: path, PIXELRTS_CACHE_DIR: join(work, "cache"), PIXELRTS_CONFIG_DIR: join(work, "config"), PIXELRTS_RETRIES: "0" });
function cli(path: string, ...args: string[]) {
  const r = spawnSync(process.execPath, [join(ROOT, "agent/bin/pixelrts.mjs"), ...args], { cwd: work, encoding: "utf8", env: env(path) });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
/** The same, without blocking: independent runs can overlap. */
function cliAsync(path: string, ...args: string[]): Promise<CliRun> {
  return runCli(args, { cwd: work, env: env(path) });
}
/** A CLI run that can be signalled when its output shows `ready`. */
function cliLive(args: string[], ready: string, sig: NodeJS.Signals) {
  const child = spawn(process.execPath, [join(ROOT, "agent/bin/pixelrts.mjs"), ...args], { cwd: work, env: env(withFake) });
  let out = "";
  let sent = false;
  child.stdout.on("data", (c: Buffer) => {
    out += c;
    if (!sent && out.includes(ready)) sent = child.kill(sig);
  });
  return new Promise<{ code: number | null; out: string }>((resolve) => child.on("close", (code) => resolve({ code, out })));
}
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

const kernel = Buffer.alloc(20_000, 0x4b);
const initrd = Buffer.alloc(7_000, 0x49);
writeFileSync(join(work, "vmlinuz"), kernel);
writeFileSync(join(work, "initrd.img"), initrd);
const packed = spawnSync(process.execPath, [join(ROOT, "agent/bin/pixelrts.mjs"), "pack", "--kernel", "vmlinuz", "--initrd", "initrd.img", "--cmdline", "console=ttyS0 panic=-1", "--memory", "256M", "-o", "demo.rts.png"], { cwd: work });
const withFake = `${fakeBin}:${process.env.PATH}`;

/** A boot bundle from the real encoder with its metadata edited as an attacker would, written to `file`. */
async function hostileBundle(file: string, edit: (doc: PyDict, boot: PyDict) => void): Promise<string> {
  writeFileSync(join(work, file), await makeHostileBundle(edit, kernel, initrd));
  return file;
}

describe("pixelrts boot FILE with a recording fake QEMU", () => {
  it("packs the fixture", () => expect(packed.status).toBe(0));

  it("spawns QEMU with the extracted, hash-checked kernel and initrd and propagates its exit status", () => {
    rmSync(argvFile, { force: true });
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

  it("says where VNC listens and which ports are forwarded; a --serial file in a missing directory is refused before anything else", () => {
    rmSync(argvFile, { force: true });
    const r = cli(withFake, "boot", "demo.rts.png", "--kvm", "off", "--display", "vnc:3", "--forward", "tcp:2222:22");
    expect(r.code).toBe(7);
    expect(r.stderr).toMatch(/^VNC: 127\.0\.0\.1:5903 \(display :3\)/m);
    expect(r.stderr).toMatch(/^forwarding tcp 127\.0\.0\.1:2222 → guest port 22$/m);
    const args = readFileSync(argvFile, "utf8").trim().split("\n");
    expect(args).toEqual(expect.arrayContaining(["-vnc", "127.0.0.1:3", "-nic", "user,model=virtio-net-pci,hostfwd=tcp:127.0.0.1:2222-:22"]));
    rmSync(argvFile, { force: true });
    const bad = cli(withFake, "boot", "demo.rts.png", "--kvm", "off", "--serial", `file:${join(work, "no-such-dir", "serial.log")}`);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^pixelrts: E_USAGE: cannot write .*no-such-dir\/serial\.log: the directory .* does not exist/);
    expect(existsSync(argvFile)).toBe(false);
  });

  it("reuses the unpacked files on the next boot and prints a dry run without spawning", () => {
    rmSync(argvFile, { force: true });
    expect(cli(withFake, "boot", "demo.rts.png", "--dry-run", "--kvm", "off").code).toBe(0);
    const r = cli(withFake, "boot", "demo.rts.png", "--dry-run", "--json", "--kvm", "off");
    expect(r.code).toBe(0);
    const ev = JSON.parse(r.stdout);
    expect(ev).toMatchObject({ event: "dry-run", binary: "qemu-system-x86_64", reused_unpack: true });
    expect(existsSync(argvFile)).toBe(false);
    const line = cli(withFake, "boot", "demo.rts.png", "--dry-run", "--kvm", "off", "--append", "quiet loglevel=3");
    expect(line.stdout.trim()).toMatch(/^qemu-system-x86_64 -machine q35 .* -append 'console=ttyS0 panic=-1 quiet loglevel=3' /);
  });

  it("--dry-run says which settings came from the container, which from flags, which are defaults", () => {
    const human = cli(withFake, "boot", "demo.rts.png", "--dry-run", "--kvm", "off", "--cpus", "2", "--append", "quiet");
    expect(human.code).toBe(0);
    // stdout stays one pasteable line; the provenance goes to stderr.
    expect(human.stdout.trim().split("\n")).toHaveLength(1);
    expect(human.stderr).toContain("# from the container: arch=x86_64 memory=256M cmdline='console=ttyS0 panic=-1'; from flags: cpus=2 append=quiet kvm=off; defaults: machine=q35 display=none serial=stdio net=user\n");
    const json = JSON.parse(cli(withFake, "boot", "demo.rts.png", "--dry-run", "--json", "--kvm", "off", "--machine", "pc").stdout);
    expect(json.provenance).toEqual({ arch: "container", machine: "flag", memory: "container", cpus: "default", cmdline: "container", append: "default", kvm: "flag", display: "default", serial: "default", net: "default" });
    expect(json.args.slice(0, 2)).toEqual(["-machine", "pc"]);
  });

  it("the --dry-run line never carries a raw control character", () => {
    const r = cli(withFake, "boot", "demo.rts.png", "--dry-run", "--kvm", "off", "--serial", "file:/tmp/a\x1b]0;x\x07\rb.log");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("-serial $'file:/tmp/a\\033]0;x\\007\\015b.log'");
    expect(r.stdout).not.toMatch(RAW_CONTROL);
    expect(r.stderr).not.toMatch(RAW_CONTROL);
  });

  it("names the package to install when QEMU is missing", () => {
    const r = cli("/nonexistent-bin", "boot", "demo.rts.png", "--kvm", "off");
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^pixelrts: E_QEMU_NOT_FOUND: qemu-system-x86_64 is not installed \(Debian\/Ubuntu: sudo apt-get install qemu-system-x86 .*Fedora.*brew install qemu\)\n$/);
  });

  it("stops a QEMU that outlives --timeout: SIGTERM from the watchdog, then E_BOOT_TIMEOUT", () => {
    const started = performance.now();
    const r = cli(withFake, "boot", "demo.rts.png", "--kvm", "off", "--append", "hang", "--timeout", "1");
    const elapsed = performance.now() - started;
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^pixelrts: E_BOOT_TIMEOUT: QEMU was still running after 1 s and was stopped \(--timeout\)\n$/m);
    // The fake QEMU was asked to quit (SIGTERM) by the watchdog, not by anything else ...
    expect(r.stdout).toContain("fake qemu: waiting\nfake qemu: got SIGTERM\n");
    expect(r.stdout).not.toContain("nobody stopped me");
    // ... and not before the timeout (a lower bound only: a loaded machine may be slower).
    expect(elapsed).toBeGreaterThanOrEqual(1000);
  });

  it("forwards SIGTERM to QEMU and exits with QEMU's status", async () => {
    const r = await cliLive(["boot", "demo.rts.png", "--kvm", "off", "--append", "wait-for-term"], "fake qemu: waiting", "SIGTERM");
    expect(r.out).toContain("fake qemu: got SIGTERM");
    expect(r.code).toBe(5);
  });

  it("an interrupted boot exits 128+signal even when QEMU itself exits 0 (as real QEMU does)", async () => {
    const r = await cliLive(["boot", "demo.rts.png", "--kvm", "off", "--append", "term-then-zero"], "fake qemu: waiting", "SIGTERM");
    expect(r.code).toBe(143);
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
    expect(cli(withFake, "boot", "demo.rts.png", "--dry-run", "--kvm", "off").code).toBe(0);
    const unpacked = join(work, "cache/v1/unpacked");
    expect(readdirSync(unpacked).length).toBeGreaterThan(0);
    const r = cli(withFake, "cache", "clear", "--yes");
    expect(r.code, r.stderr).toBe(0);
    expect(readdirSync(unpacked)).toEqual([]);
  });
});

describe("boot settings are data: a hostile container's values never reach QEMU (regression)", () => {
  it("boot.machine with QEMU properties (initrd=/etc/hostname) is E_METADATA_INVALID for boot and boot --dry-run", async () => {
    const file = await hostileBundle("machine.rts.png", (_doc, boot) => boot.set("machine", "q35,initrd=/etc/hostname"));
    const message = `pixelrts: E_METADATA_INVALID: the container's boot.machine must be a bare machine type such as q35, pc, virt, microvm or pc-q35-8.2 (letters, digits, '.', '_', '-'; no ',' or '=' properties), got "q35,initrd=/etc/hostname"\n`;
    const dry = cli(withFake, "boot", file, "--dry-run", "--kvm", "off");
    expect(dry.code).toBe(3);
    expect(dry.stderr).toBe(message);
    expect(dry.stdout).toBe("");
    rmSync(argvFile, { force: true });
    const real = cli(withFake, "boot", file, "--kvm", "off");
    expect(real.code).toBe(3);
    expect(real.stderr).toBe(message);
    expect(existsSync(argvFile)).toBe(false); // QEMU never started
  });

  it.concurrent.each<[string, (doc: PyDict, boot: PyDict) => void, RegExp]>([
    ["machine with firmware=", (_d, b) => b.set("machine", "pc,firmware=/etc/shadow"), /the container's boot\.machine must be a bare machine type/],
    ["machine with kernel= and append=", (_d, b) => b.set("machine", "microvm,kernel=/boot/vmlinuz,append=init=/bin/sh"), /the container's boot\.machine must be/],
    ["memory with QEMU properties", (_d, b) => b.set("memory", "256M,maxmem=1T"), /the container's boot\.memory must be a size like 512M/],
    ["memory below 16M", (_d, b) => b.set("memory", "1K"), /the container's boot\.memory must be/],
    ["memory as a number", (_d, b) => b.set("memory", 512), /the container's boot\.memory must be a string/],
    ["cpus out of range", (_d, b) => b.set("cpus", 100_000), /the container's boot\.cpus must be an integer from 1 to 256, got 100000/],
    ["cpus as a string", (_d, b) => b.set("cpus", "2"), /the container's boot\.cpus must be an integer/],
    ["an unknown arch (was reported as a bad --arch flag)", (_d, b) => b.set("arch", "mips"), /the container's boot\.arch must be one of x86_64, aarch64, riscv64, got "mips"/],
    ["a numeric cmdline (was E_INTERNAL: s.trim is not a function)", (_d, b) => b.set("cmdline", 42), /the container's boot\.cmdline must be a string, got a number/],
    ["a cmdline with a newline", (_d, b) => b.set("cmdline", "console=ttyS0\ninit=/bin/sh"), /the container's boot\.cmdline must not contain control characters/],
    ["a cmdline over 4096 bytes", (_d, b) => b.set("cmdline", "x".repeat(5000)), /the container's boot\.cmdline must be at most 4096 bytes/],
    ["boot that is not an object", (d) => d.set("boot", "q35"), /the container's boot must be an object/],
    ["a segment type with option syntax", (d) => ((d.get("offsets") as PyDict).get("initrd") as Map<string, PyValue>).set("type", "initrd,file=/etc/shadow"), /the container's offsets\.initrd\.type must be a name/],
  ])("%s is E_METADATA_INVALID naming the container's field, never a flag", async (name, edit, message) => {
    const file = await hostileBundle(`h-${name.replace(/\W+/g, "-")}.rts.png`, edit);
    const r = await cliAsync(withFake, "boot", file, "--dry-run", "--kvm", "off");
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(new RegExp(`^pixelrts: E_METADATA_INVALID: ${message.source}`));
    expect(r.stderr).not.toMatch(/--(arch|memory|cpus|machine)/);
    expect(r.stdout).toBe("");
  });

  it("flags cannot rescue a hostile container: it is refused whatever the flags say", async () => {
    const file = await hostileBundle("override.rts.png", (_doc, boot) => boot.set("machine", "q35,initrd=/etc/hostname"));
    const r = cli(withFake, "boot", file, "--dry-run", "--kvm", "off", "--machine", "q35");
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^pixelrts: E_METADATA_INVALID: the container's boot\.machine/);
  });

  it("bad flags keep naming the flag (E_USAGE, exit 2), and --machine follows the same grammar", () => {
    for (const [flag, value, message] of [
      ["--machine", "q35,initrd=/etc/hostname", /^pixelrts: E_USAGE: --machine must be a bare machine type/],
      ["--memory", "1K", /^pixelrts: E_USAGE: --memory must be a size like 512M/],
      ["--cpus", "0", /^pixelrts: E_USAGE: --cpus must be an integer from 1 to 256/],
      ["--arch", "mips", /^pixelrts: E_USAGE: --arch must be one of x86_64, aarch64, riscv64/],
      ["--append", "a\nb", /^pixelrts: E_USAGE: --append must not contain control characters/],
    ] as const) {
      const r = cli(withFake, "boot", "demo.rts.png", "--dry-run", "--kvm", "off", flag, value);
      expect(r.code, flag).toBe(2);
      expect(r.stderr, flag).toMatch(message);
    }
  });

  it("valid container values are passed through as plain argv words", async () => {
    const file = await hostileBundle("fine.rts.png", (_doc, boot) => {
      boot.set("machine", "pc-q35-8.2");
      // within what any host can give (a container's wishes are capped at the host's CPUs and half its memory)
      boot.set("memory", "64M");
      boot.set("cpus", 1);
    });
    const r = cli(withFake, "boot", file, "--dry-run", "--json", "--kvm", "off");
    expect(r.code, r.stderr).toBe(0);
    const ev = JSON.parse(r.stdout);
    expect(ev.args).toEqual(expect.arrayContaining(["-machine", "pc-q35-8.2", "-m", "64M", "-smp", "1"]));
    expect(ev.provenance).toMatchObject({ machine: "container", memory: "container", cpus: "container" });
  });
});
