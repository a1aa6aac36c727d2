import type { Dispatcher } from "undici";
import { undici } from "./undici.js";
import { isPixelRtsError, PixelRtsError } from "../../shared/errors.js";
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

export interface JsonGetOptions {
  timeoutMs: number;
  etag?: string;
  signal?: AbortSignal;
}

type JsonBody = Awaited<ReturnType<ReturnType<typeof undici>["request"]>>["body"];

/**
 * The rules every JSON GET follows (catalogs, health): one overall deadline, If-None-Match, 200
 * or 304 only, a JSON Content-Type. `read` consumes the body of a 200; its E_BAD_RESPONSE
 * errors are prefixed with the request. Not retried here: a catalog listing must stay fast, and
 * a stale copy is the fallback.
 */
export async function getJsonWith<T>(dispatcher: Dispatcher, url: string, opts: JsonGetOptions, read: (body: JsonBody) => Promise<T>): Promise<{ status: 304; etag?: string } | { status: 200; etag?: string; value: T }> {
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
    let value: T;
    try {
      value = await read(res.body);
    } catch (e) {
      res.body.destroy();
      throw e;
    }
    return { status: 200, ...(etag ? { etag } : {}), value };
  } catch (e) {
    if (deadline.aborted && !opts.signal?.aborted) throw new PixelRtsError("E_TIMEOUT", `GET ${url}: no answer within ${Math.round(opts.timeoutMs / 1000)} s`, { url });
    if (isPixelRtsError(e) && e.code === "E_BAD_RESPONSE" && !/^GET /.test(e.message)) throw new PixelRtsError("E_BAD_RESPONSE", `GET ${url}: ${e.message}`, { url });
    throw toHttpError(e, url);
  }
}

/** GET a whole JSON document (at most 64 MiB), parsed. */
export async function getJson<T>(dispatcher: Dispatcher, url: string, opts: JsonGetOptions): Promise<JsonResponse<T>> {
  const r = await getJsonWith(dispatcher, url, opts, async (body) => {
    const text = await readText(body, MAX_JSON_BYTES, `GET ${url}`);
    try {
      return JSON.parse(text) as T;
    } catch (e) {
      throw new PixelRtsError("E_BAD_RESPONSE", `malformed JSON (${(e as Error).message})`, { url });
    }
  });
  return r.status === 304 ? r : { status: 200, ...(r.etag ? { etag: r.etag } : {}), body: r.value };
}

export function header(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}
