import { existsSync } from "node:fs";
import { defaultCmdline } from "../../shared/container/bundle.js";
import { fail } from "../../shared/errors.js";
import { buildQemuCommand, shellLine, type Arch, type BootFlags, type KvmMode } from "../boot/qemu-argv.js";
import { kvmUsable, requireQemu, runQemu } from "../boot/run-qemu.js";
import { unpackForBoot } from "../boot/unpack.js";
import type { Command, CommandContext } from "../cli/command.js";
import { hashFile } from "../cache/index.js";
import { ensureCached } from "../pull/index.js";
import { CACHE_DIR_OPTION, reporterFor, withAgent } from "./common.js";

const ARCHES: Arch[] = ["x86_64", "aarch64", "riscv64"];

/** Turns boot flags (and the container's own `boot` defaults) into QEMU flags; pure. */
export function bootFlagsFrom(values: CommandContext["values"], boot: { cmdline?: string; arch?: string; machine?: string; memory?: string; cpus?: number } | undefined, kvmAvailable: boolean): BootFlags {
  const arch = (values.arch as string | undefined) ?? boot?.arch ?? "x86_64";
  if (!ARCHES.includes(arch as Arch)) fail("E_USAGE", `--arch must be one of ${ARCHES.join(", ")}, got ${arch}`);
  const memory = (values.memory as string | undefined) ?? boot?.memory ?? "512M";
  if (!/^[1-9]\d*[KMGT]?$/i.test(memory)) fail("E_USAGE", `--memory takes a size like 512M or 2G, got ${memory}`);
  const cpusText = (values.cpus as string | undefined) ?? String(boot?.cpus ?? 1);
  const cpus = Number(cpusText);
  if (!Number.isInteger(cpus) || cpus < 1 || cpus > 256) fail("E_USAGE", `--cpus must be an integer from 1 to 256, got ${cpusText}`);
  const kvm = ((values.kvm as string | undefined) ?? "auto") as KvmMode;
  if (!["auto", "on", "off"].includes(kvm)) fail("E_USAGE", `--kvm must be auto, on or off, got ${kvm}`);
  const displayText = (values.display as string | undefined) ?? "none";
  const vnc = /^vnc(?::(\d{1,2}))?$/.exec(displayText);
  if (displayText !== "none" && !vnc) fail("E_USAGE", `--display must be none or vnc[:N], got ${displayText}`);
  const serialText = (values.serial as string | undefined) ?? "stdio";
  if (serialText !== "stdio" && !serialText.startsWith("file:")) fail("E_USAGE", `--serial must be stdio or file:PATH, got ${serialText}`);
  const net = ((values.net as string | undefined) ?? "user") as "user" | "none";
  if (!["user", "none"].includes(net)) fail("E_USAGE", `--net must be user or none, got ${net}`);
  return {
    arch: arch as Arch,
    memory,
    cpus,
    machine: (values.machine as string | undefined) ?? boot?.machine,
    kvm,
    kvmAvailable,
    display: vnc ? { vnc: Number(vnc[1] ?? 0) } : "none",
    serial: serialText === "stdio" ? "stdio" : { file: serialText.slice(5) },
    cmdline: boot?.cmdline ?? defaultCmdline(arch),
    append: values.append as string | undefined,
    net,
  };
}

