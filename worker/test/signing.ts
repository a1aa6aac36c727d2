/**
 * Signing inside workerd for the Worker tests: Ed25519 keys from WebCrypto (node:crypto is not
 * in workerd), envelopes built with the shared trust core exactly as `pixelrts sign` builds them.
 */
import { toBase64 } from "../../shared/bytes";
import { type DsseEnvelope, signEnvelope } from "../../shared/trust/dsse";
import { publicKeyFromRaw, type PublicKey } from "../../shared/trust/keys";
import { encodeStatement, PAYLOAD_TYPE } from "../../shared/trust/statement";

export interface TestKey {
  key: PublicKey;
  sign(message: Uint8Array): Promise<Uint8Array>;
}

export async function newKey(): Promise<TestKey> {
  const pair = (await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"])) as CryptoKeyPair;
  const raw = new Uint8Array((await crypto.subtle.exportKey("raw", pair.publicKey)) as ArrayBuffer);
  return {
    key: await publicKeyFromRaw(raw),
    sign: async (m) => new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, pair.privateKey, m as Uint8Array<ArrayBuffer>)),
  };
}

export interface StatementFields {
  name: string;
  sha256: string;
  size: number;
  signed_at?: string;
  version?: string | null;
  data_hash?: string | null;
}

export async function envelope(k: TestKey, s: StatementFields): Promise<DsseEnvelope> {
  const body = encodeStatement({ name: s.name, version: s.version ?? "1.0", sha256: s.sha256, size: s.size, data_hash: s.data_hash ?? null, signed_at: s.signed_at ?? "2026-12-03T08:00:00Z" });
  return signEnvelope(PAYLOAD_TYPE, body, k.key, k.sign);
}

/** `X-PixelRTS-Signature` for an envelope (standard base64 of its JSON). */
export function signatureHeader(env: unknown): Record<string, string> {
  return { "x-pixelrts-signature": toBase64(new TextEncoder().encode(JSON.stringify(env))) };
}

export const clone = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;
