/**
 * DSSE, the Dead Simple Signing Envelope used by in-toto and sigstore
 * (github.com/secure-systems-lab/dsse): `{payloadType, payload: base64, signatures: [{keyid, sig}]}`,
 * each signature over PAE(payloadType, payload) = "DSSEv1 <len> <type> <len> <body>".
 *
 * One addition, allowed by DSSE's JSON form (verifiers ignore unknown members): each signature
 * may carry the signer's `public_key` (`ed25519:<base64>`), so a server can check an envelope it
 * has no key list for. Carrying a key proves nothing about trust: hosts trust key ids they were
 * told to trust, and a carried key must hash to the signature's keyid.
 *
 * Parsing is strict (known shapes, canonical base64, size caps): an envelope is attacker input.
 */
import { fromBase64, toBase64 } from "../bytes.js";
import { fail } from "../errors.js";
import { ed25519Verify, isKeyId, parsePublicKey, type PublicKey } from "./keys.js";

export interface DsseSignature {
  keyid: string;
  /** base64 of the 64-byte Ed25519 signature. */
  sig: string;
  /** Our addition: the signer's key, `ed25519:<base64>`. */
  public_key?: string;
}

export interface DsseEnvelope {
  payloadType: string;
  /** base64 of the statement bytes. */
  payload: string;
  signatures: DsseSignature[];
}

/** Caps: an envelope is small; anything bigger is not one of ours. */
export const MAX_ENVELOPE_BYTES = 16 * 1024;
const MAX_PAYLOAD_BYTES = 4096;
const MAX_SIGNATURES = 8;

const utf8 = new TextEncoder();

/** DSSE's pre-authentication encoding: what is actually signed. */
export function pae(payloadType: string, body: Uint8Array): Uint8Array {
  const type = utf8.encode(payloadType);
  const head = utf8.encode(`DSSEv1 ${type.length} `);
  const mid = utf8.encode(` ${body.length} `);
  const out = new Uint8Array(head.length + type.length + mid.length + body.length);
  out.set(head, 0);
  out.set(type, head.length);
  out.set(mid, head.length + type.length);
  out.set(body, head.length + type.length + mid.length);
  return out;
}

const invalid = (why: string): never => fail("E_SIGNATURE_INVALID", `not a valid signature envelope: ${why}`);

/** Validates the shape of an envelope (parsed JSON or its text); E_SIGNATURE_INVALID otherwise. */
export function parseEnvelope(input: unknown): DsseEnvelope {
  let doc = input;
  if (typeof input === "string") {
    if (input.length > MAX_ENVELOPE_BYTES) invalid(`larger than ${MAX_ENVELOPE_BYTES} bytes`);
    try {
      doc = JSON.parse(input);
    } catch {
      invalid("not JSON");
    }
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) return invalid("not a JSON object");
  const d = doc as Record<string, unknown>;
  if (typeof d.payloadType !== "string" || !d.payloadType || d.payloadType.length > 256) invalid("payloadType missing");
  if (typeof d.payload !== "string") invalid("payload missing");
  const body = fromBase64(d.payload as string);
  if (!body) invalid("payload is not canonical base64");
  if (body!.length > MAX_PAYLOAD_BYTES) invalid(`payload larger than ${MAX_PAYLOAD_BYTES} bytes`);
  if (!Array.isArray(d.signatures) || d.signatures.length === 0) invalid("no signatures");
  if ((d.signatures as unknown[]).length > MAX_SIGNATURES) invalid(`more than ${MAX_SIGNATURES} signatures`);
  const signatures = (d.signatures as unknown[]).map((s, i): DsseSignature => {
    if (typeof s !== "object" || s === null) return invalid(`signature ${i} is not an object`);
    const r = s as Record<string, unknown>;
    if (!isKeyId(r.keyid)) invalid(`signature ${i} has no key id (16 hex digits)`);
    const sig = typeof r.sig === "string" ? fromBase64(r.sig) : undefined;
    if (!sig || sig.length !== 64) invalid(`signature ${i} is not base64 of 64 bytes`);
    if (r.public_key !== undefined && typeof r.public_key !== "string") invalid(`signature ${i} has a malformed public_key`);
    return { keyid: r.keyid as string, sig: r.sig as string, ...(r.public_key !== undefined ? { public_key: r.public_key as string } : {}) };
  });
  return { payloadType: d.payloadType as string, payload: d.payload as string, signatures };
}

export function envelopeBody(env: DsseEnvelope): Uint8Array {
  return fromBase64(env.payload) ?? invalid("payload is not canonical base64");
}

/** Signs `body` with one key; `sign` holds the private key (agent only). */
export async function signEnvelope(payloadType: string, body: Uint8Array, key: PublicKey, sign: (message: Uint8Array) => Promise<Uint8Array>): Promise<DsseEnvelope> {
  const sig = await sign(pae(payloadType, body));
  return { payloadType, payload: toBase64(body), signatures: [{ keyid: key.keyid, sig: toBase64(sig), public_key: key.text }] };
}

export interface SignatureCheck {
  keyid: string;
  /** The key that verified it (from the caller's key set, else the one carried), when any did. */
  key?: PublicKey;
  ok: boolean;
  /** Why not ok: unknown key, carried key not matching its key id, or a bad signature. */
  reason?: string;
}

/**
 * Checks every signature of an envelope. A signature is checked with the caller's key for its
 * key id when there is one, else with the key it carries (whose id must match); without either
 * it is reported as not ok with reason "unknown key".
 */
export async function checkSignatures(env: DsseEnvelope, keyFor: (keyid: string) => PublicKey | undefined): Promise<SignatureCheck[]> {
  const message = pae(env.payloadType, envelopeBody(env));
  const out: SignatureCheck[] = [];
  for (const s of env.signatures) {
    let key = keyFor(s.keyid);
    if (!key && s.public_key !== undefined) {
      const carried = await parsePublicKey(s.public_key, `signature ${s.keyid}'s public_key`).catch(() => undefined);
      if (!carried || carried.keyid !== s.keyid) {
        out.push({ keyid: s.keyid, ok: false, reason: "the carried public key does not match the key id" });
        continue;
      }
      key = carried;
    }
    if (!key) {
      out.push({ keyid: s.keyid, ok: false, reason: "unknown key" });
      continue;
    }
    const ok = await ed25519Verify(key, fromBase64(s.sig)!, message);
    out.push({ keyid: s.keyid, key, ok, ...(ok ? {} : { reason: "the signature does not verify" }) });
  }
  return out;
}
