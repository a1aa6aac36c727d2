/**
 * R2 object layout (one bucket, binding BUCKET), layout 2. Documented with the state machine in
 * docs/WORKER.md ("R2 layout", "Concurrency").
 *
 *   blobs/sha256/<hex>/<gen>      the .rts.png bytes of one upload ("generation"): a fresh random
 *                                 <gen> per upload, so no two writers ever share a key; created
 *                                 once (create-only put, or one multipart upload), never
 *                                 rewritten; deleted only by the collector once unreferenced and
 *                                 detached. customMetadata = ContainerRecord (+ head digest).
 *   verified/<hex>                the blob register ("verified marker"): names the one verified
 *                                 generation new links may use (state `live`, its gen and ETag),
 *                                 or `dead`. Written only with compare-and-swap.
 *   containers/<name>             catalog pointer: record + gen, blob ETag, link id, thumbnail id;
 *                                 or a tombstone (deleted name). Written only with compare-and-swap.
 *   refs/<hex>/<gen>/<link>       one back-reference per link of a name to a generation; created
 *                                 once, deleted by whoever ended that link.
 *   thumbnails/<name>/<tid>.png   a thumbnail upload, owned by the pointer version that names it.
 *   signatures/<hex>/<keyid>      the signature envelope of one publisher key over the blob <hex>
 *                                 (under the digest, never a name); created once, replaced by
 *                                 compare-and-swap only by a newer `signed_at`; deleted by the
 *                                 collector after the blob is dead (trust/store.ts).
 *   uploads/<hex>/<gen>/signature the envelope sent with a multipart create, waiting for complete.
 *
 * Registers and pointers carry a fresh random body on every write, because R2's ETag is the MD5
 * of the body and compare-and-swap needs every version to have its own ETag.
 */
import { httpFail } from "../errors";

export const PREFIX = {
  blobs: "blobs/sha256/",
  verified: "verified/",
  containers: "containers/",
  refs: "refs/",
  thumbnails: "thumbnails/",
  signatures: "signatures/",
  uploads: "uploads/",
} as const;

export const blobKey = (hex: string, gen: string) => `${PREFIX.blobs}${hex}/${gen}`;
export const registerKey = (hex: string) => `${PREFIX.verified}${hex}`;
export const pointerKey = (name: string) => `${PREFIX.containers}${name}`;
export const refKey = (hex: string, gen: string, link: string) => `${PREFIX.refs}${hex}/${gen}/${link}`;
/** Every ref of one generation (`gen` given) or of every generation of `hex`. */
export const refPrefix = (hex: string, gen?: string) => `${PREFIX.refs}${hex}/${gen ? `${gen}/` : ""}`;
export const thumbnailKey = (name: string, tid: string) => `${PREFIX.thumbnails}${name}/${tid}.png`;
export const signatureKey = (hex: string, keyid: string) => `${PREFIX.signatures}${hex}/${keyid}`;
export const signaturePrefix = (hex: string) => `${PREFIX.signatures}${hex}/`;
export const pendingSignatureKey = (hex: string, gen: string) => `${PREFIX.uploads}${hex}/${gen}/signature`;

/** A fresh random id (32 hex digits) for generations, links, thumbnails and CAS bodies. */
export function newId(): string {
  return crypto.randomUUID().replace(/-/g, "");
}

const ID_RE = /^[0-9a-f]{32}$/;
export const isId = (s: unknown): s is string => typeof s === "string" && ID_RE.test(s);

/** Container names = catalog ids: URL-safe, 1–128 chars, start alphanumeric, no `..`. */
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function isValidName(name: string): boolean {
  return NAME_RE.test(name) && !name.includes("..");
}

/** A name as it appears in a URL: a trailing `.rts.png` is accepted and dropped (never stored). */
export function idFromUrl(raw: string): string {
  return raw.endsWith(".rts.png") ? raw.slice(0, -".rts.png".length) : raw;
}

/** Validates a publish name (a trailing `.rts.png` is dropped); 400 E_BAD_NAME otherwise. */
export function parseName(raw: string): string {
  const name = idFromUrl(raw);
  if (!isValidName(name)) {
    httpFail("E_BAD_NAME", "container names are 1-128 characters of A-Z a-z 0-9 . _ -, start with a letter or digit, and contain no '..'", {
      details: { name: raw.slice(0, 200) },
    });
  }
  return name;
}

const HEX_RE = /^[0-9a-f]{64}$/;
export function isHex64(s: string): boolean {
  return HEX_RE.test(s);
}
