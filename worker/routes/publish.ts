/**
 * Publishing with one request: `PUT /api/v1/containers/{name}` with the .rts.png as body,
 * `Content-Length`, and the file's SHA-256 (`X-PixelRTS-SHA256` hex, or `Repr-Digest` /
 * `Content-Digest: sha-256=:…:`). Optional catalog fields: `X-PixelRTS-Distro`,
 * `X-PixelRTS-Arch`, `X-PixelRTS-Kernel-Version`.
 *
 * The head is validated before a byte is stored; the bytes then stream into R2 through a
 * FixedLengthStream with `sha256`, so R2 itself rejects a body whose digest differs (nothing is
 * written). Only then is the catalog pointer written. A blob already stored under that SHA-256
 * is reused without reading the rest of the body. `DELETE` removes the entry.
 */
import { Hono } from "hono";
import type { CatalogEntry } from "../../shared/catalog";
import { requirePublisher } from "../auth";
import { entryFromRecord } from "../catalog/entry";
import { getConfig } from "../config";
import { httpFail } from "../errors";
import { clientSha256 } from "../http/digest";
import { blobKey, parseName } from "../storage/layout";
import { readHead } from "../storage/head";
import { type ContainerRecord, type RecordOverrides, decodeRecord, encodeRecord, recordFromHead } from "../storage/record";
import { blobVerified, linkName, localSource, unlinkName } from "../storage/store";

export const publishRoutes = new Hono<{ Bindings: Env }>();

export function overridesFrom(h: Headers): RecordOverrides {
  const v = (n: string) => h.get(n)?.trim().slice(0, 64) || null;
  return { distro: v("x-pixelrts-distro"), arch: v("x-pixelrts-arch"), kernel_version: v("x-pixelrts-kernel-version") };
}

function withOverrides(r: ContainerRecord, o: RecordOverrides): ContainerRecord {
  return { ...r, distro: o.distro ?? r.distro, arch: o.arch ?? r.arch, kernel_version: o.kernel_version ?? r.kernel_version };
}

/**
 * Publishing bytes the bucket already holds (same SHA-256 and size, verified): link the name to
 * the existing blob instead of storing it again. Undefined when there is no such blob.
 */
export async function linkExisting(env: Env, origin: string, name: string, sha: string, size: number, overrides: RecordOverrides): Promise<{ entry: CatalogEntry & Record<string, unknown>; status: 200 | 201 } | undefined> {
  const existing = await env.BUCKET.head(blobKey(sha));
  const existingRecord = existing ? decodeRecord(existing.customMetadata) : null;
  if (!existing || !existingRecord || existingRecord.size !== size || !(await blobVerified(env.BUCKET, existing))) return undefined;
  const { record, created } = await linkName(env.BUCKET, name, withOverrides(existingRecord, overrides), existing);
  return { entry: entryResponse(env, origin, name, record, { deduplicated: true }), status: created ? 201 : 200 };
}

export function requireSha256(h: Headers): string {
  return clientSha256(h) ?? httpFail("E_DIGEST_REQUIRED", "send the file's SHA-256 as X-PixelRTS-SHA256 (hex) or Repr-Digest: sha-256=:<base64>:");
}

export function entryResponse(env: Env, origin: string, name: string, record: ContainerRecord, extra: Record<string, unknown>): CatalogEntry & Record<string, unknown> {
  return { ...entryFromRecord(name, record, origin, localSource(env, origin)), ...extra };
}

const isDigestError = (e: unknown) => /10037|sha-?256|checksum|digest|hash/i.test(String((e as Error)?.message ?? e));

/** Streams `chunks` then the rest of `reader` into R2 as exactly `length` bytes verified against `sha256`. */
async function storeVerified(bucket: R2Bucket, key: string, chunks: Uint8Array[], reader: ReadableStreamDefaultReader<Uint8Array>, length: number, sha256: string, customMetadata: Record<string, string>): Promise<R2Object> {
  const { readable, writable } = new FixedLengthStream(length);
  const writer = writable.getWriter();
  let pumpError: unknown = null;
  const pump = (async () => {
    try {
      for (const ch of chunks) await writer.write(ch);
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        await writer.write(value);
      }
      await writer.close();
    } catch (e) {
      pumpError = e;
      await writer.abort(e).catch(() => {});
      await reader.cancel().catch(() => {});
    }
  })();
  const put = bucket.put(key, readable, { sha256, httpMetadata: { contentType: "image/png" }, customMetadata });
  const [, res] = await Promise.allSettled([pump, put]);
  if (res.status === "fulfilled" && res.value && !pumpError) return res.value;
  // R2 did not store the object (or it must not count): make sure nothing is left behind
  if (res.status === "fulfilled") await bucket.delete(key);
  if (pumpError) httpFail("E_BAD_LENGTH", `the body does not match Content-Length ${length}`);
  const err = res.status === "rejected" ? res.reason : null;
  if (isDigestError(err)) httpFail("E_DIGEST_MISMATCH", `the body's SHA-256 is not ${sha256}`, { details: { expected: sha256 } });
  throw err ?? new Error("R2 put returned null");
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
  const body = c.req.raw.body;
  if (length === 0 || !body) httpFail("E_NOT_PIXELRTS", "not a PixelRTS container: empty body", { details: { reason: "E_NOT_PNG" } });
  const overrides = overridesFrom(h);
  const bucket = c.env.BUCKET;
  const origin = new URL(c.req.url).origin;

  const linked = await linkExisting(c.env, origin, name, sha, length, overrides);
  if (linked) {
    await body.cancel();
    return c.json(linked.entry, linked.status);
  }

  const reader = body.getReader();
  const { head, chunks } = await readHead(reader);
  const record = recordFromHead(head, sha, length, overrides);
  const blob = await storeVerified(bucket, blobKey(sha), chunks, reader, length, sha, encodeRecord(record));
  const { record: pointer, created } = await linkName(bucket, name, record, blob);
  return c.json(entryResponse(c.env, origin, name, pointer, { deduplicated: false }), created ? 201 : 200);
});

publishRoutes.delete("/api/v1/containers/:name", requirePublisher, async (c) => {
  const name = parseName(c.req.param("name"));
  const old = await unlinkName(c.env.BUCKET, name);
  if (!old) httpFail("E_NOT_FOUND", `container ${name} not found`);
  return c.json({ deleted: name, sha256: old.sha256 });
});
