/** Finding and running QEMU: signals forwarded, exit status propagated, an optional watchdog. */
import { spawn } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";
import { constants as osConstants } from "node:os";
import { fail, PixelRtsError } from "../../shared/errors.js";
import { QEMU_PACKAGES, type Arch, type QemuCommand } from "./qemu-argv.js";

export function findOnPath(binary: string, pathEnv = process.env.PATH ?? ""): string | undefined {
  for (const dir of pathEnv.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, binary);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

export function requireQemu(arch: Arch, binary: string): string {
  return findOnPath(binary) ?? fail("E_QEMU_NOT_FOUND", `${binary} is not installed (${QEMU_PACKAGES[arch]})`, { binary });
}

const HOST_ARCH: Record<string, Arch> = { x64: "x86_64", arm64: "aarch64", riscv64: "riscv64" };

/** KVM can run the guest: /dev/kvm is usable and the guest has the host's architecture. */
export function kvmUsable(guest: string): boolean {
  if (HOST_ARCH[process.arch] !== guest) return false;
  try {
    accessSync("/dev/kvm", constants.R_OK | constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Runs QEMU with the terminal attached. SIGINT/SIGTERM are passed on (QEMU shuts the guest
 * down); the watchdog kills it after `timeoutMs`. Resolves to the exit status to propagate.
 */
export function runQemu(binaryPath: string, cmd: QemuCommand, opts: { timeoutMs?: number; signal?: AbortSignal; stdio?: "inherit" | "pipe"; onOutput?: (chunk: Buffer) => void } = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(binaryPath, cmd.args, { stdio: opts.stdio === "pipe" ? ["ignore", "pipe", "pipe"] : "inherit" });
    if (opts.stdio === "pipe") {
      child.stdout?.on("data", (c: Buffer) => opts.onOutput?.(c));
      child.stderr?.on("data", (c: Buffer) => opts.onOutput?.(c));
    }
    let timedOut = false;
    // Watchdog: ask QEMU to quit (SIGTERM), and kill it if it has not within 5 s.
    let killTimer: NodeJS.Timeout | undefined;
    const timer = opts.timeoutMs ? setTimeout(() => {
      timedOut = true;
      child.kill("SIGTERM");
      killTimer = setTimeout(() => child.kill("SIGKILL"), 5000);
    }, opts.timeoutMs) : undefined;
    // Set when we passed the user's Ctrl-C/SIGTERM on: QEMU then exits 0, but the boot was interrupted.
    let forwarded: NodeJS.Signals | undefined;
    const forward = (sig: NodeJS.Signals) => () => {
      forwarded ??= sig;
      child.kill(sig);
    };
    const onInt = forward("SIGINT");
    const onTerm = forward("SIGTERM");
    process.on("SIGINT", onInt);
    process.on("SIGTERM", onTerm);
    const onAbort = () => {
      forwarded ??= "SIGTERM";
      child.kill("SIGTERM");
    };
    opts.signal?.addEventListener("abort", onAbort);
    const cleanup = () => {
      if (timer) clearTimeout(timer);
      if (killTimer) clearTimeout(killTimer);
      process.off("SIGINT", onInt);
      process.off("SIGTERM", onTerm);
      opts.signal?.removeEventListener("abort", onAbort);
    };
    child.on("error", (e) => {
      cleanup();
      reject(e);
    });
    child.on("exit", (code, signal) => {
      cleanup();
      if (timedOut) reject(new PixelRtsError("E_BOOT_TIMEOUT", `QEMU was still running after ${Math.round((opts.timeoutMs ?? 0) / 1000)} s and was stopped (--timeout)`));
      else if (code !== null && code !== 0) resolve(code);
      else if (signal) resolve(128 + (osConstants.signals[signal] ?? 9));
      else if (forwarded) resolve(128 + osConstants.signals[forwarded]);
      else resolve(0);
    });
  });
}
