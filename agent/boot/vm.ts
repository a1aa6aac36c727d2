/**
 * VM supervision for `pixelrts serve`: QEMU processes that outlive the request that started
 * them, each with its own id, serial log, QMP socket and VNC display.
 *
 * States (the original catalog server's `status`):
 *
 *   booting ──QMP says "running"──► running ──QEMU exits (status 0, or stopped by us)──► stopped
 *      │                              │
 *      │                              └──QEMU exits non-zero / killed by someone else──► error
 *      ├──the pull, the checks or the spawn fail──────────────────────────────────────► error
 *      └──stop() before QEMU started (the pull is aborted)────────────────────────────► stopped
 *
 * `booting` covers everything from the request on: fetching and verifying the container,
 * unpacking it, starting QEMU, and waiting for its QMP socket. `running` is what QEMU's own
 * `query-status` says (the guest's CPUs run), not a guess from the serial output. A status is
 * always the real process's: the exit handler is the only way out of `running`.
 *
 * Stopping asks the guest first (QMP `system_powerdown`, the ACPI power button), then, after
 * `stopTimeoutMs`, SIGTERM (QEMU shuts down cleanly), then, after `killTimeoutMs`, SIGKILL. A
 * guest without ACPI power-button handling (the test kernel's busybox init) ends at SIGTERM.
 *
 * The serial console is QEMU's stdout (`-serial stdio`): every chunk is appended to the VM's log
 * file synchronously (so the file and the byte offsets of `serial` events always agree) and
 * emitted as an event. QEMU's stderr is kept (last 8 KiB) for error messages.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { EventEmitter } from "node:events";
import { closeSync, existsSync, openSync, rmSync, watch, writeSync } from "node:fs";
import { open, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import { isPixelRtsError, PixelRtsError } from "../../shared/errors.js";
import { fallsBackToTcg, kvmFallbackMessage } from "./kvm-fallback.js";
import { QmpClient, type QmpEvent } from "./qmp.js";

export type VmStatus = "booting" | "running" | "stopped" | "error";

/** What `GET /api/v1/vms` and the `vm` events carry (stable: add fields, never rename). */
export interface VmInfo {
  vm_id: string;
  entry_id: string;
  entry_name: string;
  status: VmStatus;
  /** A stop was asked for and QEMU has not exited yet. */
  stopping: boolean;
  pid: number | null;
  /** ISO-8601: when QEMU was started. */
  started_at: string | null;
  stopped_at: string | null;
  /** Seconds since QEMU started (until it stopped, once it has). */
  uptime_seconds: number | null;
  vnc_host: string;
  vnc_port: number | null;
  error_code: string | null;
  error_message: string | null;
  exit_code: number | null;
  exit_signal: string | null;
  /** How it ended: the guest powered off, or which step of a stop ended it. */
  stopped_by: "guest" | "powerdown" | "sigterm" | "sigkill" | "before-start" | null;
  accel: "kvm" | "tcg" | null;
  memory: string | null;
  cpus: number | null;
  /** Bytes of serial output so far (the log's length). */
  serial_bytes: number;
}

export interface SerialChunk {
  vm_id: string;
  /** Byte offset of this chunk in the serial log. */
  offset: number;
  bytes: number;
  data: string;
}

export interface VmSupervisorOptions {
  /** Holds the QMP sockets and serial logs (created by the caller, removed by `close`). */
  runDir: string;
  /** The guest's time to power off after system_powerdown (default 30 s). */
  stopTimeoutMs?: number;
  /** QEMU's time to exit after SIGTERM, then SIGKILL (default 5 s). */
  killTimeoutMs?: number;
  /** QEMU must answer on QMP within this, or it is stopped as failed (default 30 s). */
  qmpTimeoutMs?: number;
  /** Ended VMs remembered (their logs kept) besides the live ones (default 50). */
  keepEnded?: number;
  /** Largest serial log kept per VM (default 16 MiB); later output still streams. */
  maxSerialLogBytes?: number;
  /** Address VNC listens on (default 127.0.0.1). */
  vncHost?: string;
}

