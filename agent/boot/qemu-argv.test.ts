import { describe, expect, it } from "vitest";
import { buildQemuCommand, shellLine, shellQuote, type BootFlags } from "./qemu-argv.js";
import { diskFormat, planBoot } from "./plan.js";

const base: BootFlags = { arch: "x86_64", memory: "512M", cpus: 1, kvm: "off", kvmAvailable: false, display: "none", serial: "stdio", cmdline: "console=ttyS0", net: "none" };
const argv = (files: Parameters<typeof buildQemuCommand>[0], flags: Partial<BootFlags> = {}) => buildQemuCommand(files, { ...base, ...flags });

describe("QEMU argv (pure)", () => {
  it("boots a kernel + initrd under TCG with the serial console on stdio", () => {
    const c = argv({ kernel: "/c/k", initrd: "/c/i" }, { append: "panic=-1" });
    expect(c.binary).toBe("qemu-system-x86_64");
    expect(c.accel).toBe("tcg");
    expect(c.args).toEqual(["-machine", "q35", "-accel", "tcg", "-cpu", "max", "-m", "512M", "-smp", "1", "-kernel", "/c/k", "-initrd", "/c/i", "-append", "console=ttyS0 panic=-1", "-display", "none", "-serial", "stdio", "-monitor", "none", "-no-reboot", "-nic", "none"]);
  });

  it.each([
    [{ kvm: "auto", kvmAvailable: true }, "kvm"],
    [{ kvm: "auto", kvmAvailable: false }, "tcg"],
    [{ kvm: "off", kvmAvailable: true }, "tcg"],
    [{ kvm: "on", kvmAvailable: true }, "kvm"],
  ] as const)("--kvm %j → %s", (flags, accel) => {
    const c = argv({ kernel: "k" }, flags);
    expect(c.accel).toBe(accel);
    expect(c.args).toEqual(expect.arrayContaining(accel === "kvm" ? ["-accel", "kvm", "-cpu", "host"] : ["-accel", "tcg"]));
  });

  it("--kvm on without /dev/kvm is a clear error", () => {
    expect(() => argv({ kernel: "k" }, { kvm: "on", kvmAvailable: false })).toThrow(expect.objectContaining({ code: "E_KVM_UNAVAILABLE" }));
  });

  it("passes a qcow2 disk as qcow2 and raw as raw, in snapshot mode, with commas escaped", () => {
    expect(argv({ disk: { path: "/c/d,1", format: "qcow2" } }).args).toEqual(expect.arrayContaining(["-drive", "file=/c/d,,1,format=qcow2,if=virtio,media=disk,snapshot=on"]));
    expect(argv({ disk: { path: "/c/d", format: "raw" } }).args).toEqual(expect.arrayContaining(["-drive", "file=/c/d,format=raw,if=virtio,media=disk,snapshot=on"]));
    expect(argv({ disk: { path: "/c/d", format: "raw" } }).args).not.toContain("-kernel");
  });

  it("display, serial file, network, memory, cpus, machine and arch", () => {
    const c = argv({ kernel: "k" }, { display: { vnc: 3 }, serial: { file: "/tmp/s.log" }, net: "user", memory: "2G", cpus: 4, machine: "microvm", arch: "aarch64", cmdline: "console=ttyAMA0" });
    expect(c.binary).toBe("qemu-system-aarch64");
    expect(c.args).toEqual(expect.arrayContaining(["-vnc", "127.0.0.1:3", "-serial", "file:/tmp/s.log", "-nic", "user,model=virtio-net-pci", "-m", "2G", "-smp", "4", "-machine", "microvm", "-append", "console=ttyAMA0"]));
  });

  it("never boots nothing", () => {
    expect(() => argv({})).toThrow(expect.objectContaining({ code: "E_NOT_BOOTABLE" }));
  });

  it("prints a copy-pasteable shell line", () => {
    expect(shellQuote("console=ttyS0 quiet")).toBe("'console=ttyS0 quiet'");
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
    expect(shellLine({ binary: "qemu-system-x86_64", args: ["-append", "a b", "-m", "1G"] })).toBe("qemu-system-x86_64 -append 'a b' -m 1G");
  });

  it("never prints a raw control character: such words are $'...' with octal escapes (regression)", () => {
    expect(shellQuote("a\x1b]0;pwned\x07\rb")).toBe("$'a\\033]0;pwned\\007\\015b'");
    expect(shellQuote("it's\n")).toBe("$'it\\'s\\012'");
    expect(shellQuote("x\u202ey\u009b")).toBe("$'x\\342\\200\\256y\\302\\233'");
    for (const w of ["\x1b[2J", "\r", "\u2066", "back\\slash\x00"]) expect(shellQuote(w)).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/);
  });

  it("the quoted words mean the same to a real shell", async () => {
    const { spawnSync } = await import("node:child_process");
    const words = ["plain", "a b", "it's", "a\x1bb\rc", "tab\there", "x\u202ey", "q'\x07'"];
    const line = shellLine({ binary: "printf", args: ["%s\\0", ...words] });
    const r = spawnSync("bash", ["-c", line], { encoding: "utf8" });
    expect(r.stdout.split("\0").slice(0, -1)).toEqual(words);
  });
});

