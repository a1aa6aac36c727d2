/**
 * Publishing with one request: `PUT /api/v1/containers/{name}` with the .rts.png as body,
 * `Content-Length`, and the file's SHA-256 (`X-PixelRTS-SHA256` hex, or `Repr-Digest` /
 * `Content-Digest: sha-256=:…:`). Optional catalog fields: `X-PixelRTS-Distro`,
 * `X-PixelRTS-Arch`, `X-PixelRTS-Kernel-Version`.
 *
 * Bytes the bucket already holds verified (same SHA-256 and size) are linked without storing
 * them again; the body is then drained, not stored. Otherwise the head is read and checked before
 * a byte is stored; then the bytes stream into a new generation key through a FixedLengthStream
 * with `sha256`, so R2 itself rejects a body whose digest differs (nothing is written); only then
 * is the blob made live and the pointer swapped (storage/store.ts). `DELETE` removes the entry.
 *
 * `X-PixelRTS-Signature` (base64 of a DSSE envelope) is validated against the declared SHA-256,
 * size and name before anything is stored, and its signatures are stored once the bytes are
 * secured and before the pointer moves; with PUBLISH_KEYS set it is required (403 otherwise).
 */
import { Hono } from "hono";
import type { CatalogEntry } from "../../shared/catalog";
import { requirePublisher } from "../auth";
import { entryFromRecord } from "../catalog/entry";
import { getConfig, publishKeys } from "../config";
import { httpFail } from "../errors";
import { bodyReader } from "../http/body";
import { clientSha256 } from "../http/digest";
import { createOnly } from "../storage/cas";
import { blobKey, newId, parseName } from "../storage/layout";
import { readHead, refuseOverGrid } from "../storage/head";
import { type ContainerRecord, type RecordOverrides, encodeRecord, recordFromHead } from "../storage/record";
import { type BeforeInstall, type Linked, linkExisting, localSource, publishObject, readRegister, type Storage, storageOf, unlinkName } from "../storage/store";
import { listSignatureObjects, storeEnvelope, summaryOf } from "../trust/store";
import { envelopeFromHeader, requireSignature, type SignedSubject, type ValidatedEnvelope, validateEnvelope } from "../trust/validate";

export const publishRoutes = new Hono<{ Bindings: Env }>();

export function overridesFrom(h: Headers): RecordOverrides {
  const v = (n: string) => h.get(n)?.trim().slice(0, 64) || null;
  return { distro: v("x-pixelrts-distro"), arch: v("x-pixelrts-arch"), kernel_version: v("x-pixelrts-kernel-version") };
}

/**
 * The record a deduplicated publish links under a new name: the stored one with this request's
 * overrides, refused (413) when its grid is over MAX_GRID (bytes stored under a higher limit).
 */
export function linkedRecord(o: RecordOverrides, maxGrid: number): (r: ContainerRecord) => ContainerRecord {
  return (r) => {
    if (r.grid_size !== null) refuseOverGrid(r.grid_size, maxGrid);
    return { ...r, distro: o.distro ?? r.distro, arch: o.arch ?? r.arch, kernel_version: o.kernel_version ?? r.kernel_version };
  };
}

/**
 * The request's `X-PixelRTS-Signature`, validated for what it declares (SHA-256, size, name);
 * null when there is none and none is required. With PUBLISH_KEYS set, no envelope is 403.
 */
export async function signatureFor(env: Env, h: Headers, subject: SignedSubject): Promise<ValidatedEnvelope | null> {
  const keys = await publishKeys(env);
  const text = envelopeFromHeader(h);
  requireSignature(keys, text);
  return text === null ? null : validateEnvelope(text, subject, keys);
}

/** Stores the envelope's signatures once the bytes are secured, before the pointer moves (store.ts BeforeInstall). */
export function storeSignaturesHook(s: Storage, signed: ValidatedEnvelope): BeforeInstall {
  return async (target) => {
    await storeEnvelope(s, target.sha256, signed.signatures, target.life ?? (await readRegister(s.bucket, target.sha256)).life);
  };
}

export function requireSha256(h: Headers): string {
  return clientSha256(h) ?? httpFail("E_DIGEST_REQUIRED", "send the file's SHA-256 as X-PixelRTS-SHA256 (hex) or Repr-Digest: sha-256=:<base64>:");
}

export async function entryResponse(env: Env, origin: string, name: string, linked: Linked, deduplicated: boolean): Promise<{ entry: CatalogEntry & Record<string, unknown>; status: 200 | 201 }> {
  const sigs = (await listSignatureObjects(env.BUCKET, linked.record.sha256)).map(summaryOf);
  const entry = { ...entryFromRecord(name, linked.record, origin, localSource(env, origin), undefined, sigs), deduplicated };
  return { entry, status: linked.created ? 201 : 200 };
}

