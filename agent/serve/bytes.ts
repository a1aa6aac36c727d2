/**
 * A verified cache file as an HTTP answer: the headers the Worker sends for container bytes
 * (strong ETag = the file's SHA-256, Repr-Digest, X-PixelRTS-SHA256, Content-Length, ranges),
 * `If-None-Match` → 304 (the original client revalidates that way), one range → 206, an
 * unsatisfiable one → 416. Streamed from disk; `release` runs when the body ends or is dropped.
 */
import { createReadStream } from "node:fs";
import { Readable } from "node:stream";
import type { Context } from "hono";
import { contentRange, parseRange } from "../../shared/http-range.js";
import { errorResponse } from "./errors.js";

export function fileResponse(c: Context, file: { path: string; sha256: string; size: number; name: string }, release: () => Promise<void> | void): Response {
  const etag = `"${file.sha256}"`;
  const headers = new Headers({
    "content-type": "image/png",
    etag,
    "accept-ranges": "bytes",
    "cache-control": "private, no-cache",
    "repr-digest": `sha-256=:${Buffer.from(file.sha256, "hex").toString("base64")}:`,
    "x-pixelrts-sha256": file.sha256,
    "content-disposition": `attachment; filename="${file.name.replace(/[^A-Za-z0-9._-]/g, "_")}.rts.png"`,
  });
  const done = () => void Promise.resolve(release()).catch(() => {});
  const inm = c.req.header("if-none-match");
  if (inm && inm.split(",").some((t) => t.trim().replace(/^W\//, "") === etag || t.trim() === "*")) {
    done();
    return new Response(null, { status: 304, headers });
  }
  let start = 0;
  let end = file.size - 1;
  let status = 200;
  const range = c.req.header("range");
  const ifRange = c.req.header("if-range");
  const r = !ifRange || ifRange === etag ? parseRange(range, file.size) : ({ type: "none" } as const);
  if (r.type === "unsatisfiable") {
    done();
    const res = errorResponse(c, "E_RANGE_NOT_SATISFIABLE", `range ${range} is outside the ${file.size} bytes`);
    res.headers.set("content-range", contentRange(null, file.size));
    return res;
  }
  if (r.type === "range") {
    [start, end, status] = [r.offset, r.end, 206];
    headers.set("content-range", contentRange(r, file.size));
  }
  headers.set("content-length", String(file.size === 0 ? 0 : end - start + 1));
  if (c.req.method === "HEAD" || file.size === 0) {
    done();
    return new Response(null, { status, headers });
  }
  const stream = createReadStream(file.path, { start, end, highWaterMark: 1 << 20 });
  stream.once("close", done);
  return new Response(Readable.toWeb(stream) as ReadableStream<Uint8Array>, { status, headers });
}
