import type { Dispatcher } from "undici";
import { undici } from "./undici.js";
import { PixelRtsError } from "../../shared/errors.js";
import { readText } from "./body.js";
import { USER_AGENT } from "./client.js";
import { assertHttpUrl } from "./redirects.js";
import { statusError, toHttpError } from "./retry.js";

export interface JsonResponse<T> {
  status: 200 | 304;
  etag?: string;
  /** Undefined on 304. */
  body?: T;
}

const MAX_JSON_BYTES = 64 * 1024 * 1024;

/**
 * GET a JSON document (catalogs, health) with an overall deadline and optional If-None-Match.
 * Not retried here: a catalog listing must stay fast, and a stale copy is the fallback.
 */
export async function getJson<T>(dispatcher: Dispatcher, url: string, opts: { timeoutMs: number; etag?: string; signal?: AbortSignal }): Promise<JsonResponse<T>> {
  assertHttpUrl(url, "the catalog URL");
  const deadline = AbortSignal.timeout(opts.timeoutMs);
  const signal = opts.signal ? AbortSignal.any([opts.signal, deadline]) : deadline;
  try {
    const res = await undici().request(url, {
      dispatcher,
      method: "GET",
      signal,
      headers: { accept: "application/json", "user-agent": USER_AGENT, ...(opts.etag ? { "if-none-match": opts.etag } : {}) },
    });
    const etag = header(res.headers, "etag");
    if (res.statusCode === 304) {
      await res.body.dump();
      return { status: 304, ...(etag ?? opts.etag ? { etag: etag ?? opts.etag } : {}) };
    }
    if (res.statusCode !== 200) {
      await res.body.dump();
      throw statusError("GET", url, res.statusCode, "", header(res.headers, "retry-after"));
    }
    const type = header(res.headers, "content-type") ?? "";
    if (!/\bjson\b/i.test(type)) {
      await res.body.dump();
      throw new PixelRtsError("E_BAD_RESPONSE", `GET ${url} returned ${type || "no Content-Type"}, not JSON`, { url });
    }
    const text = await readText(res.body, MAX_JSON_BYTES, `GET ${url}`);
    let body: T;
    try {
      body = JSON.parse(text) as T;
    } catch (e) {
      throw new PixelRtsError("E_BAD_RESPONSE", `GET ${url}: malformed JSON (${(e as Error).message})`, { url });
    }
    return { status: 200, ...(etag ? { etag } : {}), body };
  } catch (e) {
    if (deadline.aborted && !opts.signal?.aborted) throw new PixelRtsError("E_TIMEOUT", `GET ${url}: no answer within ${Math.round(opts.timeoutMs / 1000)} s`, { url });
    throw toHttpError(e, url);
  }
}

export function header(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}
