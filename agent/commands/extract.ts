import { extractSegment, listSegments } from "../../shared/container/bundle.js";
import { fail } from "../../shared/errors.js";
import type { Command } from "../cli/command.js";
import { safeText } from "../cli/terminal.js";
import { decodeFile, writeFileAtomic } from "../codec/files.js";
import { NODE_CODEC } from "../codec/node-platform.js";

export const extractCommand: Command = {
  name: "extract",
  summary: "Write a container's payload (or one segment) to a file, hash-checked",
  args: [{ name: "<FILE>", description: "a .rts.png file" }],
  options: {
    output: { type: "string", short: "o", value: "OUT", description: "where to write the bytes (required; its directory must exist)" },
    segment: { type: "string", value: "NAME", description: "only this segment of a boot bundle (kernel, initrd, disk, ...), checked against its own hash" },
    "no-verify": { type: "boolean", description: "write the bytes even if they do not hash to data_hash (with a warning)" },
    sidecar: { type: "string", value: "META.json", description: "read the metadata from this sidecar file" },
    "no-sidecar": { type: "boolean", description: "ignore any sidecar file" },
    raw: { type: "boolean", description: "no metadata: write every byte of the grid in curve order" },
  },
  examples: ["pixelrts extract demo.rts.png -o payload.bin", "pixelrts extract demo.rts.png --segment kernel -o vmlinuz"],
  async run(ctx) {
    const file = ctx.positionals[0] ?? fail("E_USAGE", "extract needs a FILE");
    const out = (ctx.values.output as string | undefined) ?? fail("E_USAGE", "extract needs -o OUT");
    const noVerify = Boolean(ctx.values["no-verify"]);
    const d = await decodeFile(file, {
      verify: !noVerify,
      raw: Boolean(ctx.values.raw),
      sidecar: ctx.values["no-sidecar"] ? false : (ctx.values.sidecar as string | undefined),
    });
    for (const w of d.warnings) ctx.err(`warning: ${safeText(w)}`);
    const expected = d.metadata.data_hash?.toLowerCase();
    if (noVerify && expected && expected !== d.sha256) ctx.err(`warning: payload SHA-256 ${d.sha256} does not match data_hash ${expected}; writing it anyway (--no-verify)`);
    let bytes = d.payload;
    const name = ctx.values.segment as string | undefined;
    if (name !== undefined) {
      const segs = listSegments(d.metadata, d.payload.length);
      const ref = segs.find((s) => s.name === name) ?? fail("E_NOT_FOUND", `no segment named ${name} (segments: ${segs.map((s) => s.name).join(", ") || "none"})`);
      bytes = noVerify ? d.payload.subarray(ref.start, ref.start + ref.size) : await extractSegment(d.metadata, d.payload, ref, NODE_CODEC.sha256);
    }
    await writeFileAtomic(out, bytes);
    const status = noVerify ? "NOT verified (--no-verify)" : d.integrity === "verified" ? "verified" : "unverified: the container has no data_hash";
    if (ctx.json) ctx.out(JSON.stringify({ file, output: out, bytes: bytes.length, segment: name, integrity: noVerify ? "skipped" : d.integrity, sha256: d.sha256 }));
    else ctx.out(`extracted ${bytes.length} bytes to ${out} (${status})`);
  },
};
