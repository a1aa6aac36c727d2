/**
 * Publishing containers larger than the Worker request limit through R2 multipart upload:
 *
 *   POST   /api/v1/containers/{name}/uploads                       create (auth)
 *          headers: X-PixelRTS-SHA256 (or Repr-Digest), X-PixelRTS-Size (total bytes);
 *          body: the first bytes of the file, at most 8 MiB and at least its head (everything
 *          before IDAT), which are validated and checked, not stored; the head's length and
 *          SHA-256 go into the upload's record. → 201 { upload_id, part_size_min, ... }, or the
 *          entry (200/201, deduplicated) when verified bytes with that SHA-256 and size exist.
 *   PUT    /api/v1/containers/{name}/uploads/{upload_id}/parts/{n}  one part, n = 1..10000, with
 *          Content-Length; every part but the last ≥ 5 MiB (R2 rule). → { part_number, etag }
 *   POST   /api/v1/containers/{name}/uploads/{upload_id}/complete   body { parts: [{ part_number, etag }] }
 *   DELETE /api/v1/containers/{name}/uploads/{upload_id}            abort
 *
 * Every upload writes its own new generation key `blobs/sha256/<hex>/<gen>` (the upload id
 * carries hex, gen and R2's upload id), so concurrent uploads of one SHA-256 never touch each
 * other's objects. On complete the stored object is checked before anything refers to it: size
 * = declared, the stored head byte-equal to the head sent at create and consistent with its
 * image, and the whole file's SHA-256 recomputed (R2 keeps no checksum for multipart objects).
 * A mismatch deletes that object, and only it, and answers 400. Success makes it the live
 * generation of the SHA-256 with its ETag, then links the name (storage/store.ts).
 */
import { Hono } from "hono";
import { toHex } from "../../shared/bytes";
import { webSha256 } from "../../shared/hash";
import { requirePublisher } from "../auth";
import { httpFail } from "../errors";
import { readCapped } from "../http/body";
import { blobKey, isHex64, isId, newId, parseName } from "../storage/layout";
import { headOf, MAX_HEAD_BYTES } from "../storage/head";
import { type ContainerRecord, decodeRecord, encodeRecord, recordFromHead } from "../storage/record";
import { linkExisting, liveBlob, publishObject, storageOf } from "../storage/store";
import { envelopeBody, parseEnvelope } from "../../shared/trust/dsse";
import { parseStatement } from "../../shared/trust/statement";
import { getConfig, publishKeys } from "../config";
import { deletePendingSignature, putPendingSignature, readPendingSignature } from "../trust/store";
import { envelopeFromHeader, requireSignature, type ValidatedEnvelope, validateEnvelope } from "../trust/validate";
import { entryResponse, overridesFrom, requireSha256, signatureFor, storeSignaturesHook, linkedRecord } from "./publish";

export const multipartRoutes = new Hono<{ Bindings: Env }>();

export const PART_SIZE_MIN = 5 * 1024 * 1024;
const MAX_PARTS_BODY = 1024 * 1024;

interface Upload {
  sha: string;
  gen: string;
  uploadId: string;
}

const b64url = (s: string) => btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

function encodeUploadId(u: Upload): string {
  return `${u.sha}.${u.gen}.${b64url(u.uploadId)}`;
}

function decodeUploadId(token: string): Upload {
  const [sha = "", gen = "", id = ""] = token.split(".");
  try {
    if (isHex64(sha) && isId(gen) && id) return { sha, gen, uploadId: atob(id.replace(/-/g, "+").replace(/_/g, "/")) };
  } catch {
    // fall through
  }
  httpFail("E_BAD_UPLOAD", "unknown upload id");
}

const resume = (bucket: R2Bucket, u: Upload) => bucket.resumeMultipartUpload(blobKey(u.sha, u.gen), u.uploadId);

/** `<length>:<sha256>` of a head's bytes: what complete compares the stored head with. */
async function headDigest(head: Uint8Array): Promise<string> {
  return `${head.length}:${await webSha256(head)}`;
}

function requireSize(h: Headers): number {
  const v = h.get("x-pixelrts-size");
  if (!v || !/^\d+$/.test(v) || Number(v) === 0) httpFail("E_BAD_REQUEST", "X-PixelRTS-Size (total file size in bytes) is required");
  return Number(v);
}

