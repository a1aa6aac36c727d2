/**
 * Compare-and-swap writes on R2: `put` with `onlyIf`, which R2 evaluates atomically with the
 * write and answers with null when the condition fails. A version is named by its ETag (R2's
 * `etag`, unquoted); `null` names "no object" (create-only: `etagDoesNotMatch: "*"`). Objects
 * written this way get a fresh random body, so every version has its own ETag. R2's `delete`
 * takes no condition, so CAS-managed objects are never deleted: they are put in a final state.
 */
import { toHex } from "../../shared/bytes";
import { httpFail } from "../errors";
import { newId } from "./layout";

/** How often a read-modify-write is retried after losing a race before answering 503. */
export const CAS_ATTEMPTS = 8;

export interface Version {
  key: string;
  /** ETag of the version read, or null when there was no object. */
  etag: string | null;
  meta: Record<string, string> | null;
  uploaded: Date | null;
}

export async function readVersion(bucket: R2Bucket, key: string): Promise<Version> {
  const obj = await bucket.head(key);
  return { key, etag: obj?.etag ?? null, meta: obj?.customMetadata ?? null, uploaded: obj?.uploaded ?? null };
}

/**
 * Writes `meta` over exactly the version read, with `body` (fresh and random: every version its
 * own ETag); null when another write came first, or, rarely, when a write that R2 retried did land
 * (check with `etagOf(body)` on the next read).
 */
export function swap(bucket: R2Bucket, v: Version, meta: Record<string, string>, body: string = newId()): Promise<R2Object | null> {
  const onlyIf: R2Conditional = v.etag === null ? { etagDoesNotMatch: "*" } : { etagMatches: v.etag };
  return bucket.put(v.key, body, { onlyIf, customMetadata: meta });
}

/** The ETag R2 gives a single-part object with this body: the MD5 of the body, in hex. */
export async function etagOf(body: string): Promise<string> {
  return toHex(new Uint8Array(await crypto.subtle.digest("MD5", new TextEncoder().encode(body))));
}

/** A key that must not exist yet (refs, new blobs): create-only put. */
export function createOnly(bucket: R2Bucket, key: string, value: Parameters<R2Bucket["put"]>[1], options: R2PutOptions = {}): Promise<R2Object | null> {
  return bucket.put(key, value, { ...options, onlyIf: { etagDoesNotMatch: "*" } });
}

export function conflict(what: string): never {
  httpFail("E_CONFLICT", `${what} kept changing during the request; retry`, { status: 503, headers: { "Retry-After": "1" } });
}
