/**
 * JSON responses with a strong ETag computed from the body bytes, evaluated with the shared
 * conditional rules (conditionals.ts): a matching `If-None-Match` → 304 with ETag and
 * Cache-Control, a failing `If-Match` → 412.
 */
import type { Context } from "hono";
import { toHex } from "../../shared/bytes";
import { httpFail } from "../errors";
import { evaluateConditionals } from "./conditionals";

export const CACHE_CATALOG = "public, max-age=0, must-revalidate";

/** `etagOf`: what the ETag is computed from when parts of the body (timings) should not count. */
export async function jsonWithEtag(c: Context, data: unknown, cacheControl = CACHE_CATALOG, etagOf?: unknown): Promise<Response> {
  const body = new TextEncoder().encode(JSON.stringify(data));
  const tagged = etagOf === undefined ? body : new TextEncoder().encode(JSON.stringify(etagOf));
  const etag = `"${toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", tagged))).slice(0, 32)}"`;
  const headers = { ETag: etag, "Cache-Control": cacheControl, Vary: "Accept-Encoding" };
  const outcome = evaluateConditionals(c.req.raw.headers, { etag }, c.req.method);
  if (outcome === "not-modified") return new Response(null, { status: 304, headers });
  if (outcome === "precondition-failed") httpFail("E_PRECONDITION_FAILED", "precondition failed", { headers });
  return new Response(c.req.method === "HEAD" ? null : body, {
    status: 200,
    headers: { ...headers, "Content-Type": "application/json; charset=utf-8", "Content-Length": String(body.length) },
  });
}
