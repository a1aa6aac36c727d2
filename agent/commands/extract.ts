import { rename, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { randomBytes } from "node:crypto";
import { extractSegment, listSegments } from "../../shared/container/bundle.js";
import { fail } from "../../shared/errors.js";
import type { Command, CommandContext } from "../cli/command.js";
import { safeText } from "../cli/terminal.js";
import { decodeToFiles, extractPayloadToFile, type DecodedToFiles, type DecodeToFilesOptions } from "../codec/decode-file.js";
import { decodeFile } from "../codec/files.js";
import { fileError, writeFileAtomic } from "../fsutil/index.js";
import { maxGridFromEnv } from "../codec/limits.js";
import { NODE_CODEC } from "../codec/node-platform.js";
import { CACHE_DIR_OPTION, containerSource, outputPath, withAgent } from "./common.js";

/** One segment to `out` (a temp file renamed once data_hash and the segment's hashes matched). */
async function extractSegmentToFile(file: string, out: string, name: string, opts: DecodeToFilesOptions): Promise<DecodedToFiles> {
  const tmp = join(dirname(out), `.${out.split("/").pop()}.${randomBytes(6).toString("hex")}.tmp`);
  const d = await decodeToFiles(
    file,
    (m, size) => {
      if (!m) fail("E_UNSUPPORTED", "metadata after the image data");
      const segs = listSegments(m, size);
      const ref = segs.find((s) => s.name === name) ?? fail("E_NOT_FOUND", `no segment named ${name} (segments: ${segs.map((s) => s.name).join(", ") || "none"})`);
      const expect = [ref.sha256, typeof m.hashes?.[ref.name] === "string" ? m.hashes[ref.name]!.toLowerCase() : undefined].filter((h): h is string => !!h);
      return { regions: [{ name, start: ref.start, size: ref.size, expect }], paths: [tmp] };
    },
    dirname(out),
    opts,
  ).catch(async (e) => {
    // Compressed or code-mode payloads, or metadata after the image data: decoded in memory.
    if ((e as { code?: string }).code === "E_UNSUPPORTED") return undefined;
    throw fileError(e, `cannot write ${out}`);
  });
  if (!d) return segmentInMemory(file, out, name, opts);
  try {
    await rename(tmp, out);
  } catch (e) {
    await rm(tmp, { force: true });
    throw fileError(e, `cannot write ${out}`);
  }
  return d;
}

async function segmentInMemory(file: string, out: string, name: string, opts: DecodeToFilesOptions): Promise<DecodedToFiles> {
  const d = await decodeFile(file, { verify: opts.verify, sidecar: opts.sidecar, maxGrid: maxGridFromEnv() });
  const segs = listSegments(d.metadata, d.payload.length);
  const ref = segs.find((s) => s.name === name) ?? fail("E_NOT_FOUND", `no segment named ${name} (segments: ${segs.map((s) => s.name).join(", ") || "none"})`);
  const bytes = opts.verify === false ? d.payload.subarray(ref.start, ref.start + ref.size) : await extractSegment(d.metadata, d.payload, ref, NODE_CODEC.sha256);
  await writeFileAtomic(out, bytes);
  return { ...d, metadataSource: d.metadataSource === "none" ? "embedded" : d.metadataSource, size: d.payload.length, regions: [{ name, path: out, size: bytes.length, sha256: "" }], inMemory: true };
}

/** --raw: no metadata, every byte of the grid (in memory, bounded by the grid limit). */
async function rawExtract(file: string, out: string, sidecar: string | false | undefined, verify: boolean): Promise<DecodedToFiles> {
  const d = await decodeFile(file, { raw: true, verify, sidecar, maxGrid: maxGridFromEnv() });
  await writeFileAtomic(out, d.payload);
  return { ...d, metadataSource: d.metadataSource === "none" ? "embedded" : d.metadataSource, size: d.payload.length, regions: [], inMemory: true };
}

export const extractCommand: Command = {
  name: "extract",
  summary: "Write a container's payload (or one segment) to a file, hash-checked",
  args: [{ name: "<REF>", description: "a .rts.png file, or a catalog id or name, sha256:HEX (or 8+ digits of it) or URL: the cached copy, pulled if needed" }],
  options: {
    output: { type: "string", short: "o", value: "OUT", description: "where to write the bytes (required; its directory must exist)" },
    segment: { type: "string", value: "NAME", description: "only this segment of a boot bundle (kernel, initrd, disk, ...), checked against its own hash" },
    "no-verify": { type: "boolean", description: "write the bytes even if they do not hash to data_hash (with a warning)" },
    sidecar: { type: "string", value: "META.json", description: "read the metadata from this sidecar file" },
    "no-sidecar": { type: "boolean", description: "ignore any sidecar file" },
    raw: { type: "boolean", description: "no metadata: write every byte of the grid in curve order" },
    ...CACHE_DIR_OPTION,
  },
  examples: ["pixelrts extract demo.rts.png -o payload.bin", "pixelrts extract demo.rts.png --segment kernel -o vmlinuz", "pixelrts extract demo-linux --segment initrd -o initrd.img   # from the cache"],
  async run(ctx) {
    const ref = ctx.positionals[0] ?? fail("E_USAGE", "extract needs a FILE or a ref");
    // The output path is checked before anything is fetched or decoded.
    const out = await outputPath((ctx.values.output as string | undefined) ?? fail("E_USAGE", "extract needs -o OUT"));
    return withAgent(ctx, async (agent) => extract(ctx, (await containerSource(ctx, agent, ref)).path, out));
  },
};

async function extract(ctx: CommandContext, file: string, out: string): Promise<void> {
  const noVerify = Boolean(ctx.values["no-verify"]);
  const sidecar = ctx.values["no-sidecar"] ? false : (ctx.values.sidecar as string | undefined);
  const name = ctx.values.segment as string | undefined;
  // Streamed to the file in constant memory (raw mode reads the whole grid in memory).
  const d = ctx.values.raw ? await rawExtract(file, out, sidecar, !noVerify) : name === undefined ? await extractPayloadToFile(file, out, { verify: !noVerify, sidecar }) : await extractSegmentToFile(file, out, name, { verify: !noVerify, sidecar });
  for (const w of d.warnings) ctx.err(`warning: ${safeText(w)}`);
  const expected = d.metadata.data_hash?.toLowerCase();
  if (noVerify && expected && expected !== d.sha256) ctx.err(`warning: payload SHA-256 ${d.sha256} does not match data_hash ${expected}; writing it anyway (--no-verify)`);
  const bytes = { length: name === undefined ? d.size : d.regions[0]!.size };
  const status = noVerify ? "NOT verified (--no-verify)" : d.integrity === "verified" ? "verified" : "unverified: the container has no data_hash";
  if (ctx.json) ctx.out(JSON.stringify({ file, output: out, bytes: bytes.length, segment: name ?? null, integrity: noVerify ? "skipped" : d.integrity, payload_sha256: d.sha256 }));
  else ctx.out(`extracted ${bytes.length} bytes to ${out} (${status})`);
}
