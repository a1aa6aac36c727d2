import { existsSync } from "node:fs";
import { fail } from "../../shared/errors.js";
import { buildQemuCommand, shellLine, shellQuote } from "../boot/qemu-argv.js";
import { kvmUsable, requireQemu, runQemu } from "../boot/run-qemu.js";
import { describeProvenance, parseBootFlags, resolveBootSettings, type BootFlagValues } from "../boot/settings.js";
import { unpackForBoot } from "../boot/unpack.js";
import type { Command, CommandContext } from "../cli/command.js";
import { safeText } from "../cli/terminal.js";
import { hashFile } from "../cache/index.js";
import { ensureCached } from "../pull/index.js";
import { CACHE_DIR_OPTION, reporterFor, withAgent } from "./common.js";

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
    // Flags are checked before anything is fetched; the container's values once it is here.
    const bootFlags = parseBootFlags(ctx.values);
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
          ctx.err(`warning: the cached copy of ${safeText(ref)} is damaged (sha256 ${actual}, expected ${got.sha256}); removed it, fetching it again`);
          got = await fetchIt();
          const again = (await hashFile(got.path)).hex;
          if (again !== got.sha256) fail("E_HASH_MISMATCH", `Hash mismatch: expected ${got.sha256}, got ${again}`, { expected: got.sha256, actual: again });
        }
        if (got.note) report({ event: "note", ref, message: got.note });
        release = got.release;
        pngPath = got.path;
      }
      try {
        return await bootFrom(ctx, ref, pngPath, agent.paths.cacheDir, bootFlags, timeoutMs);
      } finally {
        await release?.();
      }
    });
  },
};

async function bootFrom(ctx: CommandContext, ref: string, pngPath: string, cacheDir: string, bootFlags: BootFlagValues, timeoutMs: number | undefined): Promise<number> {
  // The container's boot settings are checked (E_METADATA_INVALID) before anything is unpacked.
  const unpacked = await unpackForBoot(pngPath, cacheDir);
  for (const w of unpacked.warnings) ctx.err(`warning: ${safeText(w)}`);
  const resolved = resolveBootSettings(bootFlags, unpacked.boot, kvmUsable);
  const cmd = buildQemuCommand(unpacked.files, resolved.flags);
  if (ctx.values["dry-run"]) {
    if (ctx.json) ctx.out(JSON.stringify({ event: "dry-run", binary: cmd.binary, args: cmd.args, accel: cmd.accel, reused_unpack: unpacked.reused, provenance: resolved.provenance }));
    else {
      // Where each value came from goes to stderr, so stdout stays one pasteable shell line.
      ctx.err(describeProvenance(resolved, shellQuote));
      ctx.out(shellLine(cmd));
    }
    return 0;
  }
  const binaryPath = requireQemu(resolved.flags.arch, cmd.binary);
  if (!ctx.json) ctx.err(`booting ${safeText(ref)} with ${cmd.binary} (${cmd.accel === "kvm" ? "KVM" : "TCG, no hardware acceleration"}); Ctrl-C stops it`);
  return runQemu(binaryPath, cmd, { ...(timeoutMs ? { timeoutMs } : {}), signal: ctx.signal });
}
