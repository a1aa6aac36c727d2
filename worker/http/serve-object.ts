/**
 * Streams one R2 object with exact HTTP semantics: strong ETag, Last-Modified, Accept-Ranges,
 * exact Content-Length, digests (Repr-Digest / X-PixelRTS-SHA256 of the verified blob), single
 * ranges (206/416), conditionals (304/412), If-Range; HEAD = same headers, no body. Never
 * buffers the body; R2 only ever gets explicit, in-bounds values.
 *
 * Container bytes are only served when the object is the one that was verified: its ETag must
 * be the one the pointer or register recorded, and an R2 checksum, when present, must be the
 * expected SHA-256. Otherwise 404, as if absent; for URLs whose target moves (serveResolved),
 * after resolving the target again.
 *
 * Plain GET (no Range, no preconditions) costs one R2 read. Otherwise: `head()`, evaluate here,
 * then `get()` with the range and `onlyIf: { etagMatches }` so the bytes sent are the version
 * the decision was made on (retried if the object changed in between).
 */
import type { Context } from "hono";
import { toHex } from "../../shared/bytes";
import { isSha256Hex } from "../../shared/catalog";
import { httpFail } from "../errors";
import { evaluateConditionals, hasConditionals, ifRangeAllows, type Validators } from "./conditionals";
import { reprDigest } from "./digest";
import { contentRange, parseRange } from "../../shared/http-range";

export const CACHE_IMMUTABLE = "public, max-age=31536000, immutable";
export const CACHE_REVALIDATE = "public, max-age=60, must-revalidate";

export interface ServeOptions {
  bucket: R2Bucket;
  key: string;
  cacheControl: string;
  /** Content-Type to send (default: the stored one, else application/octet-stream). */
  contentType?: string;
  /** Adds `Content-Disposition: inline; filename="…"`. */
  filename?: string;
  /** Container blob: the verified object it must be (digest headers are sent for it). */
  verified?: { sha256: string; etag: string };
  /** Name used in 404 messages. */
  what?: string;
  /**
   * For URLs whose target can change (container ids): when the URL last changed target. Used as
   * Last-Modified instead of the blob's upload time (a name can be pointed back at an older
   * blob), and then a date is not a strong validator, so If-Range with a date never matches.
   */
  repointedAt?: Date;
}

/** Is `obj` the object that was verified for this SHA-256 (its ETag, and R2's checksum if any)? */
function isVerified(obj: R2Object, v: { sha256: string; etag: string }): boolean {
  const sum = obj.checksums?.sha256;
  return obj.httpEtag === v.etag && (!sum || toHex(new Uint8Array(sum)) === v.sha256);
}

function lastModifiedOf(obj: R2Object, o: ServeOptions): Date {
  return o.repointedAt && o.repointedAt > obj.uploaded ? o.repointedAt : obj.uploaded;
}

function representationHeaders(obj: R2Object, o: ServeOptions): Headers {
  const h = new Headers();
  h.set("ETag", obj.httpEtag);
  h.set("Last-Modified", lastModifiedOf(obj, o).toUTCString());
  h.set("Cache-Control", o.cacheControl);
  h.set("Accept-Ranges", "bytes");
  h.set("Content-Type", o.contentType ?? obj.httpMetadata?.contentType ?? "application/octet-stream");
  if (o.filename) h.set("Content-Disposition", `inline; filename="${o.filename}"`);
  if (o.verified) {
    h.set("Repr-Digest", reprDigest(o.verified.sha256));
    h.set("X-PixelRTS-SHA256", o.verified.sha256);
    const cm = obj.customMetadata ?? {};
    if (isSha256Hex(cm.data_hash)) h.set("X-PixelRTS-Data-Hash", cm.data_hash);
    if (cm.data_size && /^\d+$/.test(cm.data_size)) h.set("X-PixelRTS-Data-Size", cm.data_size);
  }
  return h;
}

/** Headers a 304/412/416 keeps: validators, caching and digests (never a body length). */
function validatorHeaders(full: Headers): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of ["ETag", "Last-Modified", "Cache-Control", "Accept-Ranges", "Repr-Digest", "X-PixelRTS-SHA256", "X-PixelRTS-Data-Hash", "X-PixelRTS-Data-Size"]) {
    const v = full.get(k);
    if (v !== null) out[k] = v;
  }
  return out;
}

/** Why an object was not served: absent, or not the object that was verified. */
export type Gone = "missing" | "unverified";

