/**
 * The settings of one boot: each value from a flag, else from the container's `boot` object,
 * else a default, and every one checked against the grammar in
 * shared/container/boot-settings.ts before it can reach QEMU. A bad container value is
 * E_METADATA_INVALID naming the container's field ("the container's boot.machine ..."); a bad
 * flag is E_USAGE naming the flag ("--machine ..."). `provenance` records where each value came
 * from, for `boot --dry-run`.
 */
import { checkArch, checkBootObject, checkCmdline, checkCpusText, checkMachine, checkMemory, checkSegmentType, CMDLINE_MAX_BYTES, shown, type Arch, type Check } from "../../shared/container/boot-settings.js";
import { defaultCmdline } from "../../shared/container/bundle.js";
import type { PixelRtsMetadata } from "../../shared/container/types.js";
import { availableParallelism, totalmem } from "node:os";
import { fail } from "../../shared/errors.js";
import type { CommandContext } from "../cli/command.js";
import { DEFAULT_MACHINE, type BootFlags, type KvmMode, type PortForward } from "./qemu-argv.js";

/** What a container's metadata says about booting it, every field checked. */
export interface ContainerBootSettings {
  arch?: Arch;
  machine?: string;
  memory?: string;
  cpus?: number;
  cmdline?: string;
}

export type Origin = "flag" | "container" | "default";
export type Provenance = Record<"arch" | "machine" | "memory" | "cpus" | "cmdline" | "append" | "kvm" | "display" | "serial" | "net", Origin>;

export interface ResolvedBoot {
  flags: BootFlags;
  provenance: Provenance;
  /** What was changed from the container's wishes, for people (e.g. memory capped to the host). */
  notes: string[];
}

/** What this host can give a guest; a container may not ask for more (flags may). */
export interface HostLimits {
  memoryBytes: number;
  cpus: number;
}

export function hostLimits(): HostLimits {
  return { memoryBytes: totalmem(), cpus: availableParallelism() };
}

const memoryBytes = (m: string) => Number(/^\d+/.exec(m)![0]) * ({ K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 }[m.slice(-1)] ?? 1024 ** 2);

const fieldName = (name: string) => (/^[A-Za-z0-9._-]{1,64}$/.test(name) ? name : `[${shown(name)}]`);

/**
 * Checks everything in a container's metadata that decides how it is booted: the `boot` object
 * and the types of its segments. Throws E_METADATA_INVALID naming the field.
 */
export function containerBootSettings(m: PixelRtsMetadata): ContainerBootSettings {
  const bad = (field: string, why: string): never => fail("E_METADATA_INVALID", `the container's ${field} ${why}`, { field });
  const boot = checkBootObject(m.boot, bad);
  if (m.type !== undefined && typeof m.type !== "string") bad("type", `must be a string, got ${shown(m.type)}`);
  for (const key of ["offsets", "segments"] as const) {
    const table = m[key];
    if (table === undefined) continue;
    for (const [name, seg] of Object.entries(table)) {
      if (typeof seg !== "object" || seg === null || Array.isArray(seg)) bad(`${key}.${fieldName(name)}`, `must be an object, got ${shown(seg)}`);
      if (seg.type === undefined) continue;
      const r = checkSegmentType(seg.type);
      if (!r.ok) bad(`${key}.${fieldName(name)}.type`, r.why);
    }
  }
  return boot;
}

/** The boot flags, each checked (E_USAGE naming the flag) before anything is fetched. */
export interface BootFlagValues {
  arch?: Arch;
  machine?: string;
  memory?: string;
  cpus?: number;
  append?: string;
  kvm: KvmMode;
  display: BootFlags["display"];
  serial: BootFlags["serial"];
  net: BootFlags["net"];
  forwards: PortForward[];
  /** Names of the flags given on the command line. */
  given: ReadonlySet<string>;
  /**
   * `memory`/`cpus` that came from a boot request (serve's HTTP API), not from the host's own
   * user: capped at the host like a container's wishes.
   */
  requested?: ReadonlySet<"memory" | "cpus">;
}

