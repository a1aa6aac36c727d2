/**
 * The QEMU command line, as a pure function of what is being booted and the boot settings.
 * Everything QEMU is given is an extracted, hash-checked file: never the .rts.png itself
 * (the original attached the PNG as a raw disk), and a qcow2 disk is passed as qcow2. The
 * settings arrive checked (settings.ts): no value a container supplies can carry QEMU option
 * syntax or name a host file; the only paths here are the unpacked files in the cache and the
 * user's own --serial file.
 */
import type { Arch } from "../../shared/container/boot-settings.js";
import { fail } from "../../shared/errors.js";
import { hasTerminalControls } from "../cli/terminal.js";

export type { Arch };
export type KvmMode = "auto" | "on" | "off";

export interface BootFiles {
  kernel?: string;
  initrd?: string;
  disk?: { path: string; format: "qcow2" | "raw" };
}

/** Boot settings, already checked against the grammar (agent/boot/settings.ts). */
export interface BootFlags {
  arch: Arch;
  /** QEMU -m value: 512M, 2G ... */
  memory: string;
  cpus: number;
  machine?: string;
  kvm: KvmMode;
  /** Whether /dev/kvm is usable here (decided by the caller, so this stays pure). */
  kvmAvailable: boolean;
  /** "none" or a VNC display number. */
  display: "none" | { vnc: number };
  /** Serial console: the terminal, or a file. */
  serial: "stdio" | { file: string };
  /** Kernel command line (from metadata, else the arch default), plus --append. */
  cmdline: string;
  append?: string;
  /** User-mode networking (a NIC with NAT), or none. */
  net: "user" | "none";
  /** Host ports forwarded into the guest (user networking), always bound to 127.0.0.1. */
  forwards?: PortForward[];
}

export interface PortForward {
  proto: "tcp" | "udp";
  host: number;
  guest: number;
}

export interface QemuCommand {
  binary: string;
  args: string[];
  accel: "kvm" | "tcg";
}

export const DEFAULT_MACHINE: Record<Arch, string> = { x86_64: "q35", aarch64: "virt", riscv64: "virt" };
const TCG_CPU: Record<Arch, string> = { x86_64: "max", aarch64: "max", riscv64: "rv64" };
const NIC_MODEL: Record<Arch, string> = { x86_64: "virtio-net-pci", aarch64: "virtio-net-pci", riscv64: "virtio-net-pci" };

export function buildQemuCommand(files: BootFiles, flags: BootFlags): QemuCommand {
  if (!files.kernel && !files.disk) fail("E_NOT_BOOTABLE", "nothing to boot: no kernel and no disk");
  if (flags.kvm === "on" && !flags.kvmAvailable) fail("E_KVM_UNAVAILABLE", "--kvm on, but /dev/kvm is missing or not readable and writable by this user");
  const accel: "kvm" | "tcg" = flags.kvm === "off" ? "tcg" : flags.kvmAvailable ? "kvm" : "tcg";
  const args: string[] = ["-machine", flags.machine ?? DEFAULT_MACHINE[flags.arch]];
  if (accel === "kvm") args.push("-accel", "kvm", "-cpu", "host");
  else args.push("-accel", "tcg", "-cpu", TCG_CPU[flags.arch]);
  args.push("-m", flags.memory, "-smp", String(flags.cpus));
  // QEMU splits -kernel/-initrd values on ',' (and a multiboot kernel's module list on ' '): a
  // cache path with either would make it open a truncated path of the host's.
  for (const p of [files.kernel, files.initrd]) {
    if (p !== undefined && /[, ]/.test(p)) fail("E_CACHE_PATH", `the cache directory path contains a comma or a space, which QEMU would split (${p}): set PIXELRTS_CACHE_DIR to a path without them`);
  }
  if (files.kernel) {
    args.push("-kernel", files.kernel);
    if (files.initrd) args.push("-initrd", files.initrd);
    const cmdline = [flags.cmdline, flags.append].filter((s) => s && s.trim()).join(" ");
    if (cmdline) args.push("-append", cmdline);
  }
  // snapshot=on: the guest writes to a throw-away overlay, never to the verified file in the cache.
  if (files.disk) args.push("-drive", `file=${escapeDriveValue(files.disk.path)},format=${files.disk.format},if=virtio,media=disk,snapshot=on`);
  if (flags.display === "none") args.push("-display", "none");
  else args.push("-display", "none", "-vnc", `127.0.0.1:${flags.display.vnc}`);
  args.push("-serial", flags.serial === "stdio" ? "stdio" : `file:${flags.serial.file}`);
  // No monitor on stdio (it would share the console), and exit instead of rebooting so a
  // guest's poweroff/panic ends the boot with a status.
  args.push("-monitor", "none", "-no-reboot");
  const fwd = (flags.forwards ?? []).map((f) => `,hostfwd=${f.proto}:127.0.0.1:${f.host}-:${f.guest}`).join("");
  if (flags.net === "user") args.push("-nic", `user,model=${NIC_MODEL[flags.arch]}${fwd}`);
  else args.push("-nic", "none");
  return { binary: `qemu-system-${flags.arch}`, args, accel };
}

/** QEMU option values separate keys with commas; a literal comma is written twice. */
function escapeDriveValue(path: string): string {
  return path.replaceAll(",", ",,");
}

/**
 * Shell quoting, so `--dry-run` prints a line that can be pasted as is: plain words bare,
 * others in '...'. A word with control characters (or bidi overrides) is written as $'...'
 * (POSIX.1-2024, bash, zsh, ksh) with each such character's UTF-8 bytes as 3-digit octal
 * escapes, so the printed line never carries a raw control character to the terminal.
 */
export function shellQuote(word: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  if (!hasTerminalControls(word)) return `'${word.replaceAll("'", `'\\''`)}'`;
  let out = "$'";
  for (const ch of word) {
    if (ch === "'" || ch === "\\") out += `\\${ch}`;
    else if (hasTerminalControls(ch)) for (const b of new TextEncoder().encode(ch)) out += `\\${b.toString(8).padStart(3, "0")}`;
    else out += ch;
  }
  return `${out}'`;
}

export function shellLine(cmd: { binary: string; args: string[] }): string {
  return [cmd.binary, ...cmd.args].map(shellQuote).join(" ");
}

export const QEMU_PACKAGES: Record<Arch, string> = {
  x86_64: "Debian/Ubuntu: sudo apt-get install qemu-system-x86 · Fedora: sudo dnf install qemu-system-x86-core · macOS: brew install qemu",
  aarch64: "Debian/Ubuntu: sudo apt-get install qemu-system-arm · Fedora: sudo dnf install qemu-system-aarch64-core · macOS: brew install qemu",
  riscv64: "Debian/Ubuntu: sudo apt-get install qemu-system-misc · Fedora: sudo dnf install qemu-system-riscv-core · macOS: brew install qemu",
};
