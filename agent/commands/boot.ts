import { existsSync } from "node:fs";
import { fail } from "../../shared/errors.js";
import { runWithKvmFallback } from "../boot/kvm-fallback.js";
import { buildQemuCommand, shellLine, shellQuote, type QemuCommand } from "../boot/qemu-argv.js";
import { kvmUsable, requireQemu, runQemu } from "../boot/run-qemu.js";
import { describeProvenance, parseBootFlags, resolveBootSettings, type BootFlagValues } from "../boot/settings.js";
import { unpackForBoot } from "../boot/unpack.js";
import { ColdUnpack, settleFetched } from "../boot/cold-unpack.js";
import type { Command, CommandContext } from "../cli/command.js";
import { safeText } from "../cli/terminal.js";
import { ensureCached } from "../pull/index.js";
import { ensureVerified } from "../pull/verified.js";
import { checkFileSignature } from "../trust/file.js";
import type { TrustReport } from "../trust/policy.js";
import { CACHE_DIR_OPTION, isFileRef, outputPath, reporterFor, secondsFlag, withAgent } from "./common.js";

export const bootCommand: Command = {
  name: "boot",
  summary: "Boot a container (catalog id/name, URL or local file) in QEMU, cache-first",
  args: [{ name: "<REF>", description: "catalog id or name, sha256:HEX, an http(s) URL, or a .rts.png file" }],
  options: {
    memory: { type: "string", value: "SIZE", description: "guest memory, e.g. 512M or 2G (default: the container's, else 512M)" },
    cpus: { type: "string", value: "N", description: "virtual CPUs, 1-256 (default: the container's, else 1)" },
    arch: { type: "string", value: "ARCH", description: "x86_64, aarch64 or riscv64 (default: the container's, else x86_64)" },
    machine: { type: "string", value: "TYPE", description: "QEMU machine type, a bare name like q35 or virt (default: the container's, else q35/virt)" },
    kvm: { type: "string", value: "MODE", description: "auto: KVM when /dev/kvm works for this guest, else TCG; on: KVM or fail; off: TCG", default: "auto" },
    display: { type: "string", value: "DISPLAY", description: "none, or vnc[:N] (a VNC server on 127.0.0.1:5900+N)", default: "none" },
    serial: { type: "string", value: "TARGET", description: "the serial console: stdio (this terminal) or file:PATH", default: "stdio" },
    append: { type: "string", value: "ARGS", description: "added to the kernel command line from the container" },
    net: { type: "string", value: "MODE", description: "user (NAT, the guest reaches out) or none", default: "user" },
    timeout: { type: "string", value: "SECONDS", description: "stop QEMU after this long (SIGTERM, then SIGKILL): E_BOOT_TIMEOUT" },
    "pull-timeout": { type: "string", value: "SECONDS", description: "give up fetching the container after this long (default: PIXELRTS_PULL_TIMEOUT_MS, 4 h; 0: none)" },
    forward: { type: "list", value: "PROTO:HOST:GUEST", description: "forward a port of 127.0.0.1 into the guest, e.g. tcp:2222:22 (repeatable; user networking)" },
    sha256: { type: "string", value: "HEX", description: "the file's SHA-256, for a URL on a server that sends none" },
    sig: { type: "string", value: "FILE", description: "the signature envelope of a local FILE (default: FILE.sig.json beside it, when present)" },
    "allow-downgrade": { type: "boolean", description: "accept a signed container older than the newest one accepted for this name (E_ROLLBACK otherwise)" },
    offline: { type: "boolean", description: "use the cached copy only, never the network" },
    verify: { type: "boolean", description: "re-hash the cached container and unpacked files instead of trusting their verification stamps" },
    server: { type: "string", value: "NAME", description: "look the id up on this configured server only" },
    "dry-run": { type: "boolean", description: "print the QEMU command line (stdout) and where each setting came from (stderr) instead of booting" },
    ...CACHE_DIR_OPTION,
  },
  examples: [
    "pixelrts boot demo-linux --kvm off              # fetch (or use the cached copy), verify, boot under TCG",
    "pixelrts boot demo-linux --dry-run              # the QEMU line, without starting QEMU",
    "pixelrts boot ./my-os.rts.png --memory 2G --cpus 2 --append quiet",
    "pixelrts boot demo-linux --display vnc:1        # a VNC server on 127.0.0.1:5901",
    "pixelrts boot my-vm --forward tcp:2222:22       # then: ssh -p 2222 user@127.0.0.1",
  ],
  notes: "QEMU gets only extracted, hash-checked files (never the PNG); disks run in snapshot mode. Exit status: QEMU's own, or 128+signal when interrupted.",
  async run(ctx) {
    const ref = ctx.positionals[0] ?? fail("E_USAGE", "boot needs a container: catalog id or name, URL, or .rts.png file");
    const timeoutMs = secondsFlag(ctx.values, "timeout", false);
    const pullTimeoutMs = secondsFlag(ctx.values, "pull-timeout", true);
    // Flags are checked before anything is fetched; the container's values once it is here.
    const bootFlags = parseBootFlags(ctx.values, ctx.given);
    if (typeof bootFlags.serial === "object") await outputPath(bootFlags.serial.file);
    return withAgent(ctx, async (agent) => {
      let pngPath: string;
      let release: (() => Promise<void> | void) | undefined;
      let trust: TrustReport;
      if (isFileRef(ref)) {
        if (!existsSync(ref)) fail("E_NOT_FOUND", `no such file: ${ref}`);
        pngPath = ref;
        trust = await checkFileSignature(agent, ref, typeof ctx.values.sig === "string" ? ctx.values.sig : undefined, true);
      } else {
        const report = reporterFor(ctx);
        // A download is decoded into staging files as it arrives (agent/boot/cold-unpack.ts).
        let cold = new ColdUnpack(agent.paths.cacheDir);
        const fetchIt = () =>
          ensureCached(agent, ref, {
            offline: Boolean(ctx.values.offline),
            ...(ctx.values.server ? { server: ctx.values.server as string } : {}),
            emit: (cold = new ColdUnpack(agent.paths.cacheDir)).tap(report),
            onBody: cold.onBody,
            signal: ctx.signal,
            // Held for the whole boot: LRU eviction by another process must not remove it.
            hold: true,
            ...(pullTimeoutMs !== undefined ? { timeoutMs: pullTimeoutMs } : {}),
            ...(typeof ctx.values.sha256 === "string" ? { sha256: ctx.values.sha256 } : {}),
            ...(ctx.values["allow-downgrade"] ? { allowDowngrade: true } : {}),
          })
            .catch(async (e: unknown) => {
              await cold.cancel();
              throw e;
            })
            .finally(() => report.close());
        // A copy taken from the cache is checked again when read (a just-downloaded one was hashed
        // while streaming): by its verification stamp when that still matches (--verify re-hashes);
        // a copy damaged on disk is dropped and fetched anew.
        const got = await ensureVerified(agent, ref, fetchIt, {
          settle: (g) => settleFetched(agent.paths.cacheDir, g, cold, Boolean(ctx.values.verify)),
          onDamaged: (message) => ctx.err(`warning: ${safeText(message)}`),
        });
        if (got.note) report({ event: "note", ref, message: got.note });
        release = got.release;
        pngPath = got.path;
        trust = got.trust;
      }
      try {
        return await bootFrom(ctx, ref, pngPath, agent.paths.cacheDir, bootFlags, timeoutMs, trust);
      } finally {
        await release?.();
      }
    });
  },
};

