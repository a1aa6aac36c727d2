/**
 * The only place where `pixelrts serve` turns errors into HTTP responses: `{"success": false,
 * "error": {"code", "message", "details"?}}` with the status from the table below. The
 * `success: false` is for the original visual shell's code, which checks that field; programs
 * match on `error.code` (stable, in README's error table). Never a stack trace.
 */
import type { Context, ErrorHandler, NotFoundHandler } from "hono";
import { type ErrorCode, isPixelRtsError, PixelRtsError } from "../../shared/errors.js";

const STATUS: Record<string, number> = {
  // the request
  E_BAD_REQUEST: 400,
  E_BAD_NAME: 400,
  E_USAGE: 400,
  E_UNAUTHORIZED: 401,
  E_FORBIDDEN_HOST: 403,
  E_FORBIDDEN_ORIGIN: 403,
  E_NOT_FOUND: 404,
  E_NOT_CACHED: 404,
  E_METHOD_NOT_ALLOWED: 405,
  E_AMBIGUOUS: 409,
  E_TOO_LARGE: 413,
  E_UNSUPPORTED_MEDIA_TYPE: 415,
  E_RANGE_NOT_SATISFIABLE: 416,
  // the container was refused (integrity, signature policy, boot settings it carries)
  E_HASH_MISMATCH: 422,
  E_DIGEST_MISMATCH: 422,
  E_DIGEST_UNKNOWN: 422,
  E_SIZE_MISMATCH: 422,
  E_METADATA_INVALID: 422,
  E_NOT_BOOTABLE: 422,
  E_NOT_VERIFIABLE: 422,
  E_UNSIGNED: 422,
  E_UNTRUSTED_KEY: 422,
  E_SIGNATURE_MISMATCH: 422,
  E_SIGNATURE_INVALID: 422,
  E_ROLLBACK: 422,
  // a server behind us failed
  E_NETWORK: 502,
  E_HTTP: 502,
  E_SERVER: 502,
  E_BAD_RESPONSE: 502,
  E_BAD_CONTENT_TYPE: 502,
  E_TRUNCATED: 502,
  E_NO_BYTES: 502,
  E_TOO_MANY_REDIRECTS: 502,
  E_OFFLINE: 503,
  E_TIMEOUT: 504,
  E_PULL_TIMEOUT: 504,
  E_TOO_SLOW: 504,
  // this host
  E_QEMU_NOT_FOUND: 500,
  E_KVM_UNAVAILABLE: 500,
  E_NO_PORT: 503,
  E_DISK_FULL: 507,
  E_IO: 500,
  E_CONFIG: 500,
  E_INTERNAL: 500,
};

export function statusFor(code: string): number {
  return STATUS[code] ?? 500;
}

/** Throws a PixelRtsError for a response (expression-friendly). */
export function httpFail(code: ErrorCode, message: string, details?: Record<string, unknown>): never {
  throw new PixelRtsError(code, message, details);
}

export function errorResponse(c: Context, code: string, message: string, details?: Record<string, unknown>, status = statusFor(code)): Response {
  const headers = new Headers({ "cache-control": "no-store" });
  if (c.req.method === "HEAD") return new Response(null, { status, headers });
  headers.set("content-type", "application/json; charset=utf-8");
  const error: Record<string, unknown> = { code, message };
  if (details && Object.keys(details).length) error.details = details;
  return new Response(JSON.stringify({ success: false, error }), { status, headers });
}

export const onError: ErrorHandler = (err, c) => {
  if (isPixelRtsError(err)) return errorResponse(c, err.code, err.message, (err as PixelRtsError).details);
  console.error("pixelrts serve: unhandled error", c.req.method, new URL(c.req.url).pathname, err);
  return errorResponse(c, "E_INTERNAL", "internal error");
};

export const notFound: NotFoundHandler = (c) => errorResponse(c, "E_NOT_FOUND", `no route for ${c.req.method} ${new URL(c.req.url).pathname}`);
