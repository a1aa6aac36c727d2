/**
 * Booting a catalog entry for `POST /api/v1/catalog/{id}/boot`: the same steps as `pixelrts
 * boot` — pull if needed (verified), unpack the hash-checked boot files, resolve the settings
 * (request > serve's flags > the container's > defaults, every value through the boot-settings
 * grammar), build QEMU's argv — then QEMU is started under the VM supervisor (agent/boot/vm.ts)
 * with a QMP socket, a VNC display and the serial console to a log, instead of the terminal.
 *
 * The answer comes once QEMU is started (pid and VNC port known) or the boot has failed, or after
 * `waitMs` (a long pull): then `success: true` with `pid: null`, and the status route (or the
 * `vm` events) tell the rest, as the original client expects (it polls while `booting`).
 */
import { PixelRtsError, isPixelRtsError } from "../../shared/errors.js";
import { buildQemuCommand } from "../boot/qemu-argv.js";
import { kvmUsable, requireQemu } from "../boot/run-qemu.js";
import { resolveBootSettings, type BootFlagValues } from "../boot/settings.js";
import { unpackForBoot } from "../boot/unpack.js";
import type { VmInfo, VmSupervisor } from "../boot/vm.js";
import type { AgentContext } from "../context.js";
import type { Item } from "./catalog-view.js";
import type { PullManager } from "./pulls.js";
import type { BootRequest } from "./validate.js";

/** The original catalog server's BootResponse, plus our fields. */
export interface BootResponse {
  success: boolean;
  entry_id: string;
  entry_name: string;
  vnc_port: number | null;
  pid: number | null;
  error_message: string | null;
  vm_id: string;
  status: VmInfo["status"];
  vnc_host: string;
  error_code: string | null;
}

export interface BootDeps {
  agent: AgentContext;
  vms: VmSupervisor;
  pulls: PullManager;
  /** serve's --kvm/--memory/--cpus/--net, checked at start (display none, serial stdio). */
  defaults: BootFlagValues;
  waitMs: number;
  /** Publishes `boot` events on the bus: `note` and `boot` as `pixelrts boot --json` prints them. */
  publish: (data: Record<string, unknown>) => void;
}

export async function bootEntry(deps: BootDeps, item: Item, req: BootRequest): Promise<BootResponse> {
  const { vms } = deps;
  const { vm_id, signal } = vms.create({ id: item.entry.id, name: item.entry.name });
  const settled = new Promise<VmInfo>((resolve) => {
    const check = (v: VmInfo) => {
      if (v.vm_id !== vm_id || (v.pid === null && (v.status === "booting" || v.status === "running"))) return;
      vms.off("state", check);
      resolve(v);
    };
    vms.on("state", check);
    setTimeout(() => {
      vms.off("state", check);
      resolve(vms.get(vm_id)!);
    }, deps.waitMs).unref();
  });
  void run(deps, item, req, vm_id, signal).catch((e) => vms.fail(vm_id, e));
  const v = await settled;
  return {
    success: v.status !== "error" && v.status !== "stopped",
    entry_id: item.entry.id,
    entry_name: item.entry.name,
    vnc_port: v.pid !== null ? v.vnc_port : null,
    pid: v.pid,
    error_message: v.error_message ?? (v.status === "stopped" ? "the VM was stopped before it started" : null),
    vm_id,
    status: v.status,
    vnc_host: v.vnc_host,
    error_code: v.error_code,
  };
}

async function run(deps: BootDeps, item: Item, req: BootRequest, vm_id: string, signal: AbortSignal): Promise<void> {
  const { agent, vms } = deps;
  const got = await deps.pulls.start(item, { vm_id, signal, hold: true }).done;
  // Held until the VM ends: LRU eviction must not remove the file it was unpacked from.
  void vms.ended(vm_id).then(() => got.release());
  const tag = { ref: item.entry.id, vm_id, entry_id: item.entry.id };
  const unpacked = await unpackForBoot(got.path, agent.paths.cacheDir);
  for (const w of unpacked.warnings) deps.publish({ event: "note", ...tag, message: w });
  const given = new Set(deps.defaults.given);
  for (const k of ["memory", "cpus"] as const) if (req[k] !== undefined) given.add(k);
  if (req.cmdline !== undefined) given.add("append");
  const flags: BootFlagValues = {
    ...deps.defaults,
    ...(req.memory !== undefined ? { memory: req.memory } : {}),
    ...(req.cpus !== undefined ? { cpus: req.cpus } : {}),
    ...(req.cmdline !== undefined ? { append: req.cmdline } : {}),
    display: "none",
    serial: "stdio",
    given,
    // the request's memory/cpus are capped at the host; serve's own --memory/--cpus are not
    requested: new Set((["memory", "cpus"] as const).filter((k) => req[k] !== undefined)),
  };
  let resolved;
  try {
    resolved = resolveBootSettings(flags, unpacked.boot, kvmUsable);
  } catch (e) {
    // The settings' own messages name flags (--append …); here they are the request's fields.
    if (isPixelRtsError(e) && e.code === "E_USAGE") throw new PixelRtsError("E_BAD_REQUEST", e.message.replace(/^--append\b/, "cmdline"));
    throw e;
  }
  for (const n of resolved.notes) deps.publish({ event: "note", ...tag, message: n });
  const cmd = buildQemuCommand(unpacked.files, resolved.flags);
  const binaryPath = requireQemu(resolved.flags.arch, cmd.binary);
  const { line: _line, ...signature } = got.trust;
  deps.publish({ event: "boot", ...tag, binary: cmd.binary, accel: cmd.accel, signature, forwards: resolved.flags.forwards ?? [] });
  // --kvm auto that chose KVM: the TCG command, in case KVM dies at once on this host
  const tcgArgs = cmd.accel === "kvm" && resolved.flags.kvm === "auto" ? buildQemuCommand(unpacked.files, { ...resolved.flags, kvmAvailable: false }).args : undefined;
  await vms.launch(vm_id, { binaryPath, args: cmd.args, accel: cmd.accel, memory: resolved.flags.memory, cpus: resolved.flags.cpus, ...(tcgArgs ? { tcgArgs } : {}) });
}
