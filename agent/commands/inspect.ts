import { listSegments } from "../../shared/container/bundle.js";
import { isPixelRtsError } from "../../shared/errors.js";
import type { Command, CommandContext } from "../cli/command.js";
import { safeText } from "../cli/terminal.js";
import { hashFile } from "../cache/index.js";
import { decodeFile } from "../codec/files.js";
import type { AgentContext } from "../context.js";
import { checkFileSignature } from "../trust/file.js";
import { CACHE_DIR_OPTION, containerSource, withAgent } from "./common.js";

export const inspectCommand: Command = {
  name: "inspect",
  summary: "Show a container's metadata, grid, sizes, segments and hash status",
  args: [{ name: "<REF>", description: "a .rts.png file, or a catalog id or name, sha256:HEX (or 8+ digits of it) or URL: the cached copy, pulled if needed" }],
  options: {
    sidecar: { type: "string", value: "META.json", description: "read the metadata from this sidecar file instead of the PNG's (default: FILE.meta.json when present)" },
    "no-sidecar": { type: "boolean", description: "ignore any sidecar file" },
    sig: { type: "string", value: "FILE", description: "a file's signature envelope (default: FILE.sig.json beside it, when present)" },
    ...CACHE_DIR_OPTION,
  },
  examples: ["pixelrts inspect demo.rts.png", "pixelrts inspect demo-linux              # the cached copy (pulled if needed)", "pixelrts inspect demo.rts.png --json | jq .segments"],
  notes: "Exit 3 when the payload does not hash to data_hash or a signature is invalid.",
  async run(ctx) {
    return withAgent(ctx, (agent) => inspect(ctx, agent, ctx.positionals[0]!));
  },
};

async function inspect(ctx: CommandContext, agent: AgentContext, ref: string): Promise<number | void> {
  const source = await containerSource(ctx, agent, ref);
  const file = source.path;
  // Decode without failing on a hash mismatch: inspect reports it, then exits 3.
  const d = await decodeFile(file, { verify: false, sidecar: source.cached ? false : ctx.values["no-sidecar"] ? false : (ctx.values.sidecar as string | undefined) });
  const fileSha256 = source.cached?.sha256 ?? (await hashFile(file)).hex;
  const trust = source.cached?.trust ?? (await checkFileSignature(agent, file, typeof ctx.values.sig === "string" ? ctx.values.sig : undefined, false));
  const { line: trustLine, ...signatures } = trust;
  const m = d.metadata;
  const expected = m.data_hash?.toLowerCase();
  const hashStatus = expected === undefined ? "unverified (no data_hash)" : expected === d.sha256 ? "verified" : "MISMATCH";
  let segments: ReturnType<typeof listSegments> = [];
  let segmentError: string | undefined;
  try {
    segments = listSegments(m, d.payload.length);
  } catch (e) {
    if (!isPixelRtsError(e)) throw e;
    segmentError = `${e.code}: ${e.message}`;
  }
  const info = {
    file,
    format: m.format,
    grid: `${d.ihdr.width}x${d.ihdr.height}`,
    encoding: m.encoding_mode ?? m.encoding?.type,
    type: m.type,
    name: m.name,
    content_version: m.content_version,
    description: m.description,
    data_size: m.data_size,
    payload_size: d.payload.length,
    file_sha256: fileSha256,
    data_hash: expected,
    payload_sha256: d.sha256,
    hash_status: hashStatus,
    compression: m.compression?.type,
    metadata_source: d.sidecarPath ? `sidecar ${d.sidecarPath}` : d.metadataSource,
    signature: d.signature.state,
    ...("reason" in d.signature ? { signature_reason: d.signature.reason } : {}),
    signatures,
    boot: m.boot,
    segments: segments.map((s) => ({ name: s.name, type: s.type, start: s.start, size: s.size, sha256: s.sha256 })),
    segment_error: segmentError,
    warnings: d.warnings,
    metadata: m,
  };
  if (ctx.json) ctx.out(JSON.stringify(info));
  else {
    // Every value may come from the container: made terminal-safe before it is printed.
    const row = (k: string, v: unknown) => v !== undefined && v !== "" && ctx.out(`${k.padEnd(14)} ${safeText(typeof v === "object" ? JSON.stringify(v) : String(v))}`);
    row("file", file);
    row("format", m.format);
    row("grid", info.grid);
    row("encoding", info.encoding);
    row("type", m.type);
    row("name", m.name);
    row("version", m.content_version);
    row("description", m.description);
    row("payload", `${d.payload.length} bytes`);
    row("file sha256", fileSha256);
    row("payload sha256", d.sha256);
    row("hash", hashStatus);
    row("signed", trustLine);
    row("compression", info.compression);
    row("metadata", info.metadata_source);
    if (d.signature.state !== "none") row("embedded sig", `${d.signature.state}${"reason" in d.signature ? `: ${d.signature.reason}` : ""} (original format: covers the payload only)`);
    if (m.boot) row("boot", m.boot);
    for (const s of segments) row("segment", `${s.name} (${s.type}) at ${s.start}, ${s.size} bytes${s.sha256 ? `, sha256 ${s.sha256}` : ""}`);
    if (segmentError) row("segments", segmentError);
    for (const w of d.warnings) ctx.err(`warning: ${safeText(w)}`);
  }
  if (hashStatus === "MISMATCH") {
    if (!ctx.json) ctx.err(`pixelrts: E_HASH_MISMATCH: Hash mismatch: expected ${expected}, got ${d.sha256}`);
    return 3;
  }
  if (d.signature.state === "invalid") {
    if (!ctx.json) ctx.err(`pixelrts: E_SIGNATURE_INVALID: ${safeText(d.signature.reason)}`);
    return 3;
  }
}
