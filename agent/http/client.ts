import { Agent, interceptors, type Dispatcher } from "undici";
import type { Settings } from "../config/settings.js";

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
 * redirect following. Everything (catalogs, pulls, HEADs) goes through it so connections are
 * reused. Retries are not an interceptor: downloads resume from the bytes already on disk,
 * which only the pull loop knows about (see agent/http/retry.ts for the policy).
 */
export function createHttpClient(opts: HttpClientOptions): Dispatcher {
  const agent = new Agent({
    keepAliveTimeout: 10_000,
    keepAliveMaxTimeout: 60_000,
    headersTimeout: opts.headersTimeoutMs,
    bodyTimeout: opts.bodyTimeoutMs,
    connect: { timeout: opts.connectTimeoutMs ?? 10_000 },
  });
  return agent.compose(interceptors.redirect({ maxRedirections: 5 }), ...(opts.interceptors ?? []));
}

export function httpOptionsFrom(s: Settings): HttpClientOptions {
  return { headersTimeoutMs: s.headersTimeoutMs, bodyTimeoutMs: s.bodyTimeoutMs };
}
