/**
 * serve's VMs under `--kvm auto` on a host where KVM dies at once: the same VM boots again under
 * TCG (the serial log says why) instead of ending in `error`; a strict KVM boot and a guest that
 * fails under TCG are not retried. Real processes: the fake QEMU of the serve tests.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { writeFakeQemu } from "../../test/helpers/serve-fixtures.js";
import { readSerialTail, type VmInfo, VmSupervisor } from "./vm.js";

const work = mkdtempSync(join(tmpdir(), "pixelrts-vm-"));
const qemu = join(writeFakeQemu(work), "qemu-system-x86_64");
const argv = (accel: "kvm" | "tcg", append: string) => ["-accel", accel, "-m", "256M", "-smp", "1", "-serial", "stdio", "-append", append];
let vms: VmSupervisor | undefined;

afterEach(async () => {
  await vms?.close();
  vms = undefined;
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

const ended = (v: VmInfo) => v.status === "error" || v.status === "stopped";

/** Boots one VM; resolves with its states in order once `done` says so (or it ends). */
async function boot(spec: { accel: "kvm" | "tcg"; args: string[]; tcgArgs?: string[] }, done: (v: VmInfo) => boolean, maxSerialLogBytes?: number) {
  vms = new VmSupervisor({ runDir: work, stopTimeoutMs: 2000, killTimeoutMs: 2000, ...(maxSerialLogBytes ? { maxSerialLogBytes } : {}) });
  const { vm_id } = vms.create({ id: "demo", name: "demo" });
  const states: Pick<VmInfo, "status" | "accel">[] = [];
  const reached = new Promise<VmInfo>((resolve) =>
    vms!.on("state", (v) => {
      if (v.vm_id !== vm_id) return;
      const last = states[states.length - 1];
      if (!last || last.status !== v.status || last.accel !== v.accel) states.push({ status: v.status, accel: v.accel });
      if (done(v) || ended(v)) resolve(v);
    }),
  );
  await vms.launch(vm_id, { binaryPath: qemu, memory: "256M", cpus: 1, ...spec });
  const info = await reached;
  return { vm_id, info, states, log: () => readFileSync(vms!.serialLog(vm_id)!.path, "utf8") };
}

describe("a VM whose QEMU dies at once under KVM (--kvm auto)", () => {
  it("boots again under TCG in the same VM, and the serial log says why", async () => {
    const r = await boot({ accel: "kvm", args: argv("kvm", "console=ttyS0 kvm-broken"), tcgArgs: argv("tcg", "console=ttyS0 kvm-broken") }, (v) => v.status === "running" && v.accel === "tcg");
    expect(r.info).toMatchObject({ status: "running", accel: "tcg", error_code: null });
    // QMP is up (and may already say "running") before KVM fails at the guest's first instruction
    expect(r.states.filter((s) => s.accel === "tcg")).toEqual([
      { status: "booting", accel: "tcg" },
      { status: "running", accel: "tcg" },
    ]);
    expect(r.states[0]).toEqual({ status: "booting", accel: "kvm" });
    const log = r.log();
    expect(log).toMatch(/\[pixelrts\] QEMU stopped after \d+\.\d s under KVM \(exit 134: kvm_buf_set_msrs: Assertion failed\.\): KVM does not seem to work on this host; booting again with TCG/);
    expect(log).toContain("PIXELRTS-BOOT-OK kernel=fake");
    const stopped = await vms!.stop(r.vm_id);
    expect(stopped).toMatchObject({ status: "stopped", stopped_by: "powerdown" });
  });

  it("is not retried without a TCG command (--kvm on), nor when TCG fails too", async () => {
    const strict = await boot({ accel: "kvm", args: argv("kvm", "kvm-broken") }, () => false);
    expect(strict.info).toMatchObject({ status: "error", error_code: "E_QEMU_FAILED", exit_code: 134, accel: "kvm" });
    await vms!.close();
    const both = await boot({ accel: "kvm", args: argv("kvm", "crash"), tcgArgs: argv("tcg", "crash") }, () => false);
    expect(both.info).toMatchObject({ status: "error", error_code: "E_QEMU_FAILED", exit_code: 3, accel: "tcg" });
    expect(both.info.error_message).toContain("could not load the kernel");
  });
});

describe("the serial log", () => {
  it("stops growing at its cap, and its tail is read from what it holds (regression: offsets past the file)", async () => {
    const r = await boot({ accel: "tcg", args: argv("tcg", "console=ttyS0") }, (v) => v.status === "running", 40);
    // the fake prints its firmware line and the marker (well over 40 bytes) when it starts
    if (vms!.serialLog(r.vm_id)!.bytes <= 40) await new Promise<void>((resolve) => vms!.on("serial", () => vms!.serialLog(r.vm_id)!.bytes > 40 && resolve()));
    const log = vms!.serialLog(r.vm_id)!;
    expect(log.bytes).toBeGreaterThan(40);
    expect(log.logged).toBe(40);
    expect(readFileSync(log.path).length).toBe(40); // cut inside the chunk that crossed the cap, not dropped
    const tail = await readSerialTail(log.path, log.logged, 10);
    expect(tail).toEqual({ offset: 30, text: readFileSync(log.path, "utf8").slice(30) });
  });
});