describe("what to boot from each container kind (spec §6.2)", () => {
  const h = "a".repeat(64);
  it("boot bundle: kernel, initrd and disk by type", () => {
    const m = { type: "boot-bundle", offsets: { kernel: { start: 0, size: 10, type: "kernel", sha256: h }, initrd: { start: 4096, size: 10, type: "initrd" }, disk: { start: 8192, size: 10, type: "disk" } } };
    const p = planBoot(m, 8202);
    expect([p.kernel?.name, p.initrd?.name, p.disk?.name]).toEqual(["kernel", "initrd", "disk"]);
  });
  it("single-file kernel found by segment name (as the original discovered it) or by type", () => {
    expect(planBoot({ segments: { vmlinuz: { type: "binary", size: 100 } } }, 100).kernel).toMatchObject({ start: 0, size: 100 });
    expect(planBoot({ type: "kernel", segments: { mykernel: { size: 100 } } }, 100).kernel?.name).toBe("mykernel");
    expect(planBoot({ type: "os", segments: { img: { size: 100 } } }, 100).disk?.name).toBe("img");
    expect(() => planBoot({ type: "wasm", segments: { x: { size: 100 } } }, 100)).toThrow(expect.objectContaining({ code: "E_NOT_BOOTABLE" }));
  });
  it("vm-snapshot: the qcow2 disk, warning when kernel offsets were lost", () => {
    const p = planBoot({ type: "vm-snapshot", disk_size: 64, has_kernel: true, offsets: {} }, 100);
    expect(p.disk).toMatchObject({ start: 0, size: 64 });
    expect(p.kernel).toBeUndefined();
    expect(p.warnings[0]).toMatch(/booting the disk alone/);
  });
  it("recognises qcow2 by its magic", () => {
    expect(diskFormat(new Uint8Array([0x51, 0x46, 0x49, 0xfb, 0]))).toBe("qcow2");
    expect(diskFormat(new Uint8Array([0xeb, 0x63, 0x90]))).toBe("raw");
  });
});

describe("paths QEMU would split", () => {
  it("a cache path with a comma or a space is refused (QEMU splits -initrd/-kernel values there)", () => {
    for (const dir of ["/c,ache", "/my cache"]) {
      expect(() => argv({ kernel: `${dir}/k`, initrd: `${dir}/i` })).toThrow(expect.objectContaining({ code: "E_CACHE_PATH" }));
    }
  });
});

describe("port forwards", () => {
  it("forwards bind 127.0.0.1 only, on the user-mode NIC", () => {
    const c = argv({ kernel: "k" }, { net: "user", forwards: [{ proto: "tcp", host: 2222, guest: 22 }, { proto: "udp", host: 5353, guest: 53 }] });
    expect(c.args.slice(-2)).toEqual(["-nic", "user,model=virtio-net-pci,hostfwd=tcp:127.0.0.1:2222-:22,hostfwd=udp:127.0.0.1:5353-:53"]);
  });
});