export interface LaunchSpec {
  binaryPath: string;
  /** QEMU's arguments without -vnc and -qmp (added here). Must use `-serial stdio`. */
  args: string[];
  accel: "kvm" | "tcg";
  /**
   * `--kvm auto` chose KVM: the same boot under TCG, started once (in the same VM, the serial log
   * saying why) if QEMU fails within its first seconds under KVM (boot/kvm-fallback.ts).
   */
  tcgArgs?: string[];
  memory: string;
  cpus: number;
}

interface Vm {
  info: VmInfo;
  abort: AbortController;
  child?: ChildProcess;
  qmp?: QmpClient;
  display?: number;
  socket: string;
  log: string;
  logFd?: number;
  decoder: TextDecoder;
  stderr: string;
  exited: Promise<void>;
  markExited: () => void;
  stopping?: Promise<VmInfo>;
  /** The step of a stop under way: what ended it, if QEMU exits now. */
  stopStep?: "powerdown" | "sigterm" | "sigkill";
  startedMs?: number;
  stoppedMs?: number;
  /** Bytes in the serial log file (≤ maxSerialLogBytes; serial_bytes keeps counting past it). */
  logged: number;
  /** The QEMU process now running ended (a VM may run two: KVM, then TCG). */
  attemptExited?: Promise<void>;
  binaryPath?: string;
  tcgArgs?: string[];
}

const VM_ID = /^vm-[0-9a-f]{8}$/;

export function isVmId(s: string): boolean {
  return VM_ID.test(s);
}

export class VmSupervisor extends EventEmitter<{ state: [VmInfo]; serial: [SerialChunk] }> {
  private readonly vms = new Map<string, Vm>();
  private readonly o: Required<VmSupervisorOptions>;

  constructor(opts: VmSupervisorOptions) {
    super();
    this.o = { stopTimeoutMs: 30_000, killTimeoutMs: 5_000, qmpTimeoutMs: 30_000, keepEnded: 50, maxSerialLogBytes: 16 << 20, vncHost: "127.0.0.1", ...opts };
  }

  /** A new VM in `booting`, before anything is fetched. Its `signal` aborts when it is stopped early. */
  create(entry: { id: string; name: string }): { vm_id: string; signal: AbortSignal } {
    let id: string;
    do id = `vm-${randomBytes(4).toString("hex")}`;
    while (this.vms.has(id));
    let markExited!: () => void;
    const exited = new Promise<void>((r) => (markExited = r));
    const vm: Vm = {
      info: {
        vm_id: id,
        entry_id: entry.id,
        entry_name: entry.name,
        status: "booting",
        stopping: false,
        pid: null,
        started_at: null,
        stopped_at: null,
        uptime_seconds: null,
        vnc_host: this.o.vncHost,
        vnc_port: null,
        error_code: null,
        error_message: null,
        exit_code: null,
        exit_signal: null,
        stopped_by: null,
        accel: null,
        memory: null,
        cpus: null,
        serial_bytes: 0,
      },
      abort: new AbortController(),
      socket: join(this.o.runDir, `${id}.qmp`),
      log: join(this.o.runDir, `${id}.serial.log`),
      decoder: new TextDecoder(),
      stderr: "",
      logged: 0,
      exited,
      markExited,
    };
    this.vms.set(id, vm);
    this.changed(vm);
    return { vm_id: id, signal: vm.abort.signal };
  }

  get(id: string): VmInfo | undefined {
    const vm = this.vms.get(id);
    return vm ? this.snapshot(vm) : undefined;
  }

  /** Every VM known, oldest first. */
  list(): VmInfo[] {
    return [...this.vms.values()].map((vm) => this.snapshot(vm));
  }

  /** Resolves with the final state once the VM has ended (QEMU exited, or it failed before starting). */
  async ended(id: string): Promise<VmInfo | undefined> {
    const vm = this.vms.get(id);
    if (!vm) return undefined;
    await vm.exited;
    return this.snapshot(vm);
  }

