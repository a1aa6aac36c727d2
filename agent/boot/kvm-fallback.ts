/**
 * `--kvm auto` that works or steps aside: on hosts where /dev/kvm exists but KVM cannot run the
 * guest (nested virtualisation missing an MSR, say), QEMU aborts within its first seconds. Then
 * the boot is tried once more under TCG, with a line saying why; `--kvm on` stays strict.
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

export async function runWithKvmFallback(build: (kvm: boolean) => QemuCommand, run: (cmd: QemuCommand) => Promise<number>, o: FallbackOptions): Promise<number> {
  const now = o.now ?? Date.now;
  const first = build(true);
  const started = now();
  const code = await run(first);
  const elapsed = now() - started;
  if (code === 0 || first.accel !== "kvm" || !o.auto || o.interrupted() || elapsed >= KVM_EARLY_FAILURE_MS) return code;
  o.warn(`QEMU stopped after ${(elapsed / 1000).toFixed(1)} s under KVM (exit ${code}): KVM does not seem to work on this host; booting again with TCG (software emulation). --kvm off skips KVM; --kvm on keeps it strict.`);
  return run(build(false));
}
