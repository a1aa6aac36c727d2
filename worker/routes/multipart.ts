/**
 * Publishing containers larger than the Worker request limit through R2 multipart upload:
 *
 *   POST   /api/v1/containers/{name}/uploads                       create (auth)
 *          headers: X-PixelRTS-SHA256 (or Repr-Digest), X-PixelRTS-Size (total bytes);
 *          body: the first bytes of the file (at least its head: everything before IDAT), which
 *          are validated, not stored. → 201 { upload_id, part_size_min, ... }, or 200 with the
 *          entry when a verified blob with that SHA-256 exists (nothing to upload).
 *   PUT    /api/v1/containers/{name}/uploads/{upload_id}/parts/{n}  one part, n = 1..10000, with
 *          Content-Length; every part but the last ≥ 5 MiB (R2 rule). → { part_number, etag }
 *   POST   /api/v1/containers/{name}/uploads/{upload_id}/complete   body { parts: [{ part_number, etag }] }
 *   DELETE /api/v1/containers/{name}/uploads/{upload_id}            abort
 *
 * On complete the Worker checks the stored object before any catalog entry points at it: size
 * = declared, head re-validated from the stored bytes with the same payload digest as declared
 * at create, and the whole file's SHA-256 recomputed (R2 keeps no checksum for multipart
 * objects). Any mismatch deletes the object and answers 400; success writes the `verified/`
 * marker, then the catalog pointer. The blob URL refuses an unverified multipart object.
 */
import { Hono } from "hono";
import { toHex } from "../../shared/bytes";
import { requirePublisher } from "../auth";
import { httpFail } from "../errors";
import { blobKey, isHex64, parseName, verifiedKey } from "../storage/layout";
import { headOf, MAX_HEAD_BYTES } from "../storage/head";
import { decodeRecord, encodeRecord, recordFromHead } from "../storage/record";
import { blobVerified, linkName } from "../storage/store";
import { entryResponse, linkExisting, overridesFrom, requireSha256 } from "./publish";

export const multipartRoutes = new Hono<{ Bindings: Env }>();

export const PART_SIZE_MIN = 5 * 1024 * 1024;

function encodeUploadId(sha: string, uploadId: string): string {
  return `${sha}.${btoa(uploadId).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "")}`;
}

function decodeUploadId(token: string): { sha: string; uploadId: string } {
  const dot = token.indexOf(".");
  const sha = token.slice(0, dot);
  try {
    if (dot === 64 && isHex64(sha)) return { sha, uploadId: atob(token.slice(dot + 1).replace(/-/g, "+").replace(/_/g, "/")) };
  } catch {
    // fall through
  }
  httpFail("E_BAD_UPLOAD", "unknown upload id");
}

async function refuseIfPublished(bucket: R2Bucket, sha: string): Promise<void> {
  const blob = await bucket.head(blobKey(sha));
  if (blob && (await blobVerified(bucket, blob))) {
    httpFail("E_CONFLICT", `a published blob already has SHA-256 ${sha} with ${blob.size} bytes: the declared X-PixelRTS-Size is wrong`);
  }
}

multipartRoutes.post("/api/v1/containers/:name/uploads", requirePublisher, async (c) => {
  const name = parseName(c.req.param("name"));
  const h = c.req.raw.headers;
  const sha = requireSha256(h);
  const sizeHeader = h.get("x-pixelrts-size");
  if (!sizeHeader || !/^\d+$/.test(sizeHeader) || Number(sizeHeader) === 0) httpFail("E_BAD_REQUEST", "X-PixelRTS-Size (total file size in bytes) is required");
  const size = Number(sizeHeader);
  const bucket = c.env.BUCKET;
  const origin = new URL(c.req.url).origin;

  const linked = await linkExisting(c.env, origin, name, sha, size, overridesFrom(h));
  if (linked) return c.json(linked.entry, linked.status);
  // A verified blob under this SHA-256 with another size means the declared size is wrong; an
  // upload must never overwrite (and on failure delete) a blob that is already published.
  await refuseIfPublished(bucket, sha);

  const len = Number(h.get("content-length") ?? NaN);
  if (Number.isFinite(len) && len > MAX_HEAD_BYTES) httpFail("E_TOO_LARGE", `send at most ${MAX_HEAD_BYTES} bytes (the file's head) when creating an upload`);
  const prefix = new Uint8Array(await c.req.arrayBuffer());
  if (prefix.length > size) httpFail("E_BAD_LENGTH", "the head sent is longer than X-PixelRTS-Size");
  const head = await headOf(prefix.subarray(0, MAX_HEAD_BYTES));
  if (!("ihdr" in head)) httpFail("E_HEAD_INCOMPLETE", `send at least the first ${head.needAtLeast} bytes of the file`, { details: { need_at_least: head.needAtLeast } });
  const record = { ...recordFromHead(head, sha, size, overridesFrom(h)), multipart: true };
  const mpu = await bucket.createMultipartUpload(blobKey(sha), { httpMetadata: { contentType: "image/png" }, customMetadata: encodeRecord(record) });
  const base = `${origin}/api/v1/containers/${name}/uploads/${encodeUploadId(sha, mpu.uploadId)}`;
  return c.json(
    { upload_id: encodeUploadId(sha, mpu.uploadId), name, sha256: sha, size, part_size_min: PART_SIZE_MIN, parts_url: `${base}/parts/{n}`, complete_url: `${base}/complete` },
    201,
  );
});