  /** The serial log's path, the bytes of output so far, and how many of them the file holds (it stops at maxSerialLogBytes). */
  serialLog(id: string): { path: string; bytes: number; logged: number } | undefined {
    const vm = this.vms.get(id);
    return vm ? { path: vm.log, bytes: vm.info.serial_bytes, logged: vm.logged } : undefined;
  }

  /** The booting VM failed before QEMU ran (pull, checks, QEMU missing). */
  fail(id: string, e: unknown): void {
    const vm = this.vms.get(id);
    if (!vm || vm.child || isEnded(vm.info.status)) return;
    if (vm.abort.signal.aborted) return this.end(vm, "stopped", "before-start");
    vm.info.error_code = isPixelRtsError(e) ? e.code : "E_INTERNAL";
    vm.info.error_message = (e as Error)?.message ?? String(e);
    this.end(vm, "error", null);
  }

  /**
   * Starts QEMU for a booting VM. Resolves once the process is spawned (pid known); `running`
   * follows when QMP confirms it. Rejects (and the VM is in `error`) when it cannot be spawned.
   */
  async launch(id: string, spec: LaunchSpec): Promise<VmInfo> {
    const vm = this.vms.get(id);
    if (!vm || isEnded(vm.info.status)) throw new PixelRtsError("E_NOT_FOUND", `no booting VM ${id}`);
    if (vm.abort.signal.aborted) {
      this.end(vm, "stopped", "before-start");
      return this.snapshot(vm);
    }
    const display = await this.freeDisplay();
    // A stop that came while the display was found: QEMU must not start for an ended VM (nothing
    // would stop it: it runs in its own process group).
    if (vm.abort.signal.aborted || isEnded(vm.info.status)) {
      this.end(vm, "stopped", "before-start");
      return this.snapshot(vm);
    }
    vm.display = display;
    vm.info.accel = spec.accel;
    vm.info.memory = spec.memory;
    vm.info.cpus = spec.cpus;
    vm.info.vnc_port = 5900 + display;
    vm.logFd = openSync(vm.log, "a", 0o600);
    vm.binaryPath = spec.binaryPath;
    vm.tcgArgs = spec.accel === "kvm" ? spec.tcgArgs : undefined;
    await this.spawnQemu(vm, spec.args);
    return this.snapshot(vm);
  }

  /** Starts one QEMU process for `vm`; resolves once it is spawned, rejects (VM in `error`) when it cannot be. */
  private async spawnQemu(vm: Vm, qemuArgs: string[]): Promise<void> {
    // to=99: if another program takes the port first, QEMU moves on to the next free one (QMP tells which).
    const args = [...qemuArgs, "-vnc", `${this.o.vncHost}:${vm.display},to=99`, "-qmp", `unix:${vm.socket},server=on,wait=off`];
    // Its own process group: a Ctrl-C in serve's terminal reaches serve (which stops the VM
    // properly), not QEMU directly.
    let attemptDone!: () => void;
    vm.attemptExited = new Promise<void>((r) => (attemptDone = r));
    const cannotStart = (e: unknown): PixelRtsError => {
      attemptDone();
      vm.info.error_code = (e as NodeJS.ErrnoException)?.code === "ENOENT" ? "E_QEMU_NOT_FOUND" : "E_IO";
      vm.info.error_message = `cannot start ${vm.binaryPath}: ${(e as Error)?.message ?? String(e)}`;
      this.end(vm, "error", null);
      vm.markExited();
      return new PixelRtsError(vm.info.error_code as `E_${string}`, vm.info.error_message);
    };
    let child: ChildProcess;
    try {
      child = spawn(vm.binaryPath!, args, { stdio: ["ignore", "pipe", "pipe"], detached: true });
    } catch (e) {
      throw cannotStart(e); // spawn throws at once for some errors (ENOMEM, E2BIG ...)
    }
    vm.child = child;
    child.stdout!.on("data", (chunk: Buffer) => this.serial(vm, chunk));
    child.stderr!.setEncoding("utf8").on("data", (t: string) => (vm.stderr = (vm.stderr + t).slice(-8192)));
    // `close`, not `exit`: only then has all of its serial output and stderr been read.
    child.on("close", (code, signal) => {
      attemptDone();
      this.exited(vm, code, signal);
    });
    await new Promise<void>((resolve, reject) => {
      child.once("spawn", resolve);
      child.once("error", (e) => reject(cannotStart(e)));
    });
    vm.info.pid = child.pid ?? null;
    vm.startedMs = Date.now();
    vm.info.started_at = new Date(vm.startedMs).toISOString();
    this.changed(vm);
    void this.watchQmp(vm);
  }

