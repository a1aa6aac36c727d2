import { stat } from "node:fs/promises";
import { hashFile } from "../cache/index.js";
import type { AgentContext } from "../context.js";
import { readEnvelopeFile } from "./envelope-file.js";
import { enforce, judge, NOT_CHECKED, type TrustInput, type TrustReport } from "./policy.js";

/** FILE.rts.png → FILE.sig.json, where `sign` writes and `verify`, `inspect` and `boot FILE` look. */
export const sigPathFor = (file: string) => `${file.replace(/\.rts\.png$/i, "")}.sig.json`;

/**
 * A local file's signature (its envelope from `sigFile`, else FILE.sig.json beside it) judged
 * under the global policy, and enforced when asked (boot). The file is hashed only when there is
 * an envelope to check or signatures are required.
 */
export async function checkFileSignature(agent: AgentContext, file: string, sigFile: string | undefined, enforcePolicy: boolean): Promise<TrustReport> {
  const input: TrustInput = { policy: agent.settings.signatures };
  if (input.policy === "off") return NOT_CHECKED(input.policy);
  const envelopes = await readEnvelopeFile(sigFile ?? sigPathFor(file), sigFile !== undefined);
  if (envelopes.length === 0 && !(enforcePolicy && input.policy === "require")) return { policy: input.policy, state: "unsigned", keyids: [], line: "not signed" };
  const [{ hex }, { size }] = await Promise.all([hashFile(file), stat(file)]);
  const { summary, report } = await judge(agent.paths.configDir, envelopes, { sha256: hex, size }, input);
  if (enforcePolicy) await enforce(agent.paths.configDir, file, summary, input);
  return report;
}
