/**
 * What keeps a boot host's API from being driven by any web page its user visits:
 *
 * 1. **Host** (DNS rebinding): a page on evil.example can make its own name resolve to
 *    127.0.0.1, but the browser still sends `Host: evil.example`. Only the listening address and
 *    `localhost` (with the listening port) are answered; anything else is 403 E_FORBIDDEN_HOST.
 * 2. **Token**: with PIXELRTS_SERVE_TOKEN set (required when listening beyond loopback), every
 *    request but a CORS preflight carries `Authorization: Bearer TOKEN`, or the cookie the console
 *    page sets after being opened once as `/?token=TOKEN`; else 401 E_UNAUTHORIZED.
 * 3. **Origin** for anything that changes state (every non-GET, and the GETs that fetch or
 *    refresh): a browser request from another origin is refused (403 E_FORBIDDEN_ORIGIN) unless
 *    that origin was listed with `--allow-origin` (the visual shell's page). Requests without an
 *    Origin (curl, scripts) and same-origin requests (the console page) pass.
 * 4. **CORS**: reads of the original catalog server's routes answer any origin
 *    (`Access-Control-Allow-Origin: *`, as the original did); everything else only the listed
 *    origins. Preflights follow the same rule.
 */
import { timingSafeEqual } from "node:crypto";
import { networkInterfaces, hostname as osHostname } from "node:os";
import type { Context, MiddlewareHandler } from "hono";
import { errorResponse } from "./errors.js";

export interface SecurityOptions {
  /** The address serve listens on, as given (127.0.0.1, ::1, localhost, 0.0.0.0 …). */
  host: string;
  /** The port it listens on (a getter: known once listening). */
  port: () => number;
  /** Origins allowed to change state and to read everything (`http://host:port`). */
  allowOrigins: readonly string[];
  /** The bearer token, when one is required. */
  token?: string;
}

export const TOKEN_COOKIE = "pixelrts_serve_token";

/** Original routes any origin may read (GET/HEAD), as the original server's CORS allowed. */
const PUBLIC_READS = [
  /^\/api\/v1\/health$/,
  /^\/api\/v1\/catalog$/,
  /^\/api\/v1\/catalog\/[^/]+$/,
  /^\/api\/v1\/catalog\/[^/]+\/(?:data|status|thumbnail)$/,
  /^\/api\/container\/[^/]+\/download$/,
];
/** GETs that change something (refetch catalogs): treated like a POST for the Origin rule. */
const STATEFUL_GETS = [/^\/api\/v1\/catalog\/refresh$/];

const SAFE = new Set(["GET", "HEAD", "OPTIONS"]);
const EXPOSED = "ETag, Content-Length, Content-Range, Accept-Ranges, Repr-Digest, X-PixelRTS-SHA256, X-Serial-Offset, X-Serial-Bytes";
const READ_HEADERS = "Content-Type, Accept, Range, If-None-Match, If-Modified-Since, If-Range, Cache-Control, Authorization";

export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || /^127(?:\.\d{1,3}){3}$/.test(h);
}

function isWildcard(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "");
  return h === "0.0.0.0" || h === "::" || h === "";
}

/** `Host` split into a lower-case name (IPv6 without brackets) and a port (null when absent). */
export function parseHostHeader(value: string): { name: string; port: number | null } | undefined {
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?$/.exec(value.trim());
  if (!m) return undefined;
  return { name: m[1]!.replace(/^\[|\]$/g, "").toLowerCase(), port: m[2] === undefined ? null : Number(m[2]) };
}

/** The names a Host header may carry for this server. */
function allowedHostNames(host: string): Set<string> {
  const names = new Set(["localhost", host.replace(/^\[|\]$/g, "").toLowerCase()]);
  // Listening on "localhost" is listening on its loopback addresses.
  if (host.toLowerCase() === "localhost") for (const a of ["127.0.0.1", "::1"]) names.add(a);
  if (isWildcard(host)) {
    // Listening everywhere (token required): any address of this machine, and its name.
    for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) names.add(a.address.toLowerCase());
    names.add(osHostname().toLowerCase());
  }
  return names;
}

export function normalizeOrigin(value: string): string | undefined {
  try {
    const u = new URL(value);
    if (u.protocol !== "http:" && u.protocol !== "https:") return undefined;
    if (u.pathname !== "/" || u.search || u.hash || u.username) return undefined;
    return u.origin;
  } catch {
    return undefined;
  }
}

function tokenMatches(given: string | undefined, token: string): boolean {
  if (!given) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? "").split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k !== name) continue;
    try {
      return decodeURIComponent(v.join("="));
    } catch {
      return undefined; // a malformed cookie (any app on this host name may set one) is no token
    }
  }
  return undefined;
}

export type RequestTrust = {
  /** The request came from a page of another origin not listed with --allow-origin. */
  foreignOrigin: boolean;
};

/**
 * One middleware for all four rules, in order. Sets `trust` on the context for routes whose
 * side effects depend on the request (a download that would have to pull first).
 */
