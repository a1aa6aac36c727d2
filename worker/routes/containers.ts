/**
 * Container bytes: `GET|HEAD /api/v1/containers/{id}` (by name, short cache + revalidate) and
 * `GET|HEAD /blobs/sha256/{hex}` (content-addressed, immutable), both via serveObject. Plus the
 * thumbnail beside each container: `GET|HEAD …/{id}/thumbnail`, `PUT …/{id}/thumbnail` (auth).
 * Hono answers HEAD with the GET route minus the body; serveObject also sends none for HEAD.
 */
import { type Context, Hono } from "hono";
import { requirePublisher } from "../auth";
import { MAX_THUMBNAIL_BYTES } from "../catalog/thumbnails";
import { httpFail } from "../errors";
import { CACHE_IMMUTABLE, CACHE_REVALIDATE, serveObject } from "../http/serve-object";
import { blobKey, idFromUrl, isHex64, isValidName, parseName, thumbnailKey } from "../storage/layout";
import { readPointer, rewritePointer } from "../storage/store";

export const containerRoutes = new Hono<{ Bindings: Env }>();

/** Serves the container named `id` (also used by the v1.2 compatibility routes). */
export async function serveContainer(c: Context<{ Bindings: Env }>, rawId: string): Promise<Response> {
  const id = idFromUrl(rawId);
  if (!isValidName(id)) httpFail("E_NOT_FOUND", `container ${id.slice(0, 200)} not found`);
  const pointer = await readPointer(c.env.BUCKET, id);
  if (!pointer) httpFail("E_NOT_FOUND", `container ${id} not found`);
  return serveObject(c, {
    bucket: c.env.BUCKET,
    key: blobKey(pointer.record.sha256),
    cacheControl: CACHE_REVALIDATE,
    contentType: "image/png",
    filename: `${id}.rts.png`,
    container: true,
    what: `container ${id}`,
    repointedAt: pointer.uploaded,
  });
}

containerRoutes.get("/api/v1/containers/:id", (c) => serveContainer(c, c.req.param("id")));

containerRoutes.get("/blobs/sha256/:hex", (c) => {
  const hex = c.req.param("hex").toLowerCase();
  if (!isHex64(hex)) httpFail("E_NOT_FOUND", "blob URLs are /blobs/sha256/<64 hex digits>");
  return serveObject(c, { bucket: c.env.BUCKET, key: blobKey(hex), cacheControl: CACHE_IMMUTABLE, contentType: "image/png", container: true, what: `blob ${hex}` });
});

containerRoutes.get("/api/v1/containers/:id/thumbnail", (c) => {
  const id = c.req.param("id");
  if (!isValidName(id)) httpFail("E_NOT_FOUND", "thumbnail not found");
  return serveObject(c, { bucket: c.env.BUCKET, key: thumbnailKey(id), cacheControl: CACHE_REVALIDATE, contentType: "image/png", what: `thumbnail of ${id}` });
});

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

containerRoutes.put("/api/v1/containers/:id/thumbnail", requirePublisher, async (c) => {
  const name = parseName(c.req.param("id"));
  const bucket = c.env.BUCKET;
  const pointer = await readPointer(bucket, name);
  if (!pointer) httpFail("E_NOT_FOUND", `container ${name} not found: publish it before its thumbnail`);
  const len = Number(c.req.header("content-length") ?? NaN);
  if (Number.isFinite(len) && len > MAX_THUMBNAIL_BYTES) httpFail("E_TOO_LARGE", `thumbnails are at most ${MAX_THUMBNAIL_BYTES} bytes`);
  const bytes = new Uint8Array(await c.req.arrayBuffer());
  if (bytes.length > MAX_THUMBNAIL_BYTES) httpFail("E_TOO_LARGE", `thumbnails are at most ${MAX_THUMBNAIL_BYTES} bytes`);
  if (bytes.length < 8 || PNG_SIGNATURE.some((b, i) => bytes[i] !== b)) httpFail("E_UNSUPPORTED_MEDIA_TYPE", "a thumbnail must be a PNG file");
  const obj = await bucket.put(thumbnailKey(name), bytes, { httpMetadata: { contentType: "image/png" } });
  await rewritePointer(bucket, name, { ...pointer.record, thumb: obj.httpEtag });
  return c.json({ name, thumbnail_url: `${new URL(c.req.url).origin}/api/v1/containers/${name}/thumbnail`, size: bytes.length }, 201);
});
