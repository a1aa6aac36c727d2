/**
 * Catalog writes on top of the layout in layout.ts: linking a name to a stored blob, unlinking
 * it, and dropping blobs no name references any more. Order matters for safety:
 * ref → pointer on link (a concurrent gc never drops a blob a pointer is about to use),
 * pointer → ref → blob on unlink.
 */
import { getConfig } from "../config";
import { blobKey, pointerKey, refKey, refPrefix, thumbnailKey, verifiedKey } from "./layout";
import { type ContainerRecord, decodeRecord, encodeRecord } from "./record";

const EMPTY = new Uint8Array(0);

export interface Pointer {
  name: string;
  record: ContainerRecord;
  uploaded: Date;
}

export async function readPointer(bucket: R2Bucket, name: string): Promise<Pointer | null> {
  const obj = await bucket.head(pointerKey(name));
  const record = decodeRecord(obj?.customMetadata);
  return obj && record ? { name, record, uploaded: obj.uploaded } : null;
}

/** Is this blob's content verified (R2 checksum, or the Worker's marker for multipart blobs)? */
export async function blobVerified(bucket: R2Bucket, blob: R2Object): Promise<boolean> {
  if (blob.checksums?.sha256) return true;
  const sha = blob.customMetadata?.sha256;
  return !!sha && !!(await bucket.head(verifiedKey(sha)));
}

/** Points `name` at the stored, verified blob described by `record`; returns the pointer record. */
export async function linkName(bucket: R2Bucket, name: string, record: ContainerRecord, blob: R2Object): Promise<{ record: ContainerRecord; created: boolean }> {
  const old = await readPointer(bucket, name);
  const pointer: ContainerRecord = {
    ...record,
    name,
    published_at: new Date().toISOString(),
    blob_etag: blob.httpEtag,
    multipart: record.multipart,
    ...(old?.record.thumb ? { thumb: old.record.thumb } : {}),
  };
  await bucket.put(refKey(record.sha256, name), EMPTY);
  await bucket.put(pointerKey(name), EMPTY, { customMetadata: encodeRecord(pointer) });
  if (old && old.record.sha256 !== record.sha256) await unref(bucket, old.record.sha256, name);
  return { record: pointer, created: !old };
}

/** Rewrites a pointer's record (e.g. after a thumbnail upload). */
export async function rewritePointer(bucket: R2Bucket, name: string, record: ContainerRecord): Promise<void> {
  await bucket.put(pointerKey(name), EMPTY, { customMetadata: encodeRecord(record) });
}

/** Drops `name`'s reference to a blob, and the blob itself when no other name uses it. */
export async function unref(bucket: R2Bucket, sha: string, name: string): Promise<void> {
  await bucket.delete(refKey(sha, name));
  const rest = await bucket.list({ prefix: refPrefix(sha), limit: 1 });
  if (rest.objects.length === 0) await bucket.delete([blobKey(sha), verifiedKey(sha)]);
}

/** Removes a catalog entry, its thumbnail and (if unused) its blob. False when absent. */
export async function unlinkName(bucket: R2Bucket, name: string): Promise<ContainerRecord | null> {
  const old = await readPointer(bucket, name);
  if (!old) return null;
  await bucket.delete([pointerKey(name), thumbnailKey(name)]);
  await unref(bucket, old.record.sha256, name);
  return old.record;
}

/** The local catalog as a source, with the request's origin as its URL. */
export function localSource(env: Env, origin: string) {
  const { local } = getConfig(env);
  return { ...local, url: origin };
}
