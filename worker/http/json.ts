/**
 * JSON responses with a strong ETag computed from the body bytes, answering 304 to a matching
 * `If-None-Match` (weak comparison, per RFC 9110) with ETag and Cache-Control.
 */
import type { Context } from "hono";
import { toHex } from "../../shared/bytes";
import { parseEtagList } from "./conditionals";

export const CACHE_CATALOG = "public, max-age=0, must-revalidate";

/** `etagOf`: what the ETag is computed from when parts of the body (timings) should not count. */
export async function jsonWithEtag(c: Context, data: unknown, cacheControl = CACHE_CATALOG, etagOf?: unknown): Promise<Response> {
  const body = new TextEncoder().encode(JSON.stringify(data));
  const tagged = etagOf === undefined ? body : new TextEncoder().encode(JSON.stringify(etagOf));
  const etag = `"${toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", tagged))).slice(0, 32)}"`;
  const headers = new Headers({ ETag: etag, "Cache-Control": cacheControl, Vary: "Accept-Encoding" });
  const inm = c.req.header("if-none-match");
  if (inm != null) {
    const list = parseEtagList(inm);
    if (list === "*" || list.some((t) => t.opaque === etag)) return new Response(null, { status: 304, headers });
  }
  headers.set("Content-Type", "application/json; charset=utf-8");
  headers.set("Content-Length", String(body.length));
  return new Response(c.req.method === "HEAD" ? null : body, { status: 200, headers });
}
