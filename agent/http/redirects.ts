/**
 * Redirect policy, checked on every hop before undici's redirect interceptor follows it:
 * - a Location that is not http(s) (file:, ftp:, data:, …) is E_BAD_URL: the agent fetches
 *   containers over HTTP only, and a server must not be able to point it anywhere else;
 * - a Location already visited in this request is a loop, and more than MAX_REDIRECTS hops is a
 *   chain that may never end: both E_TOO_MANY_REDIRECTS.
 * Neither is retryable (agent/http/retry.ts): asking again gets the same redirect.
 */
import type { Dispatcher } from "undici";
import type { IncomingHttpHeaders } from "node:http";
import { PixelRtsError } from "../../shared/errors.js";

export const MAX_REDIRECTS = 5;

/** Statuses undici's redirect interceptor follows when a Location is present. */
const REDIRECT_STATUSES = new Set([300, 301, 302, 303, 307, 308]);

export const isHttpUrl = (u: URL): boolean => u.protocol === "http:" || u.protocol === "https:";

/** A URL for messages: no credentials, no query. */
export function shownUrl(u: URL | string): string {
  try {
    const x = typeof u === "string" ? new URL(u) : u;
    return isHttpUrl(x) ? `${x.origin}${x.pathname}` : `${x.protocol}${x.pathname ? "…" : ""}`;
  } catch {
    return String(u).slice(0, 100);
  }
}

/** E_BAD_URL unless `url` is an absolute http(s) URL (catalog entries and Locations can name anything). */
export function assertHttpUrl(url: string, what: string): URL {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new PixelRtsError("E_BAD_URL", `${what} is not a URL: '${url.slice(0, 200)}'`, { url, retryable: false });
  }
  if (!isHttpUrl(u)) throw new PixelRtsError("E_BAD_URL", `${what} uses ${u.protocol}, not http or https; refusing to fetch it`, { url: shownUrl(u), retryable: false });
  return u;
}

function firstHeader(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Hops of one request, keyed by undici's redirect handler (the same object on every hop). */
const chains = new WeakMap<object, string[]>();

/**
 * The interceptor. Compose it *inside* `interceptors.redirect` (earlier in `compose(...)`), so
 * it sees each hop's request and response before the redirect handler acts on them, and give
 * undici a higher limit than MAX_REDIRECTS so that this check is the one that ends a chain.
 */
export function redirectPolicy(max = MAX_REDIRECTS): Dispatcher.DispatcherComposeInterceptor {
  return (dispatch) => (opts, handler) => {
    const here = new URL(opts.path, opts.origin).href;
    const hops = chains.get(handler) ?? [];
    chains.set(handler, hops);
    hops.push(here);
    return dispatch(opts, new RedirectCheck(handler, hops, max));
  };
}

class RedirectCheck implements Dispatcher.DispatchHandler {
  constructor(
    private readonly inner: Dispatcher.DispatchHandler,
    private readonly hops: string[],
    private readonly max: number,
  ) {}

  onRequestStart(controller: Dispatcher.DispatchController, context: unknown): void {
    this.inner.onRequestStart?.(controller, context);
  }
  onRequestUpgrade(controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders, socket: import("node:stream").Duplex): void {
    this.inner.onRequestUpgrade?.(controller, statusCode, headers, socket);
  }
  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders, statusMessage?: string): void {
    const location = REDIRECT_STATUSES.has(statusCode) ? firstHeader(headers, "location") : undefined;
    if (location !== undefined) this.check(statusCode, location);
    this.inner.onResponseStart?.(controller, statusCode, headers, statusMessage);
  }
  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.inner.onResponseData?.(controller, chunk);
  }
  onResponseEnd(controller: Dispatcher.DispatchController, trailers: IncomingHttpHeaders): void {
    this.inner.onResponseEnd?.(controller, trailers);
  }
  onResponseError(controller: Dispatcher.DispatchController, error: Error): void {
    this.inner.onResponseError?.(controller, error);
  }

  /** Throws (as undici's own redirect handler does) when this redirect must not be followed. */
  private check(status: number, location: string): void {
    const from = this.hops[this.hops.length - 1]!;
    let target: URL;
    try {
      target = new URL(location, from);
    } catch {
      throw new PixelRtsError("E_BAD_RESPONSE", `${shownUrl(from)} answered ${status} with an unusable Location '${location.slice(0, 200)}'`, { url: shownUrl(from), retryable: false });
    }
    const chain = [...this.hops.map((h) => shownUrl(h)), shownUrl(target)];
    if (!isHttpUrl(target)) {
      throw new PixelRtsError("E_BAD_URL", `${shownUrl(from)} redirected (${status}) to a ${target.protocol} URL; only http and https redirects are followed`, { url: shownUrl(this.hops[0]!), location: shownUrl(target), retryable: false });
    }
    if (this.hops.includes(target.href)) {
      throw new PixelRtsError("E_TOO_MANY_REDIRECTS", `redirect loop: ${chain.join(" → ")}`, { url: shownUrl(this.hops[0]!), chain, retryable: false });
    }
    if (this.hops.length > this.max) {
      throw new PixelRtsError("E_TOO_MANY_REDIRECTS", `more than ${this.max} redirects starting at ${chain[0]} (last: ${chain[chain.length - 1]})`, { url: shownUrl(this.hops[0]!), chain, retryable: false });
    }
  }
}