function looksLikeFile(ref: string): boolean {
  if (/^https?:\/\//i.test(ref)) return false;
  return existsSync(ref) || ref.endsWith(".png") || ref.startsWith("./") || ref.startsWith("/");
}

export const bootCommand: Command = {
  name: "boot",
  summary: "Boot a container (catalog id/name, URL or local file) in QEMU, cache-first",
  usage: [
    "boot ID|URL|FILE [--memory 512M] [--cpus N] [--arch A] [--machine M] [--kvm auto|on|off] [--display none|vnc[:N]] [--serial stdio|file:PATH] [--append ARGS] [--net user|none] [--timeout SECONDS] [--offline] [--server NAME] [--dry-run]",
  ],
  options: {
    memory: { type: "string" },
    cpus: { type: "string" },
    arch: { type: "string" },
    machine: { type: "string" },
    kvm: { type: "string" },
    display: { type: "string" },
    serial: { type: "string" },
    append: { type: "string" },
    net: { type: "string" },
    timeout: { type: "string" },
    offline: { type: "boolean", default: false },
    server: { type: "string" },
    "dry-run": { type: "boolean", default: false },
    ...CACHE_DIR_OPTION,
  },
  async run(ctx) {
    const ref = ctx.positionals[0] ?? fail("E_USAGE", "boot needs a container: catalog id or name, URL, or .rts.png file");
    const timeoutText = ctx.values.timeout as string | undefined;
    const timeoutMs = timeoutText === undefined ? undefined : Number(timeoutText) * 1000;
    if (timeoutMs !== undefined && (!Number.isFinite(timeoutMs) || timeoutMs <= 0)) fail("E_USAGE", `--timeout takes seconds, got ${timeoutText}`);
    return withAgent(ctx, async (agent) => {
      let pngPath: string;
      let release: (() => Promise<void> | void) | undefined;
      if (looksLikeFile(ref)) {
        if (!existsSync(ref)) fail("E_NOT_FOUND", `no such file: ${ref}`);
        pngPath = ref;
      } else {
        const report = reporterFor(ctx);
        const fetchIt = () =>
          ensureCached(agent, ref, {
            offline: Boolean(ctx.values.offline),
            ...(ctx.values.server ? { server: ctx.values.server as string } : {}),
            emit: report,
            signal: ctx.signal,
            // Held for the whole boot: LRU eviction by another process must not remove it.
            hold: true,
          }).finally(() => report.close());
        let got = await fetchIt();
        // A copy taken from the cache is checked again when read (a just-downloaded one was hashed
        // while streaming): a copy damaged on disk is dropped and fetched anew.
        const actual = got.fromCache ? (await hashFile(got.path)).hex : got.sha256;
        if (actual !== got.sha256) {
          await got.release();
          await agent.cache.remove(got.sha256);
          ctx.err(`warning: the cached copy of ${ref} is damaged (sha256 ${actual}, expected ${got.sha256}); removed it, fetching it again`);
          got = await fetchIt();
          const again = (await hashFile(got.path)).hex;
          if (again !== got.sha256) fail("E_HASH_MISMATCH", `Hash mismatch: expected ${got.sha256}, got ${again}`, { expected: got.sha256, actual: again });
        }
        if (got.note) report({ event: "note", ref, message: got.note });
        release = got.release;
        pngPath = got.path;
      }
      try {
        return await bootFrom(ctx, ref, pngPath, agent.paths.cacheDir, timeoutMs);
      } finally {
        await release?.();
      }
    });
  },
};

async function bootFrom(ctx: CommandContext, ref: string, pngPath: string, cacheDir: string, timeoutMs: number | undefined): Promise<number> {
  const unpacked = await unpackForBoot(pngPath, cacheDir);
  for (const w of unpacked.warnings) ctx.err(`warning: ${w}`);
  const guestArch = (ctx.values.arch as string | undefined) ?? unpacked.boot?.arch ?? "x86_64";
  const flags = bootFlagsFrom(ctx.values, unpacked.boot, ctx.values.kvm === "off" ? false : kvmUsable(guestArch));
  const cmd = buildQemuCommand(unpacked.files, flags);
  if (ctx.values["dry-run"]) {
    if (ctx.json) ctx.out(JSON.stringify({ event: "dry-run", binary: cmd.binary, args: cmd.args, accel: cmd.accel, reused_unpack: unpacked.reused }));
    else ctx.out(shellLine(cmd));
    return 0;
  }
  const binaryPath = requireQemu(flags.arch, cmd.binary);
  if (!ctx.json) ctx.err(`booting ${ref} with ${cmd.binary} (${cmd.accel === "kvm" ? "KVM" : "TCG, no hardware acceleration"}); Ctrl-C stops it`);
  return runQemu(binaryPath, cmd, { ...(timeoutMs ? { timeoutMs } : {}), signal: ctx.signal });
}
