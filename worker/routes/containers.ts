/**
 * Container bytes: `GET|HEAD /api/v1/containers/{id}` (by name: the generation its pointer
 * names; short cache + revalidate) and `GET|HEAD /blobs/sha256/{hex}` (content-addressed: the
 * live generation; immutable), both via serveObject, which serves only the object that was
 * verified. Plus the thumbnail beside each container: `GET|HEAD …/{id}/thumbnail`, `PUT
 * …/{id}/thumbnail` (auth; a new object per upload, recorded in the pointer by compare-and-swap).
 * Hono answers HEAD with the GET route minus the body; serveObject also sends none for HEAD.
 */
import { type Context, Hono } from "hono";
import { requirePublisher } from "../auth";
import { MAX_THUMBNAIL_BYTES, smallThumbnail } from "../catalog/small-thumbnail";
import { httpFail } from "../errors";
import { readCapped } from "../http/body";
import { CACHE_IMMUTABLE, CACHE_REVALIDATE, serveObject } from "../http/serve-object";
import { createOnly } from "../storage/cas";
import { blobKey, idFromUrl, isHex64, isValidName, newId, parseName, thumbnailKey } from "../storage/layout";
import { toBase64 } from "../../shared/bytes";

import { blobTarget, readPointer, setThumbnail, storageOf } from "../storage/store";

export const containerRoutes = new Hono<{ Bindings: Env }>();

/** Serves the container named `id` (also used by the v1.2 compatibility routes). */
export async function serveContainer(c: Context<{ Bindings: Env }>, rawId: string): Promise<Response> {
  const id = idFromUrl(rawId);
  if (!isValidName(id)) httpFail("E_NOT_FOUND", `container ${id.slice(0, 200)} not found`);
  const pointer = await readPointer(c.env.BUCKET, id);
  if (!pointer) httpFail("E_NOT_FOUND", `container ${id} not found`);
  const { sha256, gen, blobEtag } = pointer.target;
  return serveObject(c, {
    bucket: c.env.BUCKET,
    key: blobKey(sha256, gen),
    cacheControl: CACHE_REVALIDATE,
    contentType: "image/png",
    filename: `${id}.rts.png`,
    verified: { sha256, etag: blobEtag },
    what: `container ${id}`,
    repointedAt: pointer.uploaded,
  });
}

containerRoutes.get("/api/v1/containers/:id", (c) => serveContainer(c, c.req.param("id")));

containerRoutes.get("/blobs/sha256/:hex", async (c) => {
  const hex = c.req.param("hex").toLowerCase();
  if (!isHex64(hex)) httpFail("E_NOT_FOUND", "blob URLs are /blobs/sha256/<64 hex digits>");
  const blob = await blobTarget(c.env.BUCKET, hex);
  if (!blob) httpFail("E_NOT_FOUND", `blob ${hex} not found`);
  return serveObject(c, {
    bucket: c.env.BUCKET,
    key: blobKey(hex, blob.gen),
    cacheControl: CACHE_IMMUTABLE,
    contentType: "image/png",
    verified: { sha256: hex, etag: blob.blobEtag },
    what: `blob ${hex}`,
  });
});

containerRoutes.get("/api/v1/containers/:id/thumbnail", async (c) => {
  const id = c.req.param("id");
  const pointer = isValidName(id) ? await readPointer(c.env.BUCKET, id) : null;
  if (!pointer?.record.thumb) httpFail("E_NOT_FOUND", "thumbnail not found");
  return serveObject(c, { bucket: c.env.BUCKET, key: thumbnailKey(id, pointer.record.thumb), cacheControl: CACHE_REVALIDATE, contentType: "image/png", what: `thumbnail of ${id}` });
});

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

containerRoutes.put("/api/v1/containers/:id/thumbnail", requirePublisher, async (c) => {
  const name = parseName(c.req.param("id"));
  const bucket = c.env.BUCKET;
  if (!(await readPointer(bucket, name))) httpFail("E_NOT_FOUND", `container ${name} not found: publish it before its thumbnail`);
  const bytes = await readCapped(c.req.raw, MAX_THUMBNAIL_BYTES, "a thumbnail");
  if (bytes.length < 8 || PNG_SIGNATURE.some((b, i) => bytes[i] !== b)) httpFail("E_UNSUPPORTED_MEDIA_TYPE", "a thumbnail must be a PNG file");
  const small = await smallThumbnail(bytes);
  const tid = newId();
  await createOnly(bucket, thumbnailKey(name, tid), bytes, { httpMetadata: { contentType: "image/png" } });
  if (!(await setThumbnail(storageOf(c.env), name, tid, small ? toBase64(small) : null))) httpFail("E_NOT_FOUND", `container ${name} was deleted during the upload`);
  return c.json({ name, thumbnail_url: `${new URL(c.req.url).origin}/api/v1/containers/${name}/thumbnail`, size: bytes.length }, 201);
});