multipartRoutes.post("/api/v1/containers/:name/uploads", requirePublisher, async (c) => {
  const name = parseName(c.req.param("name"));
  const h = c.req.raw.headers;
  const sha = requireSha256(h);
  const size = requireSize(h);
  const bucket = c.env.BUCKET;
  const overrides = overridesFrom(h);
  const signed = await signatureFor(c.env, h, { sha256: sha, size, name });

  const linked = await linkExisting(storageOf(c.env), name, sha, size, linkedRecord(overrides, getConfig(c.env).maxGrid), signed ? storeSignaturesHook(storageOf(c.env), signed) : undefined);
  if (linked) {
    const { entry, status } = await entryResponse(c.env, new URL(c.req.url).origin, name, linked, true);
    return c.json(entry, status);
  }
  // Verified bytes with this SHA-256 but another size: the declared size is wrong.
  const live = await liveBlob(bucket, sha);
  if (live) httpFail("E_CONFLICT", `a published blob already has SHA-256 ${sha} with ${live.record.size} bytes: the declared X-PixelRTS-Size is wrong`);

  const prefix = await readCapped(c.req.raw, MAX_HEAD_BYTES, "the head sent when creating an upload");
  if (prefix.length > size) httpFail("E_BAD_LENGTH", "the head sent is longer than X-PixelRTS-Size");
  const head = await headOf(prefix, getConfig(c.env).maxGrid);
  if (!("ihdr" in head)) httpFail("E_HEAD_INCOMPLETE", `send at least the first ${head.needAtLeast} bytes of the file`, { details: { need_at_least: head.needAtLeast } });
  const record = { ...recordFromHead(head, sha, size, overrides), head: await headDigest(prefix.subarray(0, head.headLength)) };
  const gen = newId();
  // kept beside the upload until complete (validated again there: PUBLISH_KEYS may change)
  if (signed) await putPendingSignature(bucket, sha, gen, envelopeFromHeader(h)!, name);
  const mpu = await bucket.createMultipartUpload(blobKey(sha, gen), { httpMetadata: { contentType: "image/png" }, customMetadata: encodeRecord(record) });
  const uploadId = encodeUploadId({ sha, gen, uploadId: mpu.uploadId });
  const base = `${new URL(c.req.url).origin}/api/v1/containers/${name}/uploads/${uploadId}`;
  return c.json({ upload_id: uploadId, name, sha256: sha, size, part_size_min: PART_SIZE_MIN, parts_url: `${base}/parts/{n}`, complete_url: `${base}/complete` }, 201);
});

multipartRoutes.put("/api/v1/containers/:name/uploads/:upload/parts/:n", requirePublisher, async (c) => {
  parseName(c.req.param("name"));
  const upload = decodeUploadId(c.req.param("upload"));
  const n = c.req.param("n");
  if (!/^\d+$/.test(n) || Number(n) < 1 || Number(n) > 10_000) httpFail("E_BAD_REQUEST", "part numbers are 1 to 10000");
  const body = c.req.raw.body;
  if (!c.req.header("content-length") || !body) httpFail("E_LENGTH_REQUIRED", "each part needs a Content-Length");
  try {
    const part = await resume(c.env.BUCKET, upload).uploadPart(Number(n), body);
    return c.json({ part_number: part.partNumber, etag: part.etag });
  } catch (e) {
    httpFail("E_BAD_UPLOAD", `part ${n} was not stored: ${(e as Error).message}`);
  }
});

multipartRoutes.delete("/api/v1/containers/:name/uploads/:upload", requirePublisher, async (c) => {
  parseName(c.req.param("name"));
  const upload = decodeUploadId(c.req.param("upload"));
  try {
    await resume(c.env.BUCKET, upload).abort();
  } catch (e) {
    httpFail("E_BAD_UPLOAD", `upload not aborted: ${(e as Error).message}`);
  }
  await deletePendingSignature(c.env.BUCKET, upload.sha, upload.gen);
  return c.json({ aborted: true });
});

function parseParts(body: Uint8Array): R2UploadedPart[] {
  try {
    const doc = JSON.parse(new TextDecoder().decode(body)) as { parts?: { part_number?: number; partNumber?: number; etag?: string }[] };
    const parts = (doc.parts ?? []).map((p) => ({ partNumber: Number(p.part_number ?? p.partNumber), etag: String(p.etag) }));
    if (parts.length && parts.every((p) => Number.isInteger(p.partNumber) && p.etag)) return parts;
  } catch {
    // fall through
  }
  httpFail("E_BAD_REQUEST", 'body must be {"parts":[{"part_number":1,"etag":"..."}, ...]}');
}

/** The head at the start of the stored object: byte-equal to the one sent at create, and still consistent with its image. */
async function checkStoredHead(bucket: R2Bucket, obj: R2Object, declaredHead: string, maxGrid: number): Promise<void> {
  let need = Math.min(obj.size, Number(declaredHead.split(":")[0]) + 4096);
  for (;;) {
    const part = await bucket.get(obj.key, { range: { offset: 0, length: need } });
    if (!part) httpFail("E_BAD_UPLOAD", "the uploaded object vanished");
    const bytes = new Uint8Array(await part.arrayBuffer());
    const head = await headOf(bytes, maxGrid);
    if ("ihdr" in head) {
      if ((await headDigest(bytes.subarray(0, head.headLength))) === declaredHead) return;
      httpFail("E_NOT_PIXELRTS", "not a PixelRTS container as declared: the uploaded file's head differs from the head sent at create", { details: { reason: "E_HEAD_MISMATCH" } });
    }
    if (head.needAtLeast > Math.min(obj.size, MAX_HEAD_BYTES)) httpFail("E_NOT_PIXELRTS", "not a PixelRTS container: header incomplete", { details: { reason: "E_PNG_CORRUPT" } });
    need = head.needAtLeast;
  }
}

