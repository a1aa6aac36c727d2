/**
 * Judging a container's signature envelopes against a set of trusted keys: the one rule the
 * agent applies before anything reaches QEMU (and shows in `catalog`/`inspect`), written once.
 *
 * Each signature of each envelope gets a verdict:
 *   trusted    verifies with a trusted key, and its statement names this file (sha256, size) and,
 *              when the host resolved a name, that name;
 *   untrusted  verifies with the key it carries, but that key is not trusted here;
 *   mismatch   verifies, but the statement is about another file or another name;
 *   invalid    malformed, or the signature does not verify (tampered payload, statement, sig or key id).
 * Envelopes anyone may add (a server can list garbage) never cancel a trusted signature; without
 * one, the summary reports the most telling problem: invalid, then mismatch, then untrusted, then unsigned.
 */
import { isPixelRtsError } from "../errors.js";
import { checkSignatures, envelopeBody, parseEnvelope } from "./dsse.js";
import type { PublicKey } from "./keys.js";
import { PAYLOAD_TYPE, parseStatement, type Statement } from "./statement.js";

export interface TrustedKey {
  key: PublicKey;
  /** Human name of the key (from `trust add --name`). */
  name: string;
}

/**
 * What was asked for: the file's digest and size (when known — before a download from a URL
 * they are not, and a trusted statement then says what to expect), and the name it was resolved by.
 */
export interface Subject {
  sha256?: string;
  size?: number;
  /** The name the host resolved (`boot NAME`); undefined for files, URLs and digests. */
  name?: string;
}

export type SignatureVerdict =
  | { state: "trusted"; keyid: string; key_name: string; statement: Statement }
  | { state: "untrusted"; keyid: string; statement: Statement; /** The key the signature carries (`ed25519:…`), for `pixelrts trust add`. */ public_key?: string }
  | { state: "mismatch"; keyid: string; statement: Statement; reason: string }
  | { state: "invalid"; keyid: string | null; reason: string };

export type TrustState = "trusted" | "untrusted" | "mismatch" | "invalid" | "unsigned";

export interface TrustSummary {
  state: TrustState;
  /** The trusted verdict with the newest statement, when there is one. */
  trusted?: Extract<SignatureVerdict, { state: "trusted" }>;
  verdicts: SignatureVerdict[];
  /** Every key id seen, for messages ("signed by 1a2b…, not trusted here"). */
  keyids: string[];
}

function mismatchReason(s: Statement, subject: Subject): string | undefined {
  if (subject.sha256 !== undefined && s.sha256 !== subject.sha256) return `it signs sha256 ${s.sha256.slice(0, 12)}…, this file is ${subject.sha256.slice(0, 12)}…`;
  if (subject.size !== undefined && s.size !== subject.size) return `it signs ${s.size} bytes, this file has ${subject.size}`;
  if (subject.name !== undefined && s.name !== subject.name) return `it is signed for the name '${s.name}', not '${subject.name}'`;
  return undefined;
}

async function judgeEnvelope(raw: unknown, subject: Subject, trusted: ReadonlyMap<string, TrustedKey>): Promise<SignatureVerdict[]> {
  try {
    const env = parseEnvelope(raw);
    if (env.payloadType !== PAYLOAD_TYPE) return [{ state: "invalid", keyid: env.signatures[0]?.keyid ?? null, reason: `payloadType is ${env.payloadType}, not ${PAYLOAD_TYPE}` }];
    const statement = parseStatement(envelopeBody(env));
    const checks = await checkSignatures(env, (id) => trusted.get(id)?.key);
    return checks.map((c): SignatureVerdict => {
      if (!c.ok) return { state: "invalid", keyid: c.keyid, reason: c.reason ?? "the signature does not verify" };
      const reason = mismatchReason(statement, subject);
      if (reason) return { state: "mismatch", keyid: c.keyid, statement, reason };
      const t = trusted.get(c.keyid);
      return t ? { state: "trusted", keyid: c.keyid, key_name: t.name, statement } : { state: "untrusted", keyid: c.keyid, statement, ...(c.key ? { public_key: c.key.text } : {}) };
    });
  } catch (e) {
    if (isPixelRtsError(e)) return [{ state: "invalid", keyid: null, reason: e.message }];
    throw e;
  }
}

export async function judgeSignatures(envelopes: readonly unknown[], subject: Subject, trustedKeys: readonly TrustedKey[]): Promise<TrustSummary> {
  const trusted = new Map(trustedKeys.map((t) => [t.key.keyid, t]));
  const verdicts = (await Promise.all(envelopes.map((e) => judgeEnvelope(e, subject, trusted)))).flat();
  const keyids = [...new Set(verdicts.map((v) => v.keyid).filter((k): k is string => k !== null))];
  const best = verdicts
    .filter((v): v is Extract<SignatureVerdict, { state: "trusted" }> => v.state === "trusted")
    .sort((a, b) => Date.parse(b.statement.signed_at) - Date.parse(a.statement.signed_at))[0];
  if (best) return { state: "trusted", trusted: best, verdicts, keyids };
  for (const state of ["invalid", "mismatch", "untrusted"] as const) {
    if (verdicts.some((v) => v.state === state)) return { state, verdicts, keyids };
  }
  return { state: "unsigned", verdicts, keyids };
}
