/**
 * `--kvm auto` that works or steps aside: on hosts where /dev/kvm exists but KVM cannot run the
 * guest (nested virtualisation missing an MSR, say), QEMU aborts within its first seconds. Then
 * the boot is tried once more under TCG, with a line saying why; `--kvm on` stays strict. The
 * rule is shared by `pixelrts boot` (runWithKvmFallback) and serve's VMs (boot/vm.ts).
 */
import type { QemuCommand } from "./qemu-argv.js";

/** A failure this early under KVM is taken as "KVM does not work here". */
export const KVM_EARLY_FAILURE_MS = 10_000;

export interface FallbackOptions {
  /** Whether `--kvm auto` chose KVM (only then is TCG tried). */
  auto: boolean;
  warn: (line: string) => void;
  /** True once the user interrupted the boot: never retried. */
  interrupted: () => boolean;
  now?: () => number;
}

/** Whether a QEMU that exited with `code` after `elapsedMs` under `accel` is tried again with TCG. */
export function fallsBackToTcg(r: { code: number | null; accel: "kvm" | "tcg"; auto: boolean; interrupted: boolean; elapsedMs: number }): boolean {
  return r.code !== 0 && r.accel === "kvm" && r.auto && !r.interrupted && r.elapsedMs < KVM_EARLY_FAILURE_MS;
}

/** The line saying why the boot starts again under TCG. */
export function kvmFallbackMessage(elapsedMs: number, exit: string): string {
  return `QEMU stopped after ${(elapsedMs / 1000).toFixed(1)} s under KVM (${exit}): KVM does not seem to work on this host; booting again with TCG (software emulation). --kvm off skips KVM; --kvm on keeps it strict.`;
}

export async function runWithKvmFallback(build: (kvm: boolean) => QemuCommand, run: (cmd: QemuCommand) => Promise<number>, o: FallbackOptions): Promise<number> {
  const now = o.now ?? Date.now;
  const first = build(true);
  const started = now();
  const code = await run(first);
  const elapsed = now() - started;
  if (!fallsBackToTcg({ code, accel: first.accel, auto: o.auto, interrupted: o.interrupted(), elapsedMs: elapsed })) return code;
  o.warn(kvmFallbackMessage(elapsed, `exit ${code}`));
  return run(build(false));
}