function goneFail(gone: Gone, what: string): never {
  if (gone === "missing") httpFail("E_NOT_FOUND", `${what} not found`);
  httpFail("E_NOT_FOUND", `${what} is not available (not the verified object)`);
}

/** How often a moving target is resolved before answering 503 (serveResolved). */
export const RESOLVE_ATTEMPTS = 3;

/** What a URL whose target can move resolves to now; `version` names the object (key and ETag). */
export interface Resolved {
  options: ServeOptions;
  version: string;
}

/**
 * Serves what `resolve` names now (a name's pointer, a blob's register, a thumbnail). When that
 * object is gone or not the verified one by the time it is read (a republish or delete between
 * the two reads collected it), it resolves again: a target that moved is served instead, at most
 * RESOLVE_ATTEMPTS resolutions (then 503 E_CONFLICT, retry); one that did not move, or no longer
 * exists, is a 404. So a name that exists throughout never answers 404 because it was republished
 * during the request. `absent` answers the 404 for a target that resolves to nothing.
 */
export async function serveResolved(c: Context, resolve: () => Promise<Resolved | null>, absent: () => never): Promise<Response> {
  let target = await resolve();
  for (let i = 1; ; i++) {
    if (!target) absent();
    const res = await tryServeObject(c, target.options);
    if (res instanceof Response) return res;
    const again = await resolve();
    if (!again) absent();
    if (again.version === target.version) return goneFail(res, target.options.what ?? "object");
    if (i >= RESOLVE_ATTEMPTS) httpFail("E_CONFLICT", `${target.options.what ?? "object"} changed during the request; retry`, { status: 503, headers: { "Retry-After": "1" } });
    target = again;
  }
}

/** The response for `o`, or why there is none (the object is absent, or not the verified one). */
export async function tryServeObject(c: Context, o: ServeOptions): Promise<Response | Gone> {
  const req = c.req.raw;
  const method = req.method;
  const what = o.what ?? "object";
  const rangeHeader = req.headers.get("range");

  if (method === "GET" && !rangeHeader && !hasConditionals(req.headers)) {
    const obj = await o.bucket.get(o.key);
    if (!obj) return "missing";
    if (o.verified && !isVerified(obj, o.verified)) {
      await obj.body.cancel();
      return "unverified";
    }
    const headers = representationHeaders(obj, o);
    headers.set("Content-Length", String(obj.size));
    return new Response(obj.body, { status: 200, headers });
  }

  for (let attempt = 0; attempt < 3; attempt++) {
    const head = await o.bucket.head(o.key);
    if (!head) return "missing";
    if (o.verified && !isVerified(head, o.verified)) return "unverified";
    const headers = representationHeaders(head, o);
    const v: Validators = { etag: head.httpEtag, lastModified: lastModifiedOf(head, o), dateIsStrong: !o.repointedAt };

    const outcome = evaluateConditionals(req.headers, v, method);
    if (outcome === "not-modified") return new Response(null, { status: 304, headers: validatorHeaders(headers) });
    if (outcome === "precondition-failed") httpFail("E_PRECONDITION_FAILED", "precondition failed", { headers: validatorHeaders(headers) });

    let range = parseRange(rangeHeader, head.size);
    if (range.type !== "none" && !ifRangeAllows(req.headers, v)) range = { type: "none" };
    if (range.type === "unsatisfiable") {
      httpFail("E_RANGE_NOT_SATISFIABLE", `range not satisfiable (size ${head.size})`, {
        headers: { ...validatorHeaders(headers), "Content-Range": contentRange(null, head.size) },
      });
    }
    let status = 200;
    if (range.type === "range") {
      status = 206;
      headers.set("Content-Range", contentRange(range, head.size));
      headers.set("Content-Length", String(range.length));
    } else {
      headers.set("Content-Length", String(head.size));
    }
    if (method === "HEAD") return new Response(null, { status, headers });

    const obj = await o.bucket.get(o.key, {
      onlyIf: { etagMatches: head.etag },
      ...(range.type === "range" ? { range: { offset: range.offset, length: range.length } } : {}),
    });
    if (obj && "body" in obj) return new Response(obj.body, { status, headers });
    // deleted or replaced between head() and get(): decide again on the new version
  }
  httpFail("E_CONFLICT", `${what} changed during the request; retry`, { status: 503, headers: { "Retry-After": "1" } });
}
