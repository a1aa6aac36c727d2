/**
 * Publisher keys: Ed25519 public keys written `ed25519:<base64 of the 32 raw bytes>`, named by a
 * key id = the first 16 hex digits of SHA-256(raw key). Web-standard (WebCrypto) so the Worker
 * and the agent parse and verify keys with the same code; private keys live only in the agent.
 */
import { fromBase64, toBase64 } from "../bytes.js";
import { fail } from "../errors.js";
import { webSha256 } from "../hash.js";

export const KEY_PREFIX = "ed25519:";

export interface PublicKey {
  /** The 32 raw bytes of the Ed25519 key. */
  raw: Uint8Array;
  /** First 16 hex digits of SHA-256(raw). */
  keyid: string;
  /** `ed25519:<base64>`, the one spelling used in files, flags and config. */
  text: string;
}

const KEYID = /^[0-9a-f]{16}$/;

export function isKeyId(s: unknown): s is string {
  return typeof s === "string" && KEYID.test(s);
}

export async function keyIdOf(raw: Uint8Array): Promise<string> {
  return (await webSha256(raw)).slice(0, 16);
}

export async function publicKeyFromRaw(raw: Uint8Array): Promise<PublicKey> {
  if (raw.length !== 32) fail("E_BAD_KEY", `an Ed25519 public key is 32 bytes, got ${raw.length}`);
  return { raw, keyid: await keyIdOf(raw), text: KEY_PREFIX + toBase64(raw) };
}

/** Parses `ed25519:<base64>`; E_BAD_KEY (naming where it came from) for anything else. */
export async function parsePublicKey(text: unknown, where = "public key"): Promise<PublicKey> {
  if (typeof text !== "string" || !text.startsWith(KEY_PREFIX)) fail("E_BAD_KEY", `${where} must look like ed25519:<base64 of 32 bytes>`);
  const raw = fromBase64(text.slice(KEY_PREFIX.length));
  if (!raw || raw.length !== 32) fail("E_BAD_KEY", `${where} is not ed25519:<base64 of 32 bytes>`);
  return publicKeyFromRaw(raw);
}

/** Verifies an Ed25519 signature; false (never throws) for a bad signature or key. */
export async function ed25519Verify(key: PublicKey, signature: Uint8Array, message: Uint8Array): Promise<boolean> {
  if (signature.length !== 64) return false;
  try {
    const k = await crypto.subtle.importKey("raw", key.raw as Uint8Array<ArrayBuffer>, { name: "Ed25519" }, false, ["verify"]);
    return await crypto.subtle.verify({ name: "Ed25519" }, k, signature as Uint8Array<ArrayBuffer>, message as Uint8Array<ArrayBuffer>);
  } catch {
    return false;
  }
}