export function security(opts: SecurityOptions): MiddlewareHandler<{ Variables: { trust: RequestTrust } }> {
  const hostNames = allowedHostNames(opts.host);
  const allowed = new Set(opts.allowOrigins);
  return async (c, next) => {
    const path = new URL(c.req.url).pathname;
    const method = c.req.method;
    // 1. Host
    const hostHeader = c.req.header("host") ?? "";
    const h = parseHostHeader(hostHeader);
    const port = opts.port();
    if (!h || !hostNames.has(h.name) || (h.port ?? 80) !== port) {
      return errorResponse(c, "E_FORBIDDEN_HOST", `this server answers to localhost:${port} and its listening address only, not Host ${JSON.stringify(hostHeader.slice(0, 100))} (DNS rebinding protection)`);
    }
    const origin = c.req.header("origin");
    const self = `http://${hostHeader}`.toLowerCase();
    const sameOrigin = origin !== undefined && origin.toLowerCase() === self;
    const listed = origin !== undefined && allowed.has(origin);
    const publicRead = (method === "GET" || method === "HEAD" || method === "OPTIONS") && PUBLIC_READS.some((r) => r.test(path));
    const corsHeaders = (res: Headers, preflightMethods?: string) => {
      if (!origin || sameOrigin) return;
      if (listed) {
        res.set("access-control-allow-origin", origin);
        res.append("vary", "Origin");
      } else if (publicRead) res.set("access-control-allow-origin", "*");
      else return;
      res.set("access-control-expose-headers", EXPOSED);
      if (preflightMethods) {
        res.set("access-control-allow-methods", preflightMethods);
        res.set("access-control-allow-headers", READ_HEADERS);
        res.set("access-control-max-age", "600");
      }
    };

    // CORS preflight: no credentials ever ride on it, so it is answered before the token check.
    if (method === "OPTIONS" && c.req.header("access-control-request-method")) {
      const wanted = c.req.header("access-control-request-method")!.toUpperCase();
      const readOnly = wanted === "GET" || wanted === "HEAD";
      if (!origin || (!listed && !(readOnly && publicRead))) {
        return errorResponse(c, "E_FORBIDDEN_ORIGIN", `origin ${JSON.stringify(origin ?? "")} may not ${wanted} ${path} (start serve with --allow-origin ORIGIN to allow it)`);
      }
      const res = new Response(null, { status: 204 });
      corsHeaders(res.headers, listed ? "GET, HEAD, POST, OPTIONS" : "GET, HEAD, OPTIONS");
      return res;
    }

    // 2. Token
    if (opts.token !== undefined) {
      const bearer = /^Bearer\s+(\S+)$/i.exec(c.req.header("authorization") ?? "")?.[1];
      const cookie = cookieValue(c.req.header("cookie"), TOKEN_COOKIE);
      const query = method === "GET" && path === "/" ? new URL(c.req.url).searchParams.get("token") ?? undefined : undefined;
      if (query !== undefined && tokenMatches(query, opts.token)) {
        // Opened as /?token=…: remember it in a same-site cookie and drop it from the address bar.
        return new Response(null, { status: 303, headers: { location: "/", "set-cookie": `${TOKEN_COOKIE}=${encodeURIComponent(opts.token)}; Path=/; HttpOnly; SameSite=Strict`, "cache-control": "no-store" } });
      }
      if (!tokenMatches(bearer, opts.token) && !tokenMatches(cookie, opts.token)) {
        const res = errorResponse(c, "E_UNAUTHORIZED", "this server needs its token: Authorization: Bearer TOKEN (PIXELRTS_SERVE_TOKEN), or open the console once as /?token=TOKEN");
        res.headers.set("www-authenticate", 'Bearer realm="pixelrts serve"');
        corsHeaders(res.headers);
        return res;
      }
    }

    // 3. Origin, for what changes state. A browser says where a request comes from in Origin
    // (every non-GET) or, for plain GETs such as <img src>, in Sec-Fetch-Site.
    const fetchSite = c.req.header("sec-fetch-site");
    const foreign = origin !== undefined ? !sameOrigin && !listed : fetchSite === "cross-site" || fetchSite === "same-site";
    const stateful = !SAFE.has(method) || STATEFUL_GETS.some((r) => r.test(path));
    if (stateful && foreign) {
      const res = errorResponse(c, "E_FORBIDDEN_ORIGIN", `a page of ${origin ?? `another site (Sec-Fetch-Site: ${fetchSite})`} may not ${method} ${path} (start serve with --allow-origin ORIGIN to allow it)`);
      corsHeaders(res.headers);
      return res;
    }
    c.set("trust", { foreignOrigin: foreign });
    await next();
    // 4. CORS on the answer (errors included)
    corsHeaders(c.res.headers);
  };
}

/** The trust the security middleware found (for handlers outside it, e.g. tests: nothing foreign). */
export function requestTrust(c: Context): RequestTrust {
  return (c.get("trust") as RequestTrust | undefined) ?? { foreignOrigin: false };
}
