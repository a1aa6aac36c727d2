/**
 * Container bytes: `GET|HEAD /api/v1/containers/{id}` (by name: the generation its pointer
 * names; short cache + revalidate) and `GET|HEAD /blobs/sha256/{hex}` (content-addressed: the
 * live generation; immutable), both via serveResolved, which serves only the object that was
 * verified and resolves the name or blob again when the object it named was collected meanwhile
 * (a name that exists is never a 404 because it was republished during the request). Plus the
 * thumbnail beside each container: `GET|HEAD …/{id}/thumbnail`, `PUT …/{id}/thumbnail` (auth; a
 * new object per upload, recorded in the pointer by compare-and-swap). Hono answers HEAD with the
 * GET route minus the body; tryServeObject also sends none for HEAD.
 */
import { type Context, Hono } from "hono";
import { requirePublisher } from "../auth";
import { MAX_THUMBNAIL_BYTES, smallThumbnail } from "../catalog/small-thumbnail";
import { httpFail } from "../errors";
import { readCapped } from "../http/body";
import { CACHE_IMMUTABLE, CACHE_REVALIDATE, serveResolved } from "../http/serve-object";
import { createOnly } from "../storage/cas";
import { PNG_SIGNATURE } from "../../shared/png/chunks";
import { blobKey, idFromUrl, isHex64, isValidName, newId, parseName, thumbnailKey } from "../storage/layout";
import { toBase64 } from "../../shared/bytes";

import { blobTarget, readPointer, setThumbnail, storageOf } from "../storage/store";

export const containerRoutes = new Hono<{ Bindings: Env }>();

/**
 * Serves the container named `id` (also used by the v1.2 compatibility routes): the generation
 * its pointer names, resolved again if a republish collected it during the request.
 */
export async function serveContainer(c: Context<{ Bindings: Env }>, rawId: string): Promise<Response> {
  const id = idFromUrl(rawId);
  if (!isValidName(id)) httpFail("E_NOT_FOUND", `container ${id.slice(0, 200)} not found`);
  const bucket = c.env.BUCKET;
  return serveResolved(
    c,
    async () => {
      const pointer = await readPointer(bucket, id);
      if (!pointer) return null;
      const { sha256, gen, blobEtag } = pointer.target;
      return {
        version: `${gen} ${blobEtag}`,
        options: {
          bucket,
          key: blobKey(sha256, gen),
          cacheControl: CACHE_REVALIDATE,
          contentType: "image/png",
          filename: `${id}.rts.png`,
          verified: { sha256, etag: blobEtag },
          what: `container ${id}`,
          repointedAt: pointer.uploaded,
        },
      };
    },
    () => httpFail("E_NOT_FOUND", `container ${id} not found`),
  );
}

containerRoutes.get("/api/v1/containers/:id", (c) => serveContainer(c, c.req.param("id")));

containerRoutes.get("/blobs/sha256/:hex", async (c) => {
  const hex = c.req.param("hex").toLowerCase();
  if (!isHex64(hex)) httpFail("E_NOT_FOUND", "blob URLs are /blobs/sha256/<64 hex digits>");
  const bucket = c.env.BUCKET;
  return serveResolved(
    c,
    async () => {
      const blob = await blobTarget(bucket, hex);
      if (!blob) return null;
      return {
        version: `${blob.gen} ${blob.blobEtag}`,
        options: { bucket, key: blobKey(hex, blob.gen), cacheControl: CACHE_IMMUTABLE, contentType: "image/png", verified: { sha256: hex, etag: blob.blobEtag }, what: `blob ${hex}` },
      };
    },
    () => httpFail("E_NOT_FOUND", `blob ${hex} not found`),
  );
});

containerRoutes.get("/api/v1/containers/:id/thumbnail", async (c) => {
  const id = c.req.param("id");
  const bucket = c.env.BUCKET;
  return serveResolved(
    c,
    async () => {
      const thumb = isValidName(id) ? (await readPointer(bucket, id))?.record.thumb : undefined;
      if (!thumb) return null;
      return { version: thumb, options: { bucket, key: thumbnailKey(id, thumb), cacheControl: CACHE_REVALIDATE, contentType: "image/png", what: `thumbnail of ${id}` } };
    },
    () => httpFail("E_NOT_FOUND", "thumbnail not found"),
  );
});

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
