/**
 * Moving one name of a layout-1 bucket to layout 2 (docs/WORKER.md, "Reindex"). Layout 1 kept
 * the bytes flat at `blobs/sha256/<hex>`, pointers without `gen`/`link` at `containers/<name>`,
 * back-references at `refs/<hex>/<name>`, thumbnails at `thumbnails/<name>.png` and an empty
 * `verified/<hex>` marker for multipart blobs (see `git show e97c83d:worker/storage/layout.ts`).
 *
 * For one legacy pointer version (its ETag): copy the thumbnail to a fresh layout-2 key; link the
 * name to the live generation of its SHA-256 if there is one, else copy the flat object into a
 * new generation (a create-only put with `sha256`, so R2 verifies the bytes on the way) and
 * publish it; the pointer is swapped only from exactly the legacy version read (a publish that
 * came meanwhile wins, and the copy is dropped). Then the name's legacy ref and thumbnail go, and
 * the flat object once no legacy ref is left. Every step is the store's conditional one.
 */
import { toBase64 } from "../../shared/bytes";
import { MAX_THUMBNAIL_BYTES, smallThumbnail } from "../catalog/small-thumbnail";
import { createOnly } from "../storage/cas";
import { blobKey, newId, PREFIX, thumbnailKey } from "../storage/layout";
import { type ContainerRecord, decodeRecord, encodeRecord } from "../storage/record";
import { linkExisting, publishObject, type Storage } from "../storage/store";

export type MigrateOutcome = "migrated" | "skipped" | "missing" | "corrupt";

export const legacyBlobKey = (hex: string) => `${PREFIX.blobs}${hex}`;
export const legacyRefKey = (hex: string, name: string) => `${PREFIX.refs}${hex}/${name}`;
export const legacyThumbnailKey = (name: string) => `${PREFIX.thumbnails}${name}.png`;

/** A layout-1 pointer: a record of ours without layout 2's generation and link. */
export function legacyRecord(meta: Record<string, string> | undefined): ContainerRecord | null {
  const r = decodeRecord(meta);
  return r && !r.gen && !r.link ? r : null;
}

async function copyThumbnail(s: Storage, name: string): Promise<{ tid: string; inline: string | null } | null> {
  const obj = await s.bucket.get(legacyThumbnailKey(name));
  if (!obj) return null;
  if (obj.size > MAX_THUMBNAIL_BYTES) {
    await obj.body.cancel();
    return null;
  }
  const bytes = new Uint8Array(await obj.arrayBuffer());
  const tid = newId();
  await createOnly(s.bucket, thumbnailKey(name, tid), bytes, { httpMetadata: { contentType: "image/png" } });
  const small = await smallThumbnail(bytes);
  return { tid, inline: small ? toBase64(small) : null };
}

/** Streams the flat layout-1 object into a new generation, verified by R2 against `hex`. */
async function copyBlob(s: Storage, hex: string, record: ContainerRecord): Promise<{ gen: string; blobEtag: string } | "missing" | "corrupt"> {
  const legacy = await s.bucket.get(legacyBlobKey(hex));
  if (!legacy) return "missing";
  if (legacy.size !== record.size) {
    await legacy.body.cancel();
    return "corrupt";
  }
  const gen = newId();
  const { readable, writable } = new FixedLengthStream(legacy.size);
  try {
    const [, put] = await Promise.all([
      legacy.body.pipeTo(writable),
      createOnly(s.bucket, blobKey(hex, gen), readable, { sha256: hex, httpMetadata: { contentType: "image/png" }, customMetadata: encodeRecord(record) }),
    ]);
    if (!put) return "corrupt";
    return { gen, blobEtag: put.httpEtag };
  } catch (e) {
    console.warn(`reindex: ${legacyBlobKey(hex)} is not the bytes of its SHA-256; left alone`, e);
    return "corrupt";
  }
}

/** Migrates `name` from the legacy pointer version `etag` (with `meta`). */
export async function migrateLegacy(s: Storage, name: string, etag: string, meta: Record<string, string>): Promise<MigrateOutcome> {
  const legacy = legacyRecord(meta);
  if (!legacy) return "skipped";
  const hex = legacy.sha256;
  const record: ContainerRecord = {
    sha256: hex,
    size: legacy.size,
    data_hash: legacy.data_hash,
    data_size: legacy.data_size,
    grid_size: legacy.grid_size,
    type: legacy.type,
    distro: legacy.distro,
    arch: legacy.arch,
    kernel_version: legacy.kernel_version,
    description: legacy.description,
    content_version: legacy.content_version,
    segments: legacy.segments,
  };
  const thumb = await copyThumbnail(s, name);
  const expect = { etag, thumb: thumb?.tid, thumbInline: thumb?.inline ?? null, ...(legacy.published_at ? { publishedAt: legacy.published_at } : {}) };
  let linked = await linkExisting(s, name, hex, legacy.size, () => record, undefined, expect);
  if (!linked) {
    const copied = await copyBlob(s, hex, record);
    if (typeof copied === "string") {
      if (thumb) await s.bucket.delete(thumbnailKey(name, thumb.tid));
      return copied;
    }
    linked = await publishObject(s, name, { sha256: hex, gen: copied.gen, blobEtag: copied.blobEtag }, record, undefined, expect);
  }
  if (linked.skipped) {
    if (thumb) await s.bucket.delete(thumbnailKey(name, thumb.tid));
    return "skipped";
  }
  await s.bucket.delete([legacyRefKey(hex, name), legacyThumbnailKey(name)]);
  // layout-2 refs are refs/<hex>/<gen>/<link> (listed as prefixes); objects right under refs/<hex>/ are legacy refs
  const rest = await s.bucket.list({ prefix: `${PREFIX.refs}${hex}/`, delimiter: "/", limit: 1 });
  if (rest.objects.length === 0) await s.bucket.delete(legacyBlobKey(hex));
  return "migrated";
}