/** A flag's value through the grammar: E_USAGE naming the flag. */
export function checkedFlag<T>(values: CommandContext["values"], name: string, check: (v: string) => Check<T>): T | undefined {
  const v = values[name];
  if (v === undefined) return undefined;
  if (typeof v !== "string") fail("E_USAGE", `--${name} takes a value`);
  const r = check(v);
  if (!r.ok) fail("E_USAGE", `--${name} ${r.why}`);
  return r.value;
}

function choice<T extends string>(values: CommandContext["values"], name: string, allowed: readonly T[], fallback: T): T {
  const v = (values[name] as string | undefined) ?? fallback;
  if (!(allowed as readonly string[]).includes(v)) fail("E_USAGE", `--${name} must be ${allowed.slice(0, -1).join(", ")} or ${allowed[allowed.length - 1]}, got ${shown(v)}`);
  return v as T;
}

/** `given`: the flags on the command line (default: every flag with a value, for callers that apply no defaults). */
export function parseBootFlags(values: CommandContext["values"], given: ReadonlySet<string> = new Set(Object.keys(values).filter((k) => values[k] !== undefined))): BootFlagValues {
  const displayText = (values.display as string | undefined) ?? "none";
  const vnc = /^vnc(?::(\d{1,2}))?$/.exec(displayText);
  if (displayText !== "none" && !vnc) fail("E_USAGE", `--display must be none or vnc[:N], got ${shown(displayText)}`);
  const serialText = (values.serial as string | undefined) ?? "stdio";
  if (serialText !== "stdio" && !(serialText.startsWith("file:") && serialText.length > 5)) fail("E_USAGE", `--serial must be stdio or file:PATH, got ${shown(serialText)}`);
  const optional = <T>(key: string, v: T | undefined) => (v === undefined ? {} : { [key]: v });
  const net = choice(values, "net", ["user", "none"] as const, "user");
  const forwards = ((values.forward as string[] | undefined) ?? []).map(parseForward);
  if (forwards.length && net !== "user") fail("E_USAGE", "--forward needs user networking (--net user)");
  return {
    ...optional("arch", checkedFlag(values, "arch", checkArch)),
    ...optional("machine", checkedFlag(values, "machine", checkMachine)),
    ...optional("memory", checkedFlag(values, "memory", checkMemory)),
    ...optional("cpus", checkedFlag(values, "cpus", checkCpusText)),
    ...optional("append", checkedFlag(values, "append", checkCmdline)),
    kvm: choice<KvmMode>(values, "kvm", ["auto", "on", "off"], "auto"),
    display: vnc ? { vnc: Number(vnc[1] ?? 0) } : "none",
    serial: serialText === "stdio" ? "stdio" : { file: serialText.slice(5) },
    net,
    forwards,
    given,
  };
}

/** `tcp:2222:22` (host port 2222 on 127.0.0.1 → guest port 22); `udp:` likewise. */
export function parseForward(text: string): PortForward {
  const m = /^(tcp|udp):(\d{1,5}):(\d{1,5})$/i.exec(text);
  const port = (p: string | undefined) => (p !== undefined && Number(p) >= 1 && Number(p) <= 65535 ? Number(p) : undefined);
  const host = port(m?.[2]);
  const guest = port(m?.[3]);
  if (!m || host === undefined || guest === undefined) fail("E_USAGE", `--forward takes PROTO:HOST_PORT:GUEST_PORT like tcp:2222:22 (ports 1-65535), got ${shown(text)}`);
  return { proto: m[1]!.toLowerCase() as "tcp" | "udp", host, guest };
}

/**
 * Flags over container values over defaults. `kvmUsable(arch)` says whether KVM can run this
 * guest here (asked only when --kvm is not off).
 */
