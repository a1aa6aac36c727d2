/** The boot-settings grammar (shared/container/boot-settings.ts) and how flags, container and defaults combine. */
import { describe, expect, it } from "vitest";
import { checkArch, checkCmdline, checkCpus, checkCpusText, checkMachine, checkMemory, checkSegmentType } from "../../shared/container/boot-settings.js";
import { buildQemuCommand } from "./qemu-argv.js";
import { containerBootSettings, describeProvenance, parseBootFlags, resolveBootSettings } from "./settings.js";

const accepts = (r: { ok: boolean }) => r.ok;

describe("the boot-settings grammar", () => {
  it.each(["q35", "pc", "virt", "microvm", "pc-q35-8.2", "pc-i440fx-7.2", "virt-8.2", "sifive_u", "none"])("machine %j is a bare machine type", (v) => {
    expect(checkMachine(v)).toEqual({ ok: true, value: v });
  });
  it.each([
    "q35,initrd=../../../../etc/hostname",
    "q35,initrd=/etc/hostname",
    "pc,firmware=/etc/shadow",
    "q35,kernel=/boot/vmlinuz",
    "q35,append=x",
    "memory-backend=x",
    "q35 ",
    " q35",
    "q35\n",
    "../q35",
    "/etc/hostname",
    "q35..x",
    "-q35",
    "help",
    "",
    "a".repeat(65),
  ])("machine %j is refused", (v) => {
    const r = checkMachine(v);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.why).toMatch(/bare machine type/);
  });
  it.each([5, null, true, ["q35"], { name: "q35" }])("machine of the wrong JSON type %j is refused", (v) => {
    expect(accepts(checkMachine(v))).toBe(false);
  });

  it("memory: a size from 16M to 1T; no suffix means MiB, as QEMU reads it", () => {
    for (const [v, out] of [["16M", "16M"], ["512m", "512M"], ["2G", "2G"], ["1T", "1T"], ["1024", "1024"], ["16", "16"], ["16384K", "16384K"], ["1024G", "1024G"]]) expect(checkMemory(v)).toEqual({ ok: true, value: out });
    for (const v of ["15M", "16383K", "15", "2T", "1025G", "0", "0512M", "512MB", "512M,slots=2", "512M,maxmem=4G", "1e3", "-1G", " 512M", "512 M", "", "99999999999999G"]) {
      expect(accepts(checkMemory(v)), v).toBe(false);
    }
    expect(accepts(checkMemory(512))).toBe(false);
    expect(accepts(checkMemory(null))).toBe(false);
  });

  it("cpus: a JSON integer from 1 to 256; the flag takes decimal digits only", () => {
    expect(checkCpus(1)).toEqual({ ok: true, value: 1 });
    expect(checkCpus(256)).toEqual({ ok: true, value: 256 });
    for (const v of [0, 257, -1, 1.5, NaN, "2", null, true]) expect(accepts(checkCpus(v)), String(v)).toBe(false);
    expect(checkCpusText("4")).toEqual({ ok: true, value: 4 });
    for (const v of ["0x10", "1e2", " 4", "4 ", "", "0", "257", "+4", "4.0"]) expect(accepts(checkCpusText(v)), v).toBe(false);
  });

  it("arch: one of the three known", () => {
    for (const v of ["x86_64", "aarch64", "riscv64"]) expect(checkArch(v)).toEqual({ ok: true, value: v });
    for (const v of ["mips", "x86_64 ", "X86_64", "../x86_64", "x86_64,accel=kvm", 64, null]) expect(accepts(checkArch(v)), String(v)).toBe(false);
  });

  it("cmdline: a string of at most 4096 bytes without control characters", () => {
    expect(checkCmdline("console=ttyS0 panic=-1 root=/dev/vda init=/bin/sh,x")).toMatchObject({ ok: true });
    expect(checkCmdline("é".repeat(2048))).toMatchObject({ ok: true });
    expect(accepts(checkCmdline("é".repeat(2049)))).toBe(false);
    expect(accepts(checkCmdline("a".repeat(4097)))).toBe(false);
    for (const v of ["a\0b", "a\nb", "a\rb", "a\tb", "a\x1b[2Jb", "a\x7fb", "a\u009bb"]) expect(accepts(checkCmdline(v)), JSON.stringify(v)).toBe(false);
    for (const v of [5, null, ["a"], { a: 1 }]) expect(accepts(checkCmdline(v)), JSON.stringify(v)).toBe(false);
  });

  it("segment types are names", () => {
    for (const v of ["kernel", "initrd", "disk", "binary", "os", "my-type_1.0"]) expect(accepts(checkSegmentType(v))).toBe(true);
    for (const v of ["", "a b", "kernel\n", "a,b", "a=b", "../x", 7, null]) expect(accepts(checkSegmentType(v)), String(v)).toBe(false);
  });
});

