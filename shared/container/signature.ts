/**
 * Ed25519 signatures (spec §4.6). The signed message is the 32 raw bytes of hashes.data. A key
 * embedded in the file proves integrity only; trust comes from a key the user configured. A
 * signature vouches for a payload only if the hash it signs is the payload's: the caller passes
 * the SHA-256 it computed over the decoded payload, and a signed hash of any other bytes is
 * `invalid` — a valid signature copied onto another payload is never `trusted`.
 */
import { fromHex } from "../bytes.js";
import type { PixelRtsMetadata } from "./types.js";

export type SignatureStatus =
  | { state: "none" }
  | { state: "trusted"; publicKey: string }
  | { state: "untrusted"; publicKey: string; note: string }
  | { state: "invalid"; reason: string }
  | { state: "unsupported"; reason: string };

const HEX = (n: number) => new RegExp(`^[0-9a-f]{${n}}$`);

export async function checkSignature(m: PixelRtsMetadata, payloadSha256: string, trustedKeys: readonly string[] = []): Promise<SignatureStatus> {
  const sig = m.signature;
  if (!sig) return { state: "none" };
  if (sig.algorithm !== "Ed25519") return { state: "unsupported", reason: `signature algorithm ${String(sig.algorithm)}` };
  const key = String(sig.public_key ?? "").toLowerCase();
  const value = String(sig.value ?? "").toLowerCase();
  const data = m.hashes?.data;
  if (!HEX(64).test(key) || !HEX(128).test(value)) return { state: "invalid", reason: "signature public_key/value are not hex of the right length" };
  if (typeof data !== "string" || !HEX(64).test(data.toLowerCase())) return { state: "invalid", reason: "a signed container needs hashes.data" };
  let ok: boolean;
  try {
    const k = await crypto.subtle.importKey("raw", fromHex(key), { name: "Ed25519" }, false, ["verify"]);
    ok = await crypto.subtle.verify({ name: "Ed25519" }, k, fromHex(value), fromHex(data.toLowerCase()));
  } catch (e) {
    return { state: "unsupported", reason: `Ed25519 is not available here: ${(e as Error).message}` };
  }
  if (!ok) return { state: "invalid", reason: "the Ed25519 signature does not match hashes.data" };
  if (data.toLowerCase() !== payloadSha256.toLowerCase()) {
    return { state: "invalid", reason: `the signature is over hashes.data ${data.toLowerCase()}, but the payload's SHA-256 is ${payloadSha256.toLowerCase()}: it signs other bytes` };
  }
  const trusted = trustedKeys.map((k) => k.toLowerCase());
  if (trusted.includes(key)) return { state: "trusted", publicKey: key };
  return { state: "untrusted", publicKey: key, note: "signed with the key embedded in the file: proves integrity, not origin (configure PIXELRTS_PUBLIC_KEY to trust a key)" };
}
