import type { Dispatcher } from "undici";
import { undici } from "./undici.js";
import type { Settings } from "../config/settings.js";
import { MAX_REDIRECTS, redirectPolicy } from "./redirects.js";

export const USER_AGENT = "pixelrts/0.1.0 (+https://github.com/pixelrts/edge)";

export interface HttpClientOptions {
  headersTimeoutMs: number;
  bodyTimeoutMs: number;
  connectTimeoutMs?: number;
  /** Extra interceptors composed after redirects (tests add a loopback guard here). */
  interceptors?: Dispatcher.DispatcherComposeInterceptor[];
}

/**
 * The agent's one HTTP client: a keep-alive undici Agent with its timeouts, composed with
 * redirect following (at most MAX_REDIRECTS hops, http(s) only: agent/http/redirects.ts checks
 * each hop before undici follows it). Everything (catalogs, pulls, HEADs) goes through it so
 * connections are reused. Retries are not an interceptor: downloads resume from the bytes already
 * on disk, which only the pull loop knows about (see agent/http/retry.ts for the policy).
 */
export function createHttpClient(opts: HttpClientOptions): Dispatcher {
  const { Agent, interceptors } = undici();
  const agent = new Agent({
    keepAliveTimeout: 10_000,
    keepAliveMaxTimeout: 60_000,
    headersTimeout: opts.headersTimeoutMs,
    bodyTimeout: opts.bodyTimeoutMs,
    connect: { timeout: opts.connectTimeoutMs ?? 10_000 },
  });
  // compose(a, b): b wraps a, so the policy sees every hop before the redirect handler does;
  // undici's own limit is one higher so that the policy's clear error is the one raised.
  return agent.compose(redirectPolicy(MAX_REDIRECTS), interceptors.redirect({ maxRedirections: MAX_REDIRECTS + 1 }), ...(opts.interceptors ?? []));
}

export function httpOptionsFrom(s: Settings): HttpClientOptions {
  return { headersTimeoutMs: s.headersTimeoutMs, bodyTimeoutMs: s.bodyTimeoutMs };
}