export function resolveBootSettings(flags: BootFlagValues, container: ContainerBootSettings, kvmUsable: (arch: Arch) => boolean, host: HostLimits = hostLimits()): ResolvedBoot {
  const from = <T>(flagValue: T | undefined, containerValue: T | undefined, fallback: T): [T, Origin] =>
    flagValue !== undefined ? [flagValue, "flag"] : containerValue !== undefined ? [containerValue, "container"] : [fallback, "default"];
  const notes: string[] = [];
  const [arch, archFrom] = from(flags.arch, container.arch, "x86_64" as Arch);
  const [machine, machineFrom] = from(flags.machine, container.machine, DEFAULT_MACHINE[arch]);
  let [memory, memoryFrom] = from(flags.memory, container.memory, "512M");
  let [cpus, cpusFrom] = from(flags.cpus, container.cpus, 1);
  // A container (or a remote requester) may not take the host down: its wishes are capped at half
  // the host's memory and at the host's CPUs (a flag, the user's own choice, is not).
  const asker = (field: "memory" | "cpus", origin: Origin) => (origin === "container" ? "the container" : flags.requested?.has(field) ? "the boot request" : undefined);
  const memCap = Math.max(64, Math.floor(host.memoryBytes / 2 / 1024 ** 2));
  const memAsker = asker("memory", memoryFrom);
  if (memAsker && memoryBytes(memory) > memCap * 1024 ** 2) {
    notes.push(`${memAsker} asks for ${memory} of memory; this host has ${Math.round(host.memoryBytes / 1024 ** 3)} GiB: using ${memCap}M (--memory overrides)`);
    memory = `${memCap}M`;
  }
  const cpusAsker = asker("cpus", cpusFrom);
  if (cpusAsker && cpus > host.cpus) {
    notes.push(`${cpusAsker} asks for ${cpus} CPUs; this host has ${host.cpus}: using ${host.cpus} (--cpus overrides)`);
    cpus = host.cpus;
  }
  const [cmdline, cmdlineFrom] = from(undefined, container.cmdline, defaultCmdline(arch));
  if (flags.append !== undefined) {
    const total = new TextEncoder().encode(`${cmdline} ${flags.append}`).length;
    if (total > CMDLINE_MAX_BYTES) fail("E_USAGE", `--append makes the kernel command line ${total} bytes, over the ${CMDLINE_MAX_BYTES}-byte limit`);
  }
  const given = (name: string): Origin => (flags.given.has(name) ? "flag" : "default");
  return {
    flags: {
      arch,
      memory,
      cpus,
      machine,
      kvm: flags.kvm,
      kvmAvailable: flags.kvm === "off" ? false : kvmUsable(arch),
      display: flags.display,
      serial: flags.serial,
      cmdline,
      ...(flags.append !== undefined ? { append: flags.append } : {}),
      net: flags.net,
      ...(flags.forwards.length ? { forwards: flags.forwards } : {}),
    },
    provenance: {
      arch: archFrom,
      machine: machineFrom,
      memory: memoryFrom,
      cpus: cpusFrom,
      cmdline: cmdlineFrom,
      append: given("append"),
      kvm: given("kvm"),
      display: given("display"),
      serial: given("serial"),
      net: given("net"),
    },
    notes,
  };
}

/** One line for people: which value came from where (`boot --dry-run` prints it on stderr). */
export function describeProvenance(r: ResolvedBoot, quote: (s: string) => string): string {
  const f = r.flags;
  const value: Record<keyof Provenance, string | undefined> = {
    arch: f.arch,
    machine: f.machine,
    memory: f.memory,
    cpus: String(f.cpus),
    cmdline: f.cmdline,
    append: f.append,
    kvm: f.kvm,
    display: f.display === "none" ? "none" : `vnc:${f.display.vnc}`,
    serial: f.serial === "stdio" ? "stdio" : `file:${f.serial.file}`,
    net: f.net,
  };
  const group = (origin: Origin) =>
    (Object.keys(r.provenance) as (keyof Provenance)[])
      .filter((k) => r.provenance[k] === origin && value[k] !== undefined)
      .map((k) => `${k}=${quote(value[k]!)}`)
      .join(" ") || "-";
  return `# from the container: ${group("container")}; from flags: ${group("flag")}; defaults: ${group("default")}`;
}