const isDigestError = (e: unknown) => /10037|sha-?256|checksum|digest|hash/i.test(String((e as Error)?.message ?? e));

/** Pumps `chunks` then the rest of `reader` into `writable`; rejects when the body does not fit it. */
async function pump(chunks: Uint8Array[], reader: ReadableStreamDefaultReader<Uint8Array>, writable: WritableStream<Uint8Array>): Promise<void> {
  const writer = writable.getWriter();
  try {
    for (const ch of chunks) await writer.write(ch);
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      await writer.write(value);
    }
    await writer.close();
  } catch (e) {
    await writer.abort(e).catch(() => {});
    throw e;
  }
}

/** Streams `chunks` then the rest of `reader` into R2 at the new key `key` as exactly `length` bytes verified against `sha256`. */
async function storeVerified(bucket: R2Bucket, key: string, chunks: Uint8Array[], reader: ReadableStreamDefaultReader<Uint8Array>, length: number, sha256: string, customMetadata: Record<string, string>): Promise<R2Object> {
  const { readable, writable } = new FixedLengthStream(length);
  const [pumped, put] = await Promise.allSettled([
    pump(chunks, reader, writable),
    createOnly(bucket, key, readable, { sha256, httpMetadata: { contentType: "image/png" }, customMetadata }),
  ]);
  if (put.status === "fulfilled" && put.value && pumped.status === "fulfilled") return put.value;
  // R2 did not store the object (or it must not count): this key is ours alone, so drop it
  if (put.status === "fulfilled" && put.value) await bucket.delete(key);
  const err = put.status === "rejected" ? put.reason : null;
  if (isDigestError(err)) httpFail("E_DIGEST_MISMATCH", `the body's SHA-256 is not ${sha256}`, { details: { expected: sha256 } });
  if (pumped.status === "rejected") httpFail("E_BAD_LENGTH", `the body does not match Content-Length ${length}`);
  throw err ?? new Error(`R2 put of the new key ${key} found an object there`);
}

/**
 * Token check without a body: publishers call it before streaming a large upload, because a
 * server that refuses a request mid-body closes the connection and the client only sees a reset.
 */
publishRoutes.get("/api/v1/publish/auth", requirePublisher, (c) => c.json({ ok: true }));

publishRoutes.put("/api/v1/containers/:name", requirePublisher, async (c) => {
  const name = parseName(c.req.param("name"));
  const h = c.req.raw.headers;
  const sha = requireSha256(h);
  const cfg = getConfig(c.env);
  const len = h.get("content-length");
  if (!len || !/^\d+$/.test(len)) httpFail("E_LENGTH_REQUIRED", "Content-Length is required (use the multipart upload routes for streamed bodies)");
  const length = Number(len);
  if (length > cfg.maxUploadBytes) {
    httpFail("E_TOO_LARGE", `body larger than ${cfg.maxUploadBytes} bytes: use POST /api/v1/containers/${name}/uploads (multipart)`, { details: { max: cfg.maxUploadBytes } });
  }
  const reader = bodyReader(c.req.raw);
  if (length === 0 || !reader) httpFail("E_NOT_PIXELRTS", "not a PixelRTS container: empty body", { details: { reason: "E_NOT_PNG" } });
  const overrides = overridesFrom(h);
  const store = storageOf(c.env);
  const bucket = store.bucket;
  const origin = new URL(c.req.url).origin;
  // The signature is checked against the declared SHA-256, size and name before a byte is stored.
  const signed = await signatureFor(c.env, h, { sha256: sha, size: length, name });
  const before = signed ? storeSignaturesHook(store, signed) : undefined;

  const linked = await linkExisting(store, name, sha, length, linkedRecord(overrides, cfg.maxGrid), before);
  if (linked) {
    const { entry, status } = await entryResponse(c.env, origin, name, linked, true);
    return c.json(entry, status); // the unread body is drained after the handler (index.ts)
  }

  const { head, chunks } = await readHead(reader, cfg.maxGrid);
  const record = recordFromHead(head, sha, length, overrides);
  const gen = newId();
  const blob = await storeVerified(bucket, blobKey(sha, gen), chunks, reader, length, sha, encodeRecord(record));
  const published = await publishObject(store, name, { sha256: sha, gen, blobEtag: blob.httpEtag }, record, before);
  const { entry, status } = await entryResponse(c.env, origin, name, published, false);
  return c.json(entry, status);
});

publishRoutes.delete("/api/v1/containers/:name", requirePublisher, async (c) => {
  const name = parseName(c.req.param("name"));
  const old = await unlinkName(storageOf(c.env), name);
  if (!old) httpFail("E_NOT_FOUND", `container ${name} not found`);
  return c.json({ deleted: name, sha256: old.sha256 });
});
