/**
 * Request bodies. Every route reads a body through `bodyReader` (one reader per request), so
 * that the drain (index.ts, after every request) can finish what a route started. The drain
 * rule: no request ends with its body half-read or cancelled — under `wrangler dev` that breaks
 * the next request on the same connection. Caps are enforced while streaming: a body is refused
 * (413) as soon as it passes its cap, without buffering the rest.
 */
import { concatBytes } from "../../shared/bytes";
import { httpFail } from "../errors";

const readers = new WeakMap<Request, ReadableStreamDefaultReader<Uint8Array>>();

/** The request body's one reader; null without a body, or when it was handed over whole (e.g. to R2). */
export function bodyReader(req: Request): ReadableStreamDefaultReader<Uint8Array> | null {
  const known = readers.get(req);
  if (known) return known;
  if (!req.body || req.body.locked) return null;
  const reader = req.body.getReader();
  readers.set(req, reader);
  return reader;
}

/** Content-Length as a number; null when absent or malformed. */
export function declaredLength(req: Request): number | null {
  const v = req.headers.get("content-length");
  return v !== null && /^\d+$/.test(v) ? Number(v) : null;
}

function tooLarge(what: string, cap: number): never {
  httpFail("E_TOO_LARGE", `${what} is larger than ${cap} bytes`, { details: { max: cap } });
}

/** The whole body, refused with 413 E_TOO_LARGE once it passes `cap` bytes (declared or streamed). */
export async function readCapped(req: Request, cap: number, what: string): Promise<Uint8Array> {
  const declared = declaredLength(req);
  if (declared !== null && declared > cap) tooLarge(what, cap);
  const reader = bodyReader(req);
  if (!reader) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return concatBytes(chunks, total);
    total += value.length;
    if (total > cap) tooLarge(what, cap);
    chunks.push(value);
  }
}

/**
 * Reads and discards what is left of the body, up to `limit` bytes; past that it cancels (the
 * client sent more than any route accepts; the connection may then close). Never throws.
 */
export async function drainBody(req: Request, limit: number): Promise<void> {
  const reader = bodyReader(req);
  if (!reader) return;
  let n = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      n += value.length;
      if (n > limit) {
        await reader.cancel();
        return;
      }
    }
  } catch {
    // the client went away: nothing left to drain
  }
}
