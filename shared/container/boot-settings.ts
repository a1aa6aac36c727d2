/**
 * The grammar of boot settings (spec §6.3 `boot`, §6.4): what a container, or a flag, may say
 * about how to boot it. These values become QEMU arguments, so each must be plain data: never
 * QEMU option syntax (a `,` or `=` turns `-machine q35` into `-machine q35,initrd=/etc/hostname`,
 * which loads a host file into the guest), never a path on the boot host, never a control
 * character. One rule per field:
 *
 * | field   | rule |
 * |---------|------|
 * | arch    | one of x86_64, aarch64, riscv64 |
 * | machine | a bare machine type: a letter, then letters/digits, parts joined by `.` `_` `-` (q35, pc, virt, microvm, pc-q35-8.2, pc-i440fx-7.2, sifive_u); ≤ 64 characters; not `help`; never `,` or `=` |
 * | memory  | a string: digits (no leading 0) and an optional K, M, G or T suffix (none = MiB, as QEMU reads it), between 16 MiB and 1 TiB |
 * | cpus    | an integer from 1 to 256 (a JSON number in a container; decimal digits in a flag) |
 * | cmdline | a string of at most 4096 bytes (UTF-8) with no control character (C0 incl. NUL, CR, LF, TAB; DEL; C1) |
 * | segment type | a name: a letter or digit, then up to 63 of letters, digits, `.` `_` `-` |
 *
 * The checks return a reason instead of throwing so that each caller names the source: the
 * container's field (E_METADATA_INVALID) or the flag (E_USAGE).
 */
import type { BootConfig } from "./types.js";

export const ARCHES = ["x86_64", "aarch64", "riscv64"] as const;
export type Arch = (typeof ARCHES)[number];

export const MIB = 1024 * 1024;
/** Smallest guest memory accepted: below this no kernel boots, and a typo like `16K` is caught. */
export const MEMORY_MIN_BYTES = 16 * MIB;
/** Largest guest memory accepted (1 TiB): a container cannot ask the host for more. */
export const MEMORY_MAX_BYTES = 1024 * 1024 * MIB;
export const CPUS_MAX = 256;
/** The kernel's own limit on x86-64 and arm64 is 2048 (COMMAND_LINE_SIZE), some arches 4096. */
export const CMDLINE_MAX_BYTES = 4096;

export type Check<T> = { ok: true; value: T } | { ok: false; why: string };

const ok = <T>(value: T): Check<T> => ({ ok: true, value });
const no = <T>(why: string): Check<T> => ({ ok: false, why });

/** A value for a message: JSON-quoted (control characters escaped), cut to 80 characters. */
export function shown(v: unknown): string {
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > 80 ? `${s.slice(0, 79)}…` : s;
}

const typeName = (v: unknown) => (v === null ? "null" : Array.isArray(v) ? "an array" : `a ${typeof v}`);

export function checkArch(v: unknown): Check<Arch> {
  if (typeof v !== "string") return no(`must be a string (one of ${ARCHES.join(", ")}), got ${typeName(v)}`);
  return (ARCHES as readonly string[]).includes(v) ? ok(v as Arch) : no(`must be one of ${ARCHES.join(", ")}, got ${shown(v)}`);
}

const MACHINE = /^[A-Za-z][A-Za-z0-9]*(?:[._-][A-Za-z0-9]+)*$/;

export function checkMachine(v: unknown): Check<string> {
  const rule = "a bare machine type such as q35, pc, virt, microvm or pc-q35-8.2 (letters, digits, '.', '_', '-'; no ',' or '=' properties)";
  if (typeof v !== "string") return no(`must be ${rule}, got ${typeName(v)}`);
  if (v.length > 64 || !MACHINE.test(v) || v.toLowerCase() === "help") return no(`must be ${rule}, got ${shown(v)}`);
  return ok(v);
}

const MEMORY = /^([1-9][0-9]{0,12})([KMGT]?)$/i;
const UNIT: Record<string, number> = { K: 1024, M: MIB, G: 1024 * MIB, T: 1024 * 1024 * MIB };

/** A QEMU `-m` size; the value returned has its suffix upper-cased (`512m` → `512M`). */
export function checkMemory(v: unknown): Check<string> {
  const rule = "a size like 512M or 2G (digits and K, M, G or T; no suffix means MiB) from 16M to 1T";
  if (typeof v !== "string") return no(`must be a string, ${rule}, got ${typeName(v)}`);
  const m = MEMORY.exec(v);
  if (!m) return no(`must be ${rule}, got ${shown(v)}`);
  const suffix = m[2]!.toUpperCase();
  const bytes = Number(m[1]) * (UNIT[suffix] ?? MIB);
  if (bytes < MEMORY_MIN_BYTES || bytes > MEMORY_MAX_BYTES) return no(`must be ${rule}, got ${shown(v)}`);
  return ok(`${m[1]}${suffix}`);
}

export function checkCpus(v: unknown): Check<number> {
  if (typeof v !== "number" || !Number.isInteger(v)) return no(`must be an integer from 1 to ${CPUS_MAX}, got ${typeof v === "number" ? shown(v) : typeName(v)}`);
  return v >= 1 && v <= CPUS_MAX ? ok(v) : no(`must be an integer from 1 to ${CPUS_MAX}, got ${v}`);
}

/** The `--cpus` flag: decimal digits only (no `0x10`, `1e2` or ` 4` that Number() would take). */
export function checkCpusText(v: string): Check<number> {
  return /^[0-9]{1,4}$/.test(v) ? checkCpus(Number(v)) : no(`must be an integer from 1 to ${CPUS_MAX}, got ${shown(v)}`);
}

// C0 (NUL, TAB, LF, CR, ESC ...), DEL and C1.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

export function checkCmdline(v: unknown): Check<string> {
  if (typeof v !== "string") return no(`must be a string, got ${typeName(v)}`);
  const c = CONTROL.exec(v);
  if (c) return no(`must not contain control characters (found ${shown(c[0])} at index ${c.index})`);
  const bytes = new TextEncoder().encode(v).length;
  if (bytes > CMDLINE_MAX_BYTES) return no(`must be at most ${CMDLINE_MAX_BYTES} bytes, got ${bytes}`);
  return ok(v);
}

const SEGMENT_TYPE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function checkSegmentType(v: unknown): Check<string> {
  if (typeof v !== "string") return no(`must be a string, got ${typeName(v)}`);
  return SEGMENT_TYPE.test(v) ? ok(v) : no(`must be a name of letters, digits, '.', '_', '-' (at most 64), got ${shown(v)}`);
}

/** A container's `boot` object, every field present checked; `where(field, why)` throws. */
export function checkBootObject(boot: unknown, where: (field: string, why: string) => never): { arch?: Arch; machine?: string; memory?: string; cpus?: number; cmdline?: string } {
  if (boot === undefined) return {};
  if (typeof boot !== "object" || boot === null || Array.isArray(boot)) where("boot", `must be an object, got ${typeName(boot)}`);
  const b = boot as BootConfig;
  const out: ReturnType<typeof checkBootObject> = {};
  const take = <K extends keyof typeof out>(key: K, check: (v: unknown) => Check<NonNullable<(typeof out)[K]>>) => {
    if (b[key] === undefined) return;
    const r = check(b[key]);
    if (!r.ok) where(`boot.${key}`, r.why);
    out[key] = r.value;
  };
  take("arch", checkArch);
  take("machine", checkMachine);
  take("memory", checkMemory);
  take("cpus", checkCpus);
  take("cmdline", checkCmdline);
  return out;
}
