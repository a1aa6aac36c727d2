import { basename } from "node:path";
import { bundleMetadata, placeSegments } from "../../shared/container/bundle.js";
import { converterMetadata } from "../../shared/container/converter.js";
import { fail } from "../../shared/errors.js";
import type { Command, CommandContext } from "../cli/command.js";
import { checkArch, checkCmdline, checkCpusText, checkMemory } from "../../shared/container/boot-settings.js";
import { checkedFlag } from "../boot/settings.js";
import { encodeFilesToPng, sizeOf, type EncodedFiles } from "../codec/encode-file.js";
import { maxGridFromEnv } from "../codec/limits.js";

const str = (v: unknown) => (typeof v === "string" ? v : undefined);

function intOption(v: unknown, name: string, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) fail("E_USAGE", `--${name} must be an integer from ${min} to ${max}, got ${String(v)}`);
  return n;
}

/**
 * Pack options → a container written from the input files in bounded memory, deflated in worker
 * threads (agent/codec/encode-file.ts): single file like the original converter, or a boot bundle.
 */
export async function pack(ctx: CommandContext): Promise<{ out: string; encoded: EncodedFiles; kind: string; payloadSize: number }> {
  const v = ctx.values;
  const out = str(v.output) ?? fail("E_USAGE", "pack needs -o OUT.rts.png");
  const maxGrid = maxGridFromEnv();
  const options = { gridSize: intOption(v.grid, "grid", 1, maxGrid), level: intOption(v.level, "level", 0, 9) ?? 6, threads: intOption(v.threads, "threads", 1, 64), maxGrid };
  let encoded: EncodedFiles;
  let kind: string;
  let payloadSize: number;
  if (v.kernel) {
    if (ctx.positionals.length) fail("E_USAGE", "give either INPUT or --kernel, not both");
    // Boot settings follow the grammar the agent's boot checks them against; checked before any file is read.
    const boot = {
      cmdline: checkedFlag(v, "cmdline", checkCmdline),
      arch: checkedFlag(v, "arch", checkArch) ?? "x86_64",
      memory: checkedFlag(v, "memory", checkMemory),
      cpus: checkedFlag(v, "cpus", checkCpusText),
    };
    const inputs: { name: string; type: string; path: string }[] = [{ name: "kernel", type: "kernel", path: str(v.kernel)! }];
    if (v.initrd) inputs.push({ name: "initrd", type: "initrd", path: str(v.initrd)! });
    if (v.disk) inputs.push({ name: "disk", type: "disk", path: str(v.disk)! });
    const sized: { name: string; type: string; path: string; size: number }[] = [];
    for (const i of inputs) sized.push({ ...i, size: await sizeOf(i.path, i.name === "kernel" ? "kernel" : i.name) });
    const input = { boot, name: str(v.name), contentVersion: str(v.version), description: str(v.description) };
    const placed = placeSegments({ ...input, segments: sized });
    payloadSize = placed[placed.length - 1]!.start + placed[placed.length - 1]!.size;
    const files = placed.map((p, i) => ({ path: sized[i]!.path, start: p.start, size: p.size }));
    encoded = await encodeFilesToPng(files, payloadSize, out, (c, hashes) => bundleMetadata({ segments: placed.map((p, i) => ({ ...p, sha256: hashes[i]! })) }, input)(c), options);
    kind = "boot-bundle";
  } else {
    if (ctx.positionals.length !== 1) fail("E_USAGE", "pack needs one INPUT file (or --kernel for a boot bundle)");
    for (const flag of ["initrd", "disk", "cmdline", "arch", "memory", "cpus"]) {
      if (v[flag] !== undefined) fail("E_USAGE", `--${flag} only applies to boot bundles (--kernel)`);
    }
    const input = ctx.positionals[0]!;
    payloadSize = await sizeOf(input, "input");
    const meta = { type: str(v.type), name: str(v.name), version: str(v.version), description: str(v.description) };
    encoded = await encodeFilesToPng([{ path: input, start: 0, size: payloadSize }], payloadSize, out, converterMetadata(meta, basename(input)), options);
    kind = meta.type ?? "binary";
  }
  return { out, encoded, kind, payloadSize };
}

export const packCommand: Command = {
  name: "pack",
  summary: "Pack a file (or kernel + initrd + disk) into a .rts.png container",
  args: [{ name: "[INPUT]", description: "the file to pack (or use --kernel for a boot bundle)" }],
  options: {
    output: { type: "string", short: "o", value: "OUT.rts.png", description: "the container to write (required; its directory must exist)" },
    name: { type: "string", value: "NAME", description: "container name in the metadata (default: the input's file name)" },
    type: { type: "string", value: "TYPE", description: "container type: kernel, os, binary, ... (single files)" },
    version: { type: "string", value: "VERSION", description: "content version" },
    description: { type: "string", value: "TEXT", description: "a description for catalogs" },
    grid: { type: "string", value: "G", description: "grid side, a power of two (default: the smallest that fits)" },
    level: { type: "string", value: "0-9", description: "zlib level", default: "6" },
    threads: { type: "string", value: "N", description: "deflate threads (default: one per core)" },
    kernel: { type: "string", value: "FILE", description: "make a boot bundle with this kernel" },
    initrd: { type: "string", value: "FILE", description: "the bundle's initramfs" },
    disk: { type: "string", value: "FILE", description: "the bundle's disk image (raw or qcow2 without backing file)" },
    cmdline: { type: "string", value: "ARGS", description: "the bundle's kernel command line (default: console=ttyS0 for x86_64)" },
    arch: { type: "string", value: "ARCH", description: "the bundle's architecture: x86_64, aarch64 or riscv64 (default: x86_64)" },
    memory: { type: "string", value: "SIZE", description: "the bundle's suggested guest memory, e.g. 512M" },
    cpus: { type: "string", value: "N", description: "the bundle's suggested CPU count" },
  },
  examples: [
    "pixelrts pack vmlinuz -o kernel.rts.png --name kernel --type kernel --version 6.1",
    'pixelrts pack --kernel vmlinuz --initrd initrd.img --cmdline "console=ttyS0" --memory 512M -o demo.rts.png',
  ],
  notes: "Inputs are read from disk in Hilbert order and deflated in parallel bands (bounded memory for any size, up to a PIXELRTS_MAX_GRID grid, default 32768: 4 GiB). `pack INPUT` writes the same metadata, byte for byte, as the original PixelRTS converter given the same --name/--type/--version/--description.",
  async run(ctx) {
    const { out, encoded, kind, payloadSize } = await pack(ctx);
    const summary = { file: out, kind, grid: encoded.gridSize, payload_size: payloadSize, data_hash: encoded.dataHash };
    if (ctx.json) ctx.out(JSON.stringify(summary));
    else ctx.out(`packed ${payloadSize} bytes (${kind}) into ${out}: ${encoded.gridSize}x${encoded.gridSize} grid, payload sha256 ${encoded.dataHash}`);
  },
};
