import { toHex } from "./bytes.js";

/** Hex SHA-256 of a whole buffer. The agent passes node:crypto's (faster in Node); this is the Web default. */
export type Sha256Fn = (data: Uint8Array) => Promise<string> | string;

export const webSha256: Sha256Fn = async (data) => toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>)));

/** RFC 9530 `Repr-Digest` / `Content-Digest` value for a hex SHA-256. */
export function reprDigestHeader(hex: string): string {
  let bin = "";
  for (let i = 0; i < hex.length; i += 2) bin += String.fromCharCode(parseInt(hex.slice(i, i + 2), 16));
  return `sha-256=:${btoa(bin)}:`;
}

/**
 * The `sha-256` member of a `Repr-Digest`/`Content-Digest` field (RFC 9530) as hex, or undefined
 * when absent or malformed (wrong length, bad base64). Other algorithms and parameters are skipped.
 */
export function parseDigestHeader(value: string | null | undefined): string | undefined {
  if (!value) return undefined;
  for (const member of value.split(",")) {
    const m = /^\s*sha-256\s*=\s*:([A-Za-z0-9+/]+={0,2}):\s*(;.*)?$/i.exec(member);
    if (!m) continue;
    let bin: string;
    try {
      bin = atob(m[1]!);
    } catch {
      continue;
    }
    if (bin.length !== 32) continue;
    let hex = "";
    for (let i = 0; i < bin.length; i++) hex += bin.charCodeAt(i).toString(16).padStart(2, "0");
    return hex;
  }
  return undefined;
}