/** Checks a completed upload (size, head, whole-file SHA-256); returns the catalog record it declared. */
async function verifyUpload(bucket: R2Bucket, obj: R2Object, sha: string, maxGrid: number): Promise<ContainerRecord> {
  const declared = decodeRecord(obj.customMetadata);
  if (!declared?.head) httpFail("E_BAD_UPLOAD", "upload has no record");
  if (obj.size !== declared.size) httpFail("E_BAD_LENGTH", `uploaded ${obj.size} bytes, declared ${declared.size}`);
  await checkStoredHead(bucket, obj, declared.head, maxGrid);
  const full = await bucket.get(obj.key);
  if (!full) httpFail("E_BAD_UPLOAD", "the uploaded object vanished");
  const ds = new crypto.DigestStream("SHA-256");
  await full.body.pipeTo(ds);
  const actual = toHex(new Uint8Array(await ds.digest));
  if (actual !== sha) httpFail("E_DIGEST_MISMATCH", `the uploaded file's SHA-256 is ${actual}, not ${sha}`);
  return { ...declared, head: undefined };
}

/**
 * The envelope sent at create, validated again for the upload's SHA-256 and name (its size was
 * checked at create; complete checks the stored size against it). With PUBLISH_KEYS set, an
 * upload created without one is refused here (403) before anything is linked.
 */
async function pendingSignatureFor(env: Env, bucket: R2Bucket, upload: Upload, name: string): Promise<{ validated: ValidatedEnvelope } | null> {
  const keys = await publishKeys(env);
  const text = await readPendingSignature(bucket, upload.sha, upload.gen);
  requireSignature(keys, text);
  if (text === null) return null;
  const { size } = parseStatement(envelopeBody(parseEnvelope(text)));
  return { validated: await validateEnvelope(text, { sha256: upload.sha, size, name }, keys) };
}

multipartRoutes.post("/api/v1/containers/:name/uploads/:upload/complete", requirePublisher, async (c) => {
  const name = parseName(c.req.param("name"));
  const upload = decodeUploadId(c.req.param("upload"));
  const parts = parseParts(await readCapped(c.req.raw, MAX_PARTS_BODY, "the parts list"));
  const bucket = c.env.BUCKET;
  const origin = new URL(c.req.url).origin;
  const signed = await pendingSignatureFor(c.env, bucket, upload, name);
  const store = storageOf(c.env);
  const before = signed ? storeSignaturesHook(store, signed.validated) : undefined;
  // Someone published these bytes while this upload ran: link to theirs, drop ours.
  const live = await liveBlob(bucket, upload.sha);
  if (signed && live && live.record.size !== signed.validated.statement.size) httpFail("E_SIGNATURE_MISMATCH", "the envelope sent at create signs another size than the published blob");
  const existing = live && (await linkExisting(store, name, upload.sha, live.record.size, (r) => r, before));
  if (existing) {
    await resume(bucket, upload).abort().catch(() => {});
    await deletePendingSignature(bucket, upload.sha, upload.gen);
    const { entry, status } = await entryResponse(c.env, origin, name, existing, true);
    return c.json(entry, status);
  }
  let obj: R2Object;
  try {
    obj = await resume(bucket, upload).complete(parts);
  } catch (e) {
    httpFail("E_BAD_UPLOAD", `upload not completed: ${(e as Error).message}`);
  }
  // The upload is complete: its pending envelope (read above) is needed no more, whatever follows.
  try {
    let record: ContainerRecord;
    try {
      record = await verifyUpload(bucket, obj, upload.sha, getConfig(c.env).maxGrid);
      if (signed && record.size !== signed.validated.statement.size) httpFail("E_SIGNATURE_MISMATCH", "the envelope sent at create signs another size than the uploaded file");
    } catch (e) {
      await bucket.delete(obj.key); // this upload's own generation key: no one else writes or links it
      throw e;
    }
    const published = await publishObject(store, name, { sha256: upload.sha, gen: upload.gen, blobEtag: obj.httpEtag }, record, before);
    const { entry, status } = await entryResponse(c.env, origin, name, published, false);
    return c.json(entry, status);
  } finally {
    await deletePendingSignature(bucket, upload.sha, upload.gen).catch((e) => console.error(`upload ${upload.gen}: pending envelope not deleted (the cron sweeps it)`, e));
  }
});
