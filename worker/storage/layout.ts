/**
 * R2 object layout (one bucket, binding BUCKET). Documented in docs/WORKER.md.
 *
 *   blobs/sha256/<hex>      the .rts.png bytes, content-addressed by the file's SHA-256; written
 *                           once (single PUT: R2 verifies `sha256`; multipart: verified by the
 *                           Worker on completion), never modified. customMetadata = ContainerRecord.
 *   verified/<hex>          empty marker: a multipart blob whose SHA-256 the Worker has checked
 *                           (single-part blobs carry R2's own checksum instead).
 *   containers/<name>       empty catalog pointer; customMetadata = ContainerRecord + name,
 *                           published_at, blob validators, thumbnail. The catalog lists this prefix.
 *   refs/<hex>/<name>       empty back-reference, so DELETE can drop a blob no name uses any more.
 *   thumbnails/<name>.png   optional PNG thumbnail uploaded by the publisher.
 *
 * A catalog entry exists exactly when its pointer exists, and the pointer is written (one atomic
 * put) only after its blob is stored and verified: a rejected or interrupted publish leaves no
 * entry, and a failed single PUT leaves nothing at all.
 */
import { httpFail } from "../errors";

export const PREFIX = {
  blobs: "blobs/sha256/",
  verified: "verified/",
  containers: "containers/",
  refs: "refs/",
  thumbnails: "thumbnails/",
} as const;

export const blobKey = (hex: string) => `${PREFIX.blobs}${hex}`;
export const verifiedKey = (hex: string) => `${PREFIX.verified}${hex}`;
export const pointerKey = (name: string) => `${PREFIX.containers}${name}`;
export const refKey = (hex: string, name: string) => `${PREFIX.refs}${hex}/${name}`;
export const refPrefix = (hex: string) => `${PREFIX.refs}${hex}/`;
export const thumbnailKey = (name: string) => `${PREFIX.thumbnails}${name}.png`;

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
  const name = raw.endsWith(".rts.png") ? raw.slice(0, -".rts.png".length) : raw;
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
