/**
 * Validating a signature envelope for one blob before anything is stored (docs/WORKER.md,
 * "Signatures"), with the shared trust core (shared/trust): never a second implementation.
 *
 * For a blob of SHA-256 S and size N published as name M, in this order:
 *   parseEnvelope; payloadType === PAYLOAD_TYPE; parseStatement   else 400 E_SIGNATURE_INVALID
 *   statement.sha256 === S, statement.size === N, statement.name === M   else 400 E_SIGNATURE_MISMATCH
 *   at least one signature verifies:
 *     PUBLISH_KEYS set: only signatures by those keys count; a valid envelope by another key
 *                       is 403 E_SIGNATURE_REQUIRED;
 *     unset:            the key carried in the signature (its key id must match) is used;
 *   a signature that does not verify (and none that does)       400 E_SIGNATURE_INVALID.
 * What is kept per verifying key id is an envelope with that key id's signature only, re-serialised
 * from the parsed form (unknown members dropped): the body stored at signatures/<S>/<keyid>.
 */
import { fromBase64 } from "../../shared/bytes";
import { checkSignatures, envelopeBody, MAX_ENVELOPE_BYTES, parseEnvelope, type DsseEnvelope } from "../../shared/trust/dsse";
import type { PublicKey } from "../../shared/trust/keys";
import { PAYLOAD_TYPE, parseStatement, type Statement } from "../../shared/trust/statement";
import { httpFail } from "../errors";

/** What a signature must be about. */
export interface SignedSubject {
  sha256: string;
  size: number;
  name: string;
}

/** One verified signature, ready to store. */
export interface VerifiedSignature {
  keyid: string;
  /** `{payloadType, payload, signatures: [this key id's signature]}` as JSON: the stored body. */
  body: string;
  statement: Statement;
}

export interface ValidatedEnvelope {
  statement: Statement;
  signatures: VerifiedSignature[];
}

const invalid = (message: string): never => httpFail("E_SIGNATURE_INVALID", message);

/** The envelope JSON carried by `X-PixelRTS-Signature` (standard base64); null without the header. */
export function envelopeFromHeader(h: Headers): string | null {
  const v = h.get("x-pixelrts-signature");
  if (v === null) return null;
  const raw = v.trim();
  if (raw.length > Math.ceil(MAX_ENVELOPE_BYTES / 3) * 4) invalid(`X-PixelRTS-Signature is larger than ${MAX_ENVELOPE_BYTES} bytes of envelope`);
  const bytes = fromBase64(raw) ?? invalid("X-PixelRTS-Signature must be the envelope JSON in standard, padded base64");
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    return invalid("X-PixelRTS-Signature does not hold UTF-8 JSON");
  }
}

/** Validates `text` (the envelope JSON) for `subject`; throws the refusal, else returns what to store. */
export async function validateEnvelope(text: string, subject: SignedSubject, publishKeys: ReadonlyMap<string, PublicKey> | null): Promise<ValidatedEnvelope> {
  const env: DsseEnvelope = parseEnvelope(text); // E_SIGNATURE_INVALID on anything malformed
  if (env.payloadType !== PAYLOAD_TYPE) invalid(`payloadType must be ${PAYLOAD_TYPE}`);
  const statement = parseStatement(envelopeBody(env));
  if (statement.sha256 !== subject.sha256 || statement.size !== subject.size) {
    httpFail("E_SIGNATURE_MISMATCH", `the envelope signs sha256 ${statement.sha256} (${statement.size} bytes), not this blob (${subject.sha256}, ${subject.size} bytes)`, {
      details: { signed_sha256: statement.sha256, signed_size: statement.size },
    });
  }
  if (statement.name !== subject.name) {
    httpFail("E_SIGNATURE_MISMATCH", `the envelope is signed for the name '${statement.name}', not '${subject.name}'`, { details: { signed_name: statement.name } });
  }
  const checks = await checkSignatures(env, (id) => publishKeys?.get(id));
  const counted = checks.filter((c) => c.ok && (!publishKeys || publishKeys.has(c.keyid)));
  if (counted.length === 0) {
    if (publishKeys && checks.some((c) => c.ok)) {
      httpFail("E_SIGNATURE_REQUIRED", "the envelope is not signed by a key in this server's PUBLISH_KEYS", { details: { keyids: checks.filter((c) => c.ok).map((c) => c.keyid) } });
    }
    const why = checks.map((c) => `${c.keyid}: ${c.reason ?? "does not verify"}`).join("; ");
    invalid(`no signature in the envelope verifies (${why})`);
  }
  const seen = new Set<string>();
  const signatures: VerifiedSignature[] = [];
  for (const c of counted) {
    if (seen.has(c.keyid)) continue;
    seen.add(c.keyid);
    const own = env.signatures.filter((s, i) => s.keyid === c.keyid && checks[i]!.ok);
    const body = JSON.stringify({ payloadType: env.payloadType, payload: env.payload, signatures: own.map((s) => ({ keyid: s.keyid, sig: s.sig, ...(s.public_key !== undefined ? { public_key: s.public_key } : {}) })) });
    signatures.push({ keyid: c.keyid, body, statement });
  }
  return { statement, signatures };
}

/** PUBLISH_KEYS set and no envelope: 403 E_SIGNATURE_REQUIRED (nothing is stored). */
export function requireSignature(publishKeys: ReadonlyMap<string, PublicKey> | null, envelope: string | null): void {
  if (publishKeys && envelope === null) {
    httpFail("E_SIGNATURE_REQUIRED", "this server accepts only signed publishes: send X-PixelRTS-Signature (base64 of a DSSE envelope signed by a key in PUBLISH_KEYS)");
  }
}
