/**
 * Digest headers. The RFC 9530 value format lives in shared/hash.ts (the agent parses what the
 * Worker writes with the same code); this adds the Worker's reading of a publisher's digest.
 */
import { isSha256Hex } from "../../shared/catalog";
import { parseDigestHeader, reprDigestHeader } from "../../shared/hash";
import { httpFail } from "../errors";

/** `sha-256=:<base64>:` for a lowercase hex SHA-256. */
export const reprDigest = reprDigestHeader;

/**
 * The client's SHA-256 of the body it sends: `X-PixelRTS-SHA256` (hex), else the `sha-256`
 * member of `Repr-Digest` or `Content-Digest`. Null when none is given; 400 E_BAD_DIGEST when
 * one is given but malformed.
 */
export function clientSha256(h: { get(name: string): string | null | undefined }): string | null {
  const x = h.get("x-pixelrts-sha256");
  if (x != null) {
    const hex = x.trim().toLowerCase();
    if (!isSha256Hex(hex)) httpFail("E_BAD_DIGEST", "X-PixelRTS-SHA256 must be 64 hex digits");
    return hex;
  }
  for (const name of ["repr-digest", "content-digest"]) {
    const v = h.get(name);
    if (v == null) continue;
    const hex = parseDigestHeader(v);
    if (!hex) httpFail("E_BAD_DIGEST", `${name} has no valid sha-256 member (expected sha-256=:<base64>:)`);
    return hex;
  }
  return null;
}