  /**
   * Stops a VM: system_powerdown, SIGTERM after stopTimeoutMs, SIGKILL after killTimeoutMs more.
   * Resolves with the final state once QEMU has exited (at once for an ended VM).
   */
  stop(id: string): Promise<VmInfo> {
    const vm = this.vms.get(id);
    if (!vm) return Promise.reject(new PixelRtsError("E_NOT_FOUND", `no VM ${id}`));
    if (isEnded(vm.info.status)) return Promise.resolve(this.snapshot(vm));
    vm.stopping ??= this.stopNow(vm);
    return vm.stopping;
  }

  /** Stops every live VM (serve's shutdown). */
  async stopAll(): Promise<void> {
    await Promise.all([...this.vms.values()].filter((vm) => !isEnded(vm.info.status)).map((vm) => this.stop(vm.info.vm_id)));
  }

  /** Stops everything, then removes the run directory's files. */
  async close(): Promise<void> {
    await this.stopAll();
    for (const vm of this.vms.values()) await rm(vm.log, { force: true });
  }

  private async stopNow(vm: Vm): Promise<VmInfo> {
    vm.info.stopping = true;
    vm.abort.abort(new PixelRtsError("E_INTERRUPTED", "the VM was stopped before it started"));
    this.changed(vm);
    if (!vm.child) {
      // Still fetching or unpacking: the aborted pull ends the boot; nothing runs yet.
      this.end(vm, "stopped", "before-start");
      return this.snapshot(vm);
    }
    const within = (ms: number) => Promise.race([vm.exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms).unref())]);
    vm.stopStep = "powerdown";
    const asked = vm.qmp && !vm.qmp.isClosed ? await vm.qmp.execute("system_powerdown").then(() => true, () => false) : false;
    if (!asked || !(await within(this.o.stopTimeoutMs))) {
      vm.stopStep = "sigterm";
      vm.child.kill("SIGTERM");
      if (!(await within(this.o.killTimeoutMs))) {
        vm.stopStep = "sigkill";
        vm.child.kill("SIGKILL");
      }
    }
    await vm.exited;
    return this.snapshot(vm);
  }

  private serial(vm: Vm, chunk: Buffer): void {
    const offset = vm.info.serial_bytes;
    const room = this.o.maxSerialLogBytes - vm.logged;
    if (vm.logFd !== undefined && room > 0) {
      try {
        vm.logged += writeSync(vm.logFd, chunk, 0, Math.min(room, chunk.length)); // the file ends exactly at the cap
      } catch {
        // a full disk loses log lines, not the VM
      }
    }
    vm.info.serial_bytes += chunk.length;
    this.emit("serial", { vm_id: vm.info.vm_id, offset, bytes: chunk.length, data: vm.decoder.decode(chunk, { stream: true }) });
  }

  /** Waits for QEMU's QMP socket, then asks whether the guest runs and where VNC listens. */
  private async watchQmp(vm: Vm): Promise<void> {
    const attempt = vm.attemptExited!;
    const gone = attempt.then(() => "exited" as const);
    const appeared = new Promise<"ready" | "timeout">((resolve) => {
      const timer = setTimeout(() => resolve("timeout"), this.o.qmpTimeoutMs);
      timer.unref();
      const w = watch(this.o.runDir, (_event, file) => {
        if (file === `${vm.info.vm_id}.qmp` && existsSync(vm.socket)) done();
      });
      const done = () => {
        clearTimeout(timer);
        w.close();
        resolve("ready");
      };
      void attempt.then(() => {
        clearTimeout(timer);
        w.close();
      });
      if (existsSync(vm.socket)) done();
    });
    const first = await Promise.race([appeared, gone]);
    const current = () => vm.attemptExited === attempt && !isEnded(vm.info.status);
    if (first !== "ready") {
      if (first === "timeout" && current()) {
        vm.info.error_code = "E_QMP";
        vm.info.error_message = `QEMU did not open its QMP socket within ${Math.round(this.o.qmpTimeoutMs / 1000)} s`;
        vm.child?.kill("SIGKILL");
      }
      return;
    }
    try {
      const qmp = await this.connectQmp(vm, attempt);
      if (!qmp) return;
      if (!current()) return qmp.close();
      vm.qmp = qmp;
      qmp.on("event", (ev) => this.qmpEvent(vm, ev));
      const status = await qmp.execute<{ status?: string; running?: boolean }>("query-status");
      const vnc = await qmp.execute<{ enabled?: boolean; service?: string }>("query-vnc").catch(() => undefined);
      // This QEMU may have died meanwhile (KVM aborting at its first instruction): its answers
      // say nothing about the one that replaced it.
      if (!current()) return;
      const port = Number(vnc?.service);
      if (vnc?.enabled && Number.isInteger(port) && port > 0) vm.info.vnc_port = port;
      if (status?.running && vm.info.status === "booting") {
        vm.info.status = "running";
        this.changed(vm);
      }
    } catch (e) {
      // A QMP connection cut because QEMU exited is not a QMP failure: the exit decides (a KVM
      // abort then boots again under TCG). Give the exit a moment to be seen.
      const exited = await Promise.race([attempt.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), 500).unref())]);
      if (!exited && current() && vm.info.status === "booting") {
        vm.info.error_code = "E_QMP";
        vm.info.error_message = `cannot talk to QEMU over QMP: ${(e as Error).message}`;
        vm.child?.kill("SIGKILL");
      }
    }
  }

  /**
   * Connects once the socket accepts: the file appears at bind(), a moment before QEMU listens
   * (ECONNREFUSED meanwhile), so refused attempts are retried briefly until qmpTimeoutMs.
   */
  private async connectQmp(vm: Vm, attempt: Promise<void>): Promise<QmpClient | undefined> {
    const deadline = Date.now() + this.o.qmpTimeoutMs;
    for (let delay = 5; ; delay = Math.min(delay * 2, 200)) {
      try {
        return await QmpClient.connect(vm.socket);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if ((code !== "ECONNREFUSED" && code !== "ENOENT") || Date.now() + delay > deadline) throw e;
      }
      if (await Promise.race([attempt.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), delay))])) return undefined;
    }
  }

  private qmpEvent(vm: Vm, ev: QmpEvent): void {
    if (ev.event === "RESUME" && vm.info.status === "booting") {
      vm.info.status = "running";
      this.changed(vm);
    }
  }

  private exited(vm: Vm, code: number | null, signal: NodeJS.Signals | null): void {
    if (isEnded(vm.info.status)) return; // it never started: `close` follows a spawn error, already handled
    vm.qmp?.close();
    const tail = vm.decoder.decode();
    if (tail) this.emit("serial", { vm_id: vm.info.vm_id, offset: vm.info.serial_bytes, bytes: 0, data: tail });
    const asked = vm.info.stopping;
    if (vm.tcgArgs && vm.info.error_code !== "E_QMP" && fallsBackToTcg({ code, accel: "kvm", auto: true, interrupted: asked, elapsedMs: Date.now() - (vm.startedMs ?? 0) })) {
      return this.relaunchWithTcg(vm, code, signal);
    }
    vm.info.exit_code = code;
    vm.info.exit_signal = signal;
    if (vm.info.error_code === "E_QMP") this.end(vm, "error", null);
    else if (asked) this.end(vm, "stopped", vm.stopStep ?? "sigterm");
    else if (code === 0) this.end(vm, "stopped", "guest");
    else {
      const why = lastLine(vm.stderr);
      vm.info.error_code = "E_QEMU_FAILED";
      vm.info.error_message = signal ? `QEMU was killed by ${signal}${why ? `: ${why}` : ""}` : `QEMU exited with status ${code}${why ? `: ${why}` : ""}`;
      this.end(vm, "error", null);
    }
    vm.markExited();
    void rm(vm.socket, { force: true });
  }

  /** KVM failed at once (`--kvm auto`): the same VM boots again under TCG, its serial log saying why. */
  private relaunchWithTcg(vm: Vm, code: number | null, signal: NodeJS.Signals | null): void {
    const args = vm.tcgArgs!;
    vm.tcgArgs = undefined;
    const why = lastLine(vm.stderr);
    const exit = `${signal ? `killed by ${signal}` : `exit ${code}`}${why ? `: ${why}` : ""}`;
    this.serial(vm, Buffer.from(`\r\n[pixelrts] ${kvmFallbackMessage(Date.now() - (vm.startedMs ?? 0), exit)}\r\n`));
    vm.qmp = undefined;
    vm.stderr = "";
    vm.info.accel = "tcg";
    vm.info.status = "booting";
    rmSync(vm.socket, { force: true }); // the dead QEMU's socket: watchQmp waits for the new one
    this.spawnQemu(vm, args).catch(() => {}); // a spawn failure ends the VM in `error` (spawnQemu)
  }

  private end(vm: Vm, status: "stopped" | "error", by: VmInfo["stopped_by"]): void {
    if (isEnded(vm.info.status)) return;
    vm.info.status = status;
    if (by) vm.info.stopped_by = by;
    vm.stoppedMs = Date.now();
    vm.info.stopped_at = new Date(vm.stoppedMs).toISOString();
    if (vm.logFd !== undefined) {
      closeSync(vm.logFd);
      vm.logFd = undefined;
    }
    if (!vm.child) vm.markExited();
    this.changed(vm);
    this.forgetOld();
  }

  private forgetOld(): void {
    const ended = [...this.vms.values()].filter((v) => isEnded(v.info.status) && (v.child ? v.child.exitCode !== null || v.child.signalCode !== null : true));
    for (const vm of ended.slice(0, Math.max(0, ended.length - this.o.keepEnded))) {
      this.vms.delete(vm.info.vm_id);
      void rm(vm.log, { force: true });
    }
  }

  private changed(vm: Vm): void {
    this.emit("state", this.snapshot(vm));
  }

  private snapshot(vm: Vm): VmInfo {
    const end = vm.stoppedMs ?? Date.now();
    return { ...vm.info, uptime_seconds: vm.startedMs === undefined ? null : Math.max(0, Math.round((end - vm.startedMs) / 1000)) };
  }

  /** A VNC display (port 5900+N) nobody listens on and no VM of ours has taken. */
  private async freeDisplay(): Promise<number> {
    const taken = new Set([...this.vms.values()].filter((v) => !isEnded(v.info.status) && v.display !== undefined).map((v) => v.display!));
    for (let n = 0; n < 100; n++) {
      if (taken.has(n)) continue;
      if (await portFree(this.o.vncHost, 5900 + n)) return n;
    }
    throw new PixelRtsError("E_NO_PORT", `no free VNC port between 5900 and 5999 on ${this.o.vncHost}`);
  }
}

function isEnded(s: VmStatus): boolean {
  return s === "stopped" || s === "error";
}

function lastLine(text: string): string {
  const lines = text.trim().split("\n");
  return (lines[lines.length - 1] ?? "").trim().slice(0, 300);
}

function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once("error", () => resolve(false));
    srv.listen({ host, port, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/** The last `max` bytes of a serial log and where they start. */
export async function readSerialTail(path: string, length: number, max: number): Promise<{ offset: number; text: string }> {
  const start = Math.max(0, length - max);
  const fh = await open(path, "r").catch(() => undefined);
  if (!fh) return { offset: length, text: "" };
  try {
    const buf = Buffer.alloc(length - start);
    const { bytesRead } = await fh.read(buf, 0, buf.length, start);
    return { offset: start, text: buf.subarray(0, bytesRead).toString("utf8") };
  } finally {
    await fh.close();
  }
}
