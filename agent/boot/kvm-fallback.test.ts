import { describe, expect, it } from "vitest";
import { runWithKvmFallback } from "./kvm-fallback.js";
import type { QemuCommand } from "./qemu-argv.js";

const cmd = (kvm: boolean): QemuCommand => ({ binary: "qemu-system-x86_64", args: kvm ? ["-accel", "kvm"] : ["-accel", "tcg"], accel: kvm ? "kvm" : "tcg" });

/** A fake QEMU run: each call takes `ms` on a fake clock and exits with the next code. */
function fakeRuns(results: { code: number; ms: number }[]) {
  let clock = 0;
  const calls: string[] = [];
  const warnings: string[] = [];
  const run = async (c: QemuCommand) => {
    calls.push(c.accel);
    const r = results.shift()!;
    clock += r.ms;
    return r.code;
  };
  return { run, calls, warnings, now: () => clock, warn: (l: string) => void warnings.push(l) };
}

describe("--kvm auto falls back to TCG when KVM dies at once", () => {
  it("an abort within the first seconds under KVM is retried once with TCG, saying why", async () => {
    const f = fakeRuns([{ code: 134, ms: 800 }, { code: 0, ms: 3000 }]);
    expect(await runWithKvmFallback(cmd, f.run, { auto: true, warn: f.warn, interrupted: () => false, now: f.now })).toBe(0);
    expect(f.calls).toEqual(["kvm", "tcg"]);
    expect(f.warnings).toEqual([expect.stringMatching(/^QEMU stopped after 0\.8 s under KVM \(exit 134\).*booting again with TCG.*--kvm on keeps it strict/)]);
  });

  it.each([
    ["a guest that ran for a while and failed", { code: 1, ms: 60_000 }, { auto: true, interrupted: false }],
    ["a clean exit", { code: 0, ms: 500 }, { auto: true, interrupted: false }],
    ["a boot the user interrupted", { code: 130, ms: 500 }, { auto: true, interrupted: true }],
    ["--kvm on (strict)", { code: 134, ms: 500 }, { auto: false, interrupted: false }],
  ])("no retry for %s", async (_what, result, o) => {
    const f = fakeRuns([result]);
    expect(await runWithKvmFallback(cmd, f.run, { auto: o.auto, warn: f.warn, interrupted: () => o.interrupted, now: f.now })).toBe(result.code);
    expect(f.calls).toEqual(["kvm"]);
    expect(f.warnings).toEqual([]);
  });

  it("no retry when KVM was not chosen in the first place", async () => {
    const f = fakeRuns([{ code: 134, ms: 100 }]);
    const tcgOnly = () => cmd(false);
    expect(await runWithKvmFallback(tcgOnly, f.run, { auto: true, warn: f.warn, interrupted: () => false, now: f.now })).toBe(134);
    expect(f.calls).toEqual(["tcg"]);
  });
});
