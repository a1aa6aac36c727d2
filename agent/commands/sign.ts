import { stat } from "node:fs/promises";
import { basename } from "node:path";
import { fail } from "../../shared/errors.js";
import { isContainerName } from "../../shared/names.js";
import type { Command } from "../cli/command.js";
import { safeText } from "../cli/terminal.js";
import { hashFile } from "../cache/index.js";
import { decodeFile } from "../codec/files.js";
import { writeFileAtomic } from "../fsutil/index.js";
import { readEnvelopeFile } from "../trust/envelope-file.js";
import { sigPathFor } from "../trust/file.js";
import { Keyring } from "../trust/keyring.js";
import { enforce, judge } from "../trust/policy.js";
import { describeFile, signSubject } from "../trust/sign.js";
import { outputPath, withAgent } from "./common.js";


export const signCommand: Command = {
  name: "sign",
  summary: "Sign a container file: a DSSE envelope over its SHA-256, size and name (docs/TRUST.md)",
  args: [{ name: "<FILE>", description: "the .rts.png to sign" }],
  options: {
    key: { type: "string", value: "NAME", description: "the signing key (see `pixelrts key ls`; required)" },
    name: { type: "string", value: "NAME", description: "the container name you vouch for: hosts refuse it under another name (default: its metadata name, else the file name)" },
    version: { type: "string", value: "VERSION", description: "a version label (default: its metadata content_version)" },
    output: { type: "string", short: "o", value: "FILE", description: "where to write the envelope (default: FILE.sig.json beside it)" },
  },
  examples: ["pixelrts sign demo.rts.png --key release", "pixelrts publish demo.rts.png --sign release   # sign and upload in one go"],
  async run(ctx) {
    const file = ctx.positionals[0]!;
    const keyName = typeof ctx.values.key === "string" ? ctx.values.key : fail("E_USAGE", "sign needs --key NAME (make one with 'pixelrts key generate NAME')");
    const out = await outputPath(typeof ctx.values.output === "string" ? ctx.values.output : sigPathFor(file));
    return withAgent(ctx, async (agent) => {
      const key = await new Keyring(agent.paths.configDir).load(keyName);
      const decoded = await decodeFile(file, { sidecar: false });
      if (decoded.integrity !== "verified") fail("E_NOT_VERIFIABLE", `${file} has no data_hash: its payload cannot be verified, so it is not signed (repack it with pixelrts pack)`);
      const fallback = basename(file).replace(/\.rts\.png$/i, "").replace(/\.png$/i, "");
      const name = typeof ctx.values.name === "string" ? ctx.values.name : typeof decoded.metadata.name === "string" && isContainerName(decoded.metadata.name) ? decoded.metadata.name : fallback;
      if (!isContainerName(name)) fail("E_BAD_NAME", `'${safeText(name)}' is not a container name: use --name`);
      const subject = await describeFile(file, name, typeof ctx.values.version === "string" ? ctx.values.version : undefined);
      const { envelope, statement } = await signSubject(subject, key);
      await writeFileAtomic(out, new TextEncoder().encode(JSON.stringify(envelope, null, 2) + "\n"));
      if (ctx.json) ctx.out(JSON.stringify({ file, signature_file: out, keyid: key.key.keyid, statement }));
      else ctx.out(`signed ${safeText(file)} as '${safeText(name)}' (file sha256 ${statement.sha256}) with ${key.name} (${key.key.keyid}): ${safeText(out)}`);
    });
  },
};

export const verifyCommand: Command = {
  name: "verify",
  summary: "Check a container file's signature against the keys this host trusts",
  args: [{ name: "<FILE>", description: "the .rts.png to check" }],
  options: {
    sig: { type: "string", value: "FILE", description: "the envelope (default: FILE.sig.json beside it)" },
    name: { type: "string", value: "NAME", description: "also require the signature to be for this container name" },
  },
  examples: ["pixelrts verify demo.rts.png", "pixelrts verify demo.rts.png --sig demo.sig.json --name demo"],
  notes: "Exit 0 when a trusted key signed this exact file; otherwise 3 with E_UNSIGNED, E_UNTRUSTED_KEY, E_SIGNATURE_MISMATCH or E_SIGNATURE_INVALID. The original format's embedded signature is reported too, but it covers only the payload, never the metadata.",
  async run(ctx) {
    const file = ctx.positionals[0]!;
    const sig = typeof ctx.values.sig === "string" ? ctx.values.sig : sigPathFor(file);
    return withAgent(ctx, async (agent) => {
      const envelopes = await readEnvelopeFile(sig, typeof ctx.values.sig === "string");
      const st = await stat(file).catch(() => fail("E_NOT_FOUND", `no such file: ${file}`));
      const subject = { sha256: (await hashFile(file)).hex, size: st.size };
      const decoded = await decodeFile(file, { sidecar: false, verify: false });
      const input = { policy: "require" as const, ...(typeof ctx.values.name === "string" ? { name: ctx.values.name } : {}) };
      const { summary, report } = await judge(agent.paths.configDir, envelopes, { sha256: subject.sha256, size: subject.size, ...(input.name ? { name: input.name } : {}) }, input);
      const embedded = decoded.signature.state;
      if (ctx.json) ctx.out(JSON.stringify({ file, signature_file: envelopes.length ? sig : null, sha256: subject.sha256, size: subject.size, ...report, statement: summary.trusted?.statement ?? null, embedded_signature: embedded }));
      else {
        ctx.out(`${safeText(file)}: ${report.line.replace(/ \(signatures: warn\)$/, "")}`);
        if (summary.trusted) ctx.out(`  covers: name '${safeText(summary.trusted.statement.name)}', version ${safeText(String(summary.trusted.statement.version))}, file sha256 ${subject.sha256}, ${subject.size} bytes`);
        if (embedded !== "none") ctx.out(`  embedded signature (original format, payload only): ${embedded}`);
      }
      await enforce(agent.paths.configDir, file, summary, input);
    });
  },
};