async function bootFrom(ctx: CommandContext, ref: string, pngPath: string, cacheDir: string, bootFlags: BootFlagValues, timeoutMs: number | undefined, trust: TrustReport): Promise<number> {
  // The container's boot settings are checked (E_METADATA_INVALID) before anything is unpacked.
  const unpacked = await unpackForBoot(pngPath, cacheDir, { rehash: Boolean(ctx.values.verify) });
  for (const w of unpacked.warnings) ctx.err(`warning: ${safeText(w)}`);
  const resolved = resolveBootSettings(bootFlags, unpacked.boot, kvmUsable);
  for (const n of resolved.notes) ctx.err(`note: ${n}`);
  const cmd = buildQemuCommand(unpacked.files, resolved.flags);
  const { line: _line, ...signature } = trust;
  if (ctx.values["dry-run"]) {
    if (ctx.json) ctx.out(JSON.stringify({ event: "dry-run", binary: cmd.binary, args: cmd.args, accel: cmd.accel, reused_unpack: unpacked.reused, provenance: resolved.provenance, signature }));
    else {
      // Where each value came from goes to stderr, so stdout stays one pasteable shell line.
      ctx.err(describeProvenance(resolved, shellQuote));
      ctx.out(shellLine(cmd));
    }
    return 0;
  }
  const binaryPath = requireQemu(resolved.flags.arch, cmd.binary);
  const f = resolved.flags;
  const vnc = f.display === "none" ? undefined : `127.0.0.1:${5900 + f.display.vnc}`;
  // --json: one `boot` event before QEMU starts (its serial console may follow on stdout).
  if (ctx.json) ctx.out(JSON.stringify({ event: "boot", ref, binary: cmd.binary, accel: cmd.accel, signature, ...(vnc ? { vnc } : {}), forwards: f.forwards ?? [] }));
  else {
    ctx.err(`booting ${safeText(ref)}${trust.state === "not-checked" ? "" : ` (${trust.line})`} with ${cmd.binary} (${cmd.accel === "kvm" ? "KVM" : "TCG, no hardware acceleration"}); Ctrl-C stops it`);
    if (vnc && f.display !== "none") ctx.err(`VNC: ${vnc} (display :${f.display.vnc}), e.g. vncviewer 127.0.0.1:${f.display.vnc}`);
    for (const fw of f.forwards ?? []) ctx.err(`forwarding ${fw.proto} 127.0.0.1:${fw.host} → guest port ${fw.guest}`);
  }
  const say = (line: string) => (ctx.json ? ctx.out(JSON.stringify({ event: "note", ref, message: line })) : ctx.err(line));
  const run = (c: QemuCommand) => runQemu(binaryPath, c, { ...(timeoutMs ? { timeoutMs } : {}), signal: ctx.signal });
  return runWithKvmFallback((kvm) => (kvm ? cmd : buildQemuCommand(unpacked.files, { ...f, kvmAvailable: false })), run, {
    auto: f.kvm === "auto",
    warn: (line) => say(`warning: ${line}`),
    interrupted: () => ctx.signal.aborted,
  });
}