multipartRoutes.put("/api/v1/containers/:name/uploads/:upload/parts/:n", requirePublisher, async (c) => {
  parseName(c.req.param("name"));
  const { sha, uploadId } = decodeUploadId(c.req.param("upload"));
  const n = c.req.param("n");
  if (!/^\d+$/.test(n) || Number(n) < 1 || Number(n) > 10_000) httpFail("E_BAD_REQUEST", "part numbers are 1 to 10000");
  const body = c.req.raw.body;
  if (!c.req.header("content-length") || !body) httpFail("E_LENGTH_REQUIRED", "each part needs a Content-Length");
  const mpu = c.env.BUCKET.resumeMultipartUpload(blobKey(sha), uploadId);
  try {
    const part = await mpu.uploadPart(Number(n), body);
    return c.json({ part_number: part.partNumber, etag: part.etag });
  } catch (e) {
    httpFail("E_BAD_UPLOAD", `part ${n} was not stored: ${(e as Error).message}`);
  }
});

multipartRoutes.delete("/api/v1/containers/:name/uploads/:upload", requirePublisher, async (c) => {
  parseName(c.req.param("name"));
  const { sha, uploadId } = decodeUploadId(c.req.param("upload"));
  try {
    await c.env.BUCKET.resumeMultipartUpload(blobKey(sha), uploadId).abort();
  } catch (e) {
    httpFail("E_BAD_UPLOAD", `upload not aborted: ${(e as Error).message}`);
  }
  return c.json({ aborted: true });
});

async function sha256Of(body: ReadableStream): Promise<string> {
  const ds = new crypto.DigestStream("SHA-256");
  await body.pipeTo(ds);
  return toHex(new Uint8Array(await ds.digest));
}

multipartRoutes.post("/api/v1/containers/:name/uploads/:upload/complete", requirePublisher, async (c) => {
  const name = parseName(c.req.param("name"));
  const { sha, uploadId } = decodeUploadId(c.req.param("upload"));
  const bucket = c.env.BUCKET;
  let parts: R2UploadedPart[];
  try {
    const doc = (await c.req.json()) as { parts?: { part_number?: number; partNumber?: number; etag?: string }[] };
    parts = (doc.parts ?? []).map((p) => ({ partNumber: Number(p.part_number ?? p.partNumber), etag: String(p.etag) }));
    if (!parts.length || parts.some((p) => !Number.isInteger(p.partNumber) || !p.etag)) throw new Error();
  } catch {
    httpFail("E_BAD_REQUEST", 'body must be {"parts":[{"part_number":1,"etag":"..."}, ...]}');
  }
  // Someone published these bytes while this upload ran: keep theirs, drop ours.
  const current = await bucket.head(blobKey(sha));
  if (current && (await blobVerified(bucket, current))) {
    await bucket.resumeMultipartUpload(blobKey(sha), uploadId).abort().catch(() => {});
    const existing = await linkExisting(c.env, new URL(c.req.url).origin, name, sha, current.size, {});
    if (existing) return c.json(existing.entry, existing.status);
    httpFail("E_CONFLICT", "a blob with this SHA-256 is already published");
  }
  let obj: R2Object;
  try {
    obj = await bucket.resumeMultipartUpload(blobKey(sha), uploadId).complete(parts);
  } catch (e) {
    httpFail("E_BAD_UPLOAD", `upload not completed: ${(e as Error).message}`);
  }
  const declared = decodeRecord(obj.customMetadata);
  const reject = async (code: `E_${string}`, message: string): Promise<never> => {
    await bucket.delete(blobKey(sha));
    httpFail(code, message);
  };
  if (!declared) return reject("E_BAD_UPLOAD", "upload has no record");
  if (obj.size !== declared.size) return reject("E_BAD_LENGTH", `uploaded ${obj.size} bytes, declared ${declared.size}`);
  // the head that was validated at create must be the head that was stored
  let need = Math.min(64 * 1024, obj.size);
  let head;
  for (;;) {
    const part = await bucket.get(blobKey(sha), { range: { offset: 0, length: need } });
    if (!part) return reject("E_BAD_UPLOAD", "object vanished");
    const r = await headOf(new Uint8Array(await part.arrayBuffer())).catch(async (e) => {
      await bucket.delete(blobKey(sha));
      throw e;
    });
    if ("ihdr" in r) {
      head = r;
      break;
    }
    if (r.needAtLeast > Math.min(obj.size, MAX_HEAD_BYTES)) return reject("E_NOT_PIXELRTS", "not a PixelRTS container: header incomplete");
    need = r.needAtLeast;
  }
  const stored = recordFromHead(head, sha, obj.size);
  if (stored.data_hash !== declared.data_hash || stored.data_size !== declared.data_size || stored.type !== declared.type) {
    return reject("E_NOT_PIXELRTS", "the uploaded file's metadata differs from the head sent at create");
  }
  const full = await bucket.get(blobKey(sha));
  if (!full) return reject("E_BAD_UPLOAD", "object vanished");
  const actual = await sha256Of(full.body);
  if (actual !== sha) return reject("E_DIGEST_MISMATCH", `the uploaded file's SHA-256 is ${actual}, not ${sha}`);
  await bucket.put(verifiedKey(sha), new Uint8Array(0));
  const { record, created } = await linkName(bucket, name, declared, obj);
  return c.json(entryResponse(c.env, new URL(c.req.url).origin, name, record, { deduplicated: false }), created ? 201 : 200);
});
