/**
 * Inlines thumbnails as base64 (the original catalog's `thumbnail` field) for the entries of
 * one response. Reads run 8 at a time and are memoised per isolate by (name, thumbnail id
 * recorded in the pointer; each upload gets a new id), so a warm catalog costs no thumbnail
 * reads at all.
 */
import type { CatalogEntry } from "../../shared/catalog";
import { thumbnailKey } from "../storage/layout";

/** Largest thumbnail accepted on upload and inlined in catalogs. */
export const MAX_THUMBNAIL_BYTES = 256 * 1024;
const MEMO_MAX = 2000;
const memo = new Map<string, string>();

function toBase64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

/** `thumbs`: entry id → thumbnail id, for the entries that have one. */
export async function inlineThumbnails(bucket: R2Bucket, entries: CatalogEntry[], thumbs: Map<string, string>): Promise<void> {
  const todo = entries.filter((e) => thumbs.has(e.id));
  let next = 0;
  const worker = async () => {
    while (next < todo.length) {
      const e = todo[next++]!;
      const tid = thumbs.get(e.id)!;
      const memoKey = `${e.id}\u0000${tid}`;
      const hit = memo.get(memoKey);
      if (hit !== undefined) {
        e.thumbnail = hit;
        continue;
      }
      const obj = await bucket.get(thumbnailKey(e.id, tid));
      if (!obj || obj.size > MAX_THUMBNAIL_BYTES) {
        await obj?.body.cancel();
        continue;
      }
      const b64 = toBase64(new Uint8Array(await obj.arrayBuffer()));
      if (memo.size >= MEMO_MAX) memo.delete(memo.keys().next().value!);
      memo.set(memoKey, b64);
      e.thumbnail = b64;
    }
  };
  await Promise.all(Array.from({ length: Math.min(8, todo.length) }, worker));
}
