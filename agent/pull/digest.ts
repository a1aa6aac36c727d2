import { PixelRtsError } from "../../shared/errors.js";
import { isSha256Hex } from "../../shared/catalog.js";
import { parseDigestHeader } from "../../shared/hash.js";

/** The `sha-256` member of a Repr-Digest (RFC 9530) field as hex (one parser, shared with the Worker). */
export const parseReprDigest = (value: string | undefined): string | undefined => parseDigestHeader(value);

export function parseHexDigest(value: string | undefined): string | undefined {
  const v = value?.trim().toLowerCase();
  return isSha256Hex(v) ? v : undefined;
}

/** `…/blobs/sha256/<hex>` names its own digest. */
export function digestFromUrl(url: string): string | undefined {
  try {
    const m = /\/blobs\/sha256\/([0-9a-fA-F]{64})\/?$/.exec(new URL(url).pathname);
    return m ? m[1]!.toLowerCase() : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Every claim about the file's SHA-256 (catalog, URL, response headers) must agree; the
 * agreed value is what the bytes are checked against. Disagreement means someone is wrong, so
 * nothing is downloaded. No claim at all means the bytes could not be verified: refuse.
 */
export function reconcileDigests(claims: { from: string; hex: string | undefined }[], url: string): string {
  const known = claims.filter((c): c is { from: string; hex: string } => c.hex !== undefined);
  if (known.length === 0) {
    throw new PixelRtsError("E_DIGEST_UNKNOWN", `${url}: no SHA-256 from the catalog, the URL, Repr-Digest or X-PixelRTS-SHA256, so the bytes cannot be verified; refusing to cache them`, { url });
  }
  const first = known[0]!;
  const other = known.find((c) => c.hex !== first.hex);
  if (other) {
    throw new PixelRtsError("E_DIGEST_MISMATCH", `${url}: ${first.from} says sha256 ${first.hex.slice(0, 12)}… but ${other.from} says ${other.hex.slice(0, 12)}…; refusing to download`, {
      url,
      claims: Object.fromEntries(known.map((c) => [c.from, c.hex])),
    });
  }
  return first.hex;
}