describe("a container's boot settings", () => {
  it("are taken when every field follows the grammar", () => {
    expect(containerBootSettings({ boot: { cmdline: "console=ttyS0", arch: "x86_64", machine: "pc-q35-8.2", memory: "1G", cpus: 2 } })).toEqual({ cmdline: "console=ttyS0", arch: "x86_64", machine: "pc-q35-8.2", memory: "1G", cpus: 2 });
    expect(containerBootSettings({})).toEqual({});
  });

  it.each([
    [{ boot: { machine: "q35,initrd=/etc/hostname" } }, /^the container's boot\.machine must be a bare machine type/],
    [{ boot: { machine: "pc,firmware=/etc/shadow" } }, /boot\.machine/],
    [{ boot: { memory: "512M,maxmem=1T" } }, /^the container's boot\.memory must be/],
    [{ boot: { memory: "1K" } }, /boot\.memory/],
    [{ boot: { cpus: 0 } }, /^the container's boot\.cpus must be an integer from 1 to 256/],
    [{ boot: { cpus: "2" } }, /boot\.cpus/],
    [{ boot: { arch: "mips" } }, /^the container's boot\.arch must be one of x86_64, aarch64, riscv64/],
    [{ boot: { cmdline: 42 } }, /^the container's boot\.cmdline must be a string, got a number/],
    [{ boot: { cmdline: "a\nb" } }, /boot\.cmdline must not contain control characters/],
    [{ boot: "q35" }, /^the container's boot must be an object/],
    [{ type: 7 }, /^the container's type must be a string/],
    [{ offsets: { kernel: { start: 0, size: 1, type: "kernel,x=y" } } }, /^the container's offsets\.kernel\.type must be a name/],
    [{ offsets: { kernel: { start: 0, size: 1, type: 5 } } }, /offsets\.kernel\.type must be a string/],
    [{ segments: { "a\x1bb": { type: "a b" } } }, /^the container's segments\.\["a\\u001bb"\]\.type/],
    [{ offsets: { kernel: null } }, /offsets\.kernel must be an object/],
  ])("%j is E_METADATA_INVALID naming the container's field", (m, message) => {
    expect(() => containerBootSettings(m as never)).toThrow(expect.objectContaining({ code: "E_METADATA_INVALID", message: expect.stringMatching(message) }));
  });
});

const BIG_HOST = { memoryBytes: 64 * 1024 ** 3, cpus: 16 };

describe("flags over the container over defaults", () => {
  const noKvm = () => false;
  const container = { cmdline: "console=ttyS0 quiet", arch: "x86_64" as const, memory: "1G", cpus: 2, machine: "pc" };

  it("uses the container's values, flags win, and says where each came from", () => {
    const a = resolveBootSettings(parseBootFlags({}), container, noKvm, BIG_HOST);
    expect(a.flags).toMatchObject({ memory: "1G", cpus: 2, machine: "pc", cmdline: "console=ttyS0 quiet", kvm: "auto", display: "none", serial: "stdio", net: "user" });
    expect(a.provenance).toMatchObject({ memory: "container", cpus: "container", machine: "container", cmdline: "container", arch: "container", kvm: "default", append: "default" });
    const b = resolveBootSettings(parseBootFlags({ memory: "256M", cpus: "1", machine: "q35", display: "vnc:2", serial: "file:/x", kvm: "off", net: "none", append: "quiet" }), container, () => true, BIG_HOST);
    expect(b.flags).toMatchObject({ memory: "256M", cpus: 1, machine: "q35", display: { vnc: 2 }, serial: { file: "/x" }, kvm: "off", kvmAvailable: false, net: "none", append: "quiet" });
    expect(b.provenance).toMatchObject({ memory: "flag", cpus: "flag", machine: "flag", cmdline: "container", kvm: "flag", append: "flag" });
    const c = resolveBootSettings(parseBootFlags({ arch: "aarch64" }), {}, noKvm, BIG_HOST);
    expect(c.flags).toMatchObject({ cmdline: "console=ttyAMA0", machine: "virt", memory: "512M", cpus: 1 });
    expect(c.provenance).toMatchObject({ arch: "flag", cmdline: "default", machine: "default", memory: "default" });
    expect(describeProvenance(a, (s) => (s.includes(" ") ? `'${s}'` : s))).toBe("# from the container: arch=x86_64 machine=pc memory=1G cpus=2 cmdline='console=ttyS0 quiet'; from flags: -; defaults: kvm=auto display=none serial=stdio net=user");
  });

  it("the result reaches QEMU as the same plain argv words", () => {
    const r = resolveBootSettings(parseBootFlags({ kvm: "off" }), container, noKvm, BIG_HOST);
    const args = buildQemuCommand({ kernel: "/c/k" }, r.flags).args;
    expect(args.slice(0, 2)).toEqual(["-machine", "pc"]);
    expect(args).toEqual(expect.arrayContaining(["-m", "1G", "-smp", "2", "-append", "console=ttyS0 quiet"]));
  });

  it.each([
    [{ memory: "lots" }, /^--memory must be/],
    [{ memory: "512M,maxmem=8G" }, /^--memory/],
    [{ cpus: "0" }, /^--cpus must be an integer/],
    [{ cpus: "0x10" }, /^--cpus/],
    [{ kvm: "maybe" }, /^--kvm must be auto, on or off/],
    [{ display: "sdl" }, /^--display/],
    [{ serial: "tcp:1" }, /^--serial/],
    [{ serial: "file:" }, /^--serial/],
    [{ arch: "mips" }, /^--arch must be one of x86_64, aarch64, riscv64, got "mips"/],
    [{ net: "tap" }, /^--net must be user or none/],
    [{ machine: "q35,initrd=/etc/hostname" }, /^--machine must be a bare machine type/],
    [{ append: "a\nb" }, /^--append must not contain control characters/],
  ])("a bad flag %j is E_USAGE naming the flag", (values, message) => {
    expect(() => parseBootFlags(values)).toThrow(expect.objectContaining({ code: "E_USAGE", message: expect.stringMatching(message) }));
  });

  it("--append that makes the command line too long names --append", () => {
    const flags = parseBootFlags({ append: "a".repeat(4000) });
    expect(() => resolveBootSettings(flags, { cmdline: "b".repeat(100) }, noKvm)).toThrow(expect.objectContaining({ code: "E_USAGE", message: expect.stringMatching(/^--append makes the kernel command line 4101 bytes/) }));
  });
});

describe("a container may not take the host down", () => {
  const small = { memoryBytes: 4 * 1024 ** 3, cpus: 2 };
  it("its memory and CPU wishes are capped at half the host's memory and the host's CPUs, with a note", () => {
    const r = resolveBootSettings(parseBootFlags({}), { memory: "64G", cpus: 32 }, () => false, small);
    expect(r.flags).toMatchObject({ memory: "2048M", cpus: 2 });
    expect(r.notes).toEqual([expect.stringMatching(/asks for 64G of memory; this host has 4 GiB: using 2048M/), expect.stringMatching(/asks for 32 CPUs; this host has 2: using 2/)]);
  });

  it("flags are the user's choice: not capped", () => {
    const r = resolveBootSettings(parseBootFlags({ memory: "64G", cpus: "32" }), {}, () => false, small);
    expect(r.flags).toMatchObject({ memory: "64G", cpus: 32 });
    expect(r.notes).toEqual([]);
  });

  it("a boot request's wishes (serve's API) are capped like a container's; the flags beside them are not", () => {
    const flags = { ...parseBootFlags({ memory: "64G", cpus: "32" }), requested: new Set(["memory"] as const) };
    const r = resolveBootSettings(flags, {}, () => false, small);
    expect(r.flags).toMatchObject({ memory: "2048M", cpus: 32 });
    expect(r.notes).toEqual([expect.stringMatching(/^the boot request asks for 64G of memory; this host has 4 GiB: using 2048M/)]);
  });
});

describe("--forward", () => {
  it("takes PROTO:HOST:GUEST ports; anything else, or with --net none, is E_USAGE naming the flag", () => {
    expect(parseBootFlags({ forward: ["tcp:2222:22", "UDP:1:65535"] }).forwards).toEqual([{ proto: "tcp", host: 2222, guest: 22 }, { proto: "udp", host: 1, guest: 65535 }]);
    for (const bad of ["tcp:0:22", "tcp:2222", "sctp:1:2", "tcp:2222:22,hostfwd=tcp::1-:2", "tcp:70000:22"]) {
      expect(() => parseBootFlags({ forward: [bad] })).toThrow(expect.objectContaining({ code: "E_USAGE", message: expect.stringMatching(/^--forward/) }));
    }
    expect(() => parseBootFlags({ forward: ["tcp:2222:22"], net: "none" })).toThrow(expect.objectContaining({ code: "E_USAGE", message: expect.stringMatching(/--forward needs user networking/) }));
  });
});
