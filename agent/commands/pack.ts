import { readFile, stat } from "node:fs/promises";
import { basename } from "node:path";
import { bundleMetadata, layoutBundle, type BundleSegmentInput } from "../../shared/container/bundle.js";
import { converterMetadata } from "../../shared/container/converter.js";
import { encodeContainer, type EncodedContainer } from "../../shared/container/encode.js";
import { fail } from "../../shared/errors.js";
import type { Command, CommandContext } from "../cli/command.js";
import { checkArch, checkCmdline, checkCpusText, checkMemory } from "../../shared/container/boot-settings.js";
import { checkedFlag } from "../boot/settings.js";
import { fileError, writeFileAtomic } from "../codec/files.js";
import { NODE_CODEC } from "../codec/node-platform.js";

const str = (v: unknown) => (typeof v === "string" ? v : undefined);

/** An input file's bytes; a missing file is E_NOT_FOUND, other file-system errors E_IO naming the cause. */
async function readInput(path: string, what: string): Promise<Uint8Array> {
  try {
    const st = await stat(path);
    if (!st.isFile()) fail("E_USAGE", `${what} ${path} is not a regular file`);
    if (st.size > 256 * 1024 * 1024) fail("E_TOO_LARGE", `${what} ${path} is ${st.size} bytes; containers hold at most 256 MiB (an 8192x8192 grid)`);
    return new Uint8Array(await readFile(path));
  } catch (e) {
    throw fileError(e, `${what} ${path}`);
  }
}

function intOption(v: unknown, name: string, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) fail("E_USAGE", `--${name} must be an integer from ${min} to ${max}, got ${String(v)}`);
  return n;
}

/** Pack options → an encoded container (single file like the original converter, or a boot bundle). */
export async function pack(ctx: CommandContext): Promise<{ out: string; encoded: EncodedContainer; kind: string; payloadSize: number }> {
  const v = ctx.values;
  const out = str(v.output) ?? fail("E_USAGE", "pack needs -o OUT.rts.png");
  const options = { gridSize: intOption(v.grid, "grid", 1, 8192), level: intOption(v.level, "level", 0, 9) ?? 6, ...NODE_CODEC };
  let encoded: EncodedContainer;
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
    const segments: BundleSegmentInput[] = [{ name: "kernel", type: "kernel", data: await readInput(str(v.kernel)!, "kernel") }];
    if (v.initrd) segments.push({ name: "initrd", type: "initrd", data: await readInput(str(v.initrd)!, "initrd") });
    if (v.disk) segments.push({ name: "disk", type: "disk", data: await readInput(str(v.disk)!, "disk") });
    const input = {
      segments,
      boot,
      name: str(v.name),
      contentVersion: str(v.version),
      description: str(v.description),
    };
    const layout = await layoutBundle(input, NODE_CODEC.sha256);
    encoded = await encodeContainer(layout.payload, bundleMetadata(layout, input), options);
    kind = "boot-bundle";
    payloadSize = layout.payload.length;
  } else {
    if (ctx.positionals.length !== 1) fail("E_USAGE", "pack needs one INPUT file (or --kernel for a boot bundle)");
    for (const flag of ["initrd", "disk", "cmdline", "arch", "memory", "cpus"]) {
      if (v[flag] !== undefined) fail("E_USAGE", `--${flag} only applies to boot bundles (--kernel)`);
    }
    const input = ctx.positionals[0]!;
    const payload = await readInput(input, "input");
    const meta = { type: str(v.type), name: str(v.name), version: str(v.version), description: str(v.description) };
    encoded = await encodeContainer(payload, converterMetadata(meta, basename(input)), options);
    kind = meta.type ?? "binary";
    payloadSize = payload.length;
  }
  await writeFileAtomic(out, encoded.png);
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
  notes: "`pack INPUT` writes the same metadata, byte for byte, as the original PixelRTS converter given the same --name/--type/--version/--description.",
  async run(ctx) {
    const { out, encoded, kind, payloadSize } = await pack(ctx);
    const summary = { file: out, kind, grid: encoded.gridSize, payload_size: payloadSize, data_hash: encoded.dataHash };
    if (ctx.json) ctx.out(JSON.stringify(summary));
    else ctx.out(`packed ${payloadSize} bytes (${kind}) into ${out}: ${encoded.gridSize}x${encoded.gridSize} grid, sha256 ${encoded.dataHash}`);
  },
};
