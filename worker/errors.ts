import type { Context, ErrorHandler, NotFoundHandler } from "hono";
import { type ErrorCode, isPixelRtsError, PixelRtsError } from "../shared/errors";

/**
 * The only place where errors become HTTP responses: `{ "error": { "code", "message" } }` with the
 * status from the table below (or the error's own), plus `details` when the thrower supplied
 * safe machine-readable context. Never a stack trace. HEAD responses carry no body.
 */

/** HTTP status for each code the Worker emits (codec codes from a publish map to 400). */
const STATUS: Record<string, number> = {
  E_BAD_REQUEST: 400,
  E_BAD_NAME: 400,
  E_BAD_DIGEST: 400,
  E_DIGEST_REQUIRED: 400,
  E_DIGEST_MISMATCH: 400,
  E_NOT_PIXELRTS: 400,
  E_HEAD_INCOMPLETE: 400,
  E_BAD_LENGTH: 400,
  E_BAD_UPLOAD: 400,
  E_BAD_CURSOR: 400,
  E_SIGNATURE_INVALID: 400,
  E_SIGNATURE_MISMATCH: 400,
  E_UNAUTHORIZED: 401,
  E_FORBIDDEN: 403,
  E_SIGNATURE_REQUIRED: 403,
  E_NOT_FOUND: 404,
  E_METHOD_NOT_ALLOWED: 405,
  E_CONFLICT: 409,
  E_SIGNATURE_STALE: 409,
  E_SIGNATURES_FULL: 409,
  E_LENGTH_REQUIRED: 411,
  E_PRECONDITION_FAILED: 412,
  E_TOO_LARGE: 413,
  E_UNSUPPORTED_MEDIA_TYPE: 415,
  E_RANGE_NOT_SATISFIABLE: 416,
  E_PUBLISH_DISABLED: 503,
  E_CONFIG: 500,
  E_INTERNAL: 500,
};

/** A PixelRtsError that also fixes the HTTP status and extra response headers. */
export class HttpError extends PixelRtsError {
  constructor(
    code: ErrorCode,
    message: string,
    readonly status?: number,
    readonly headers: Record<string, string> = {},
    details: Record<string, unknown> = {},
  ) {
    super(code, message, details);
  }
}

/** Throws an HttpError (expression-friendly). */
export function httpFail(code: ErrorCode, message: string, opts: { status?: number; headers?: Record<string, string>; details?: Record<string, unknown> } = {}): never {
  throw new HttpError(code, message, opts.status, opts.headers, opts.details);
}

export function statusFor(code: string): number {
  return STATUS[code] ?? 400;
}

const ESC: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (ch) => ESC[ch]!);

/** The pages (`/`, `/containers/…`, `/sources/…`) answer browsers with HTML errors; the API always with JSON. */
function wantsPage(c: Context): boolean {
  const path = new URL(c.req.url).pathname;
  return /\btext\/html\b/.test(c.req.header("accept") ?? "") && (path === "/" || path.startsWith("/containers/") || path.startsWith("/sources/"));
}

function errorResponse(c: Context, status: number, code: string, message: string, headers: Record<string, string>, details?: Record<string, unknown>): Response {
  const h = new Headers(headers);
  h.set("Cache-Control", "no-store");
  if (c.req.method === "HEAD") return new Response(null, { status, headers: h });
  if (wantsPage(c)) {
    h.set("Content-Type", "text/html; charset=utf-8");
    const body = `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta name="color-scheme" content="light dark"><title>${status} ${escapeHtml(code)}</title></head><body style="font:16px/1.5 system-ui,sans-serif;margin:1rem"><main><h1>${status === 404 ? "Not found" : "Error"}</h1><p>${escapeHtml(message)}</p><p><code>${escapeHtml(code)}</code></p><p><a href="/">Back to the catalog</a></p></main></body></html>`;
    return new Response(body, { status, headers: h });
  }
  h.set("Content-Type", "application/json; charset=utf-8");
  const error: Record<string, unknown> = { code, message };
  if (details && Object.keys(details).length) error.details = details;
  return new Response(JSON.stringify({ error }), { status, headers: h });
}

export const onError: ErrorHandler = (err, c) => {
  if (isPixelRtsError(err)) {
    const status = err instanceof HttpError && err.status ? err.status : statusFor(err.code);
    const headers = err instanceof HttpError ? err.headers : {};
    return errorResponse(c, status, err.code, err.message, headers, (err as PixelRtsError).details);
  }
  console.error("unhandled error", c.req.method, new URL(c.req.url).pathname, err);
  return errorResponse(c, 500, "E_INTERNAL", "internal error", {});
};

export const notFound: NotFoundHandler = (c) => errorResponse(c, 404, "E_NOT_FOUND", `no route for ${c.req.method} ${new URL(c.req.url).pathname}`, {});
