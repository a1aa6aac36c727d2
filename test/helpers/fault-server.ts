/**
 * A loopback HTTP server that serves one container file with the Worker's headers (design.md,
 * "HTTP contract") and misbehaves on request. Faults are queued: each GET of the container
 * consumes the next one, so "reset at 1 MiB, then at 3 MiB, then behave" is one line; with
 * `repeatFaults` the queue starts over when it runs out (a server that always misbehaves).
 * Redirect routes under /r/ answer 302s: /r/ok (to the container), /r/file (to file:),
 * /r/ftp, /r/loop-a ⇄ /r/loop-b, and /r/chain/N → /r/chain/N+1 for ever.
 */
import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";

/**
 * `after`, on the cutting faults: wait for this before cutting (e.g. until the agent reported
 * saved bytes). Without it the cut comes 20 ms after the bytes were sent, and a client that
 * has not read them yet (a cold process, a slow fsync) loses them with the body: fine for
 * "recovered" checks, not for a test that needs a partial file to resume from.
 */
type Cut = { at: number; after?: () => Promise<unknown> };

export type Fault =
  /** Send the headers and `at` body bytes, then destroy the socket (a connection reset). */
  | ({ kind: "reset" } & Cut)
  /** Declare the full Content-Length, send `at` bytes, then close cleanly (FIN): a truncated body. */
  | ({ kind: "truncate" } & Cut)
  /** Send `at` bytes, then go silent for `ms` (then reset). */
  | { kind: "stall"; at: number; ms: number }
  /** Answer with this status (JSON error body) and optional Retry-After. */
  | { kind: "status"; status: number; retryAfter?: string }
  /** Serve the whole file as 200 even when a Range was asked for. */
  | { kind: "ignore-range" }
  /** Answer a Range request with 206 and a Content-Range that does not match it. */
  | { kind: "bad-content-range" }
  /** 200 text/html "error page", as a misconfigured proxy would. */
  | { kind: "html" }
  /** Send `at` bytes, then wait for `until` before sending the rest (to line up concurrent clients). */
  | { kind: "hold"; at: number; until: Promise<unknown> }
  /** Send `bytes` bytes every `everyMs` (a drip that never lets the idle timeout fire). */
  | { kind: "drip"; bytes: number; everyMs: number }
  /** Answer a Range request with 206 and the right Content-Range, but another ETag. */
  | { kind: "etag-changed" }
  /** Send the response with the byte at file offset `at` flipped (the digest headers still name the true file). */
  | { kind: "corrupt"; at: number }
  /** Serve the whole file as 200 even when a Range was asked for, and stall at `at` for `ms` (then reset). */
  | { kind: "ignore-range-stall"; at: number; ms: number };

export interface FaultServerOptions {
  /** The file served. */
  body: Buffer;
  /** Catalog id of the file. */
  id?: string;
  /** "lie": digest headers name another file; "none": no digest headers at all. */
  digest?: "true" | "lie" | "none";
  /** "weak" sends W/"…"; "none" sends no ETag (resume impossible). */
  etag?: "strong" | "weak" | "none";
  /** Per-request faults, consumed in order by container GETs. */
  faults?: Fault[];
  /** Catalog entry fields to override (e.g. sha256: null to mimic an original server). */
  entry?: Record<string, unknown>;
  /** Bytes per write (the bench uses 1 MiB; tests keep it small so faults land mid-body). */
  chunk?: number;
  /** Start the fault queue over when it runs out. */
  repeatFaults?: boolean;
}

export interface RecordedRequest {
  method: string;
  url: string;
  range?: string;
  ifRange?: string;
  ifNoneMatch?: string;
  /** The status answered (set when the headers go out). */
  status?: number;
}

export interface FaultServer {
  url: string;
  sha256: string;
  etag: string;
  requests: RecordedRequest[];
  /** Container GET/HEAD requests only. */
  containerRequests(): RecordedRequest[];
  faults: Fault[];
  options: FaultServerOptions;
  close(): Promise<void>;
}

export async function startFaultServer(options: FaultServerOptions): Promise<FaultServer> {
  const body = options.body;
  const sha256 = createHash("sha256").update(body).digest("hex");
  const id = options.id ?? "tiny";
  const etag = `"${sha256.slice(0, 16)}"`;
  const faults = [...(options.faults ?? [])];
  const nextFault = (): Fault | undefined => {
    if (faults.length === 0 && options.repeatFaults) faults.push(...(options.faults ?? []));
    return faults.shift();
  };
  const timers = new Set<NodeJS.Timeout>();
  const later = (ms: number, fn: () => void) => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
  };
  const requests: RecordedRequest[] = [];
  const sockets = new Set<Socket>();
  const lie = createHash("sha256").update("not the file").digest();
  const chunk = options.chunk ?? 64 * 1024;

  const fileHeaders = (): Record<string, string> => {
    const h: Record<string, string> = {
      "accept-ranges": "bytes",
      "content-type": "image/png",
      "last-modified": new Date(0).toUTCString(),
      "cache-control": "public, max-age=60",
    };
    if ((options.etag ?? "strong") === "strong") h.etag = etag;
    if (options.etag === "weak") h.etag = `W/${etag}`;
    const d = options.digest ?? "true";
    if (d !== "none") {
      const digest = d === "lie" ? lie : Buffer.from(sha256, "hex");
      h["repr-digest"] = `sha-256=:${digest.toString("base64")}:`;
      h["x-pixelrts-sha256"] = digest.toString("hex");
    }
    return h;
  };

  const sendBytes = (res: ServerResponse, from: number, to: number, fault: Fault | undefined) => {
    // `to` is exclusive. Faults with an `at` are absolute file offsets.
    let pos = from;
    if (fault?.kind === "drip") {
      const tick = () => {
        if (res.destroyed) return;
        const end = Math.min(to, pos + fault.bytes);
        res.write(body.subarray(pos, end));
        pos = end;
        if (pos < to) later(fault.everyMs, tick);
        else res.end();
      };
      return tick();
    }
    const source = fault?.kind === "corrupt" ? Buffer.from(body) : body;
    if (fault?.kind === "corrupt") source[fault.at] = source[fault.at]! ^ 0xff;
    const stopAt = fault && "at" in fault && fault.kind !== "corrupt" ? Math.max(from, Math.min(to, fault.at)) : to;
    const pump = () => {
      while (pos < stopAt) {
        const end = Math.min(stopAt, pos + chunk);
        const ok = res.write(source.subarray(pos, end));
        pos = end;
        if (!ok) return void res.once("drain", pump);
      }
      if (!fault || !("at" in fault) || fault.kind === "corrupt" || pos >= to) return void res.end();
      const sock = res.socket;
      if (fault.kind === "hold") return void fault.until.then(() => sendBytes(res, pos, to, undefined));
      if (fault.kind === "reset" || fault.kind === "truncate") {
        const cut = fault.kind === "reset" ? () => sock?.destroy() : () => sock?.end();
        if (fault.after) return void fault.after().then(cut);
        return later(20, cut);
      }
      later(fault.ms, () => sock?.destroy());
    };
    pump();
  };

  const serveFile = (req: IncomingMessage, res: ServerResponse) => {
    const fault = req.method === "GET" ? nextFault() : undefined;
    if (fault?.kind === "status") {
      res.writeHead(fault.status, { "content-type": "application/json", ...(fault.retryAfter ? { "retry-after": fault.retryAfter } : {}) });
      return void res.end(JSON.stringify({ error: { code: "E_FAULT", message: `injected ${fault.status}` } }));
    }
    if (fault?.kind === "html") {
      const page = Buffer.from("<html><body>502 Bad Gateway</body></html>");
      res.writeHead(200, { "content-type": "text/html; charset=utf-8", "content-length": String(page.length) });
      return void res.end(page);
    }
    const headers = fileHeaders();
    const inm = req.headers["if-none-match"];
    if (inm && headers.etag && inm === headers.etag) {
      res.writeHead(304, headers);
      return void res.end();
    }
    const size = body.length;
    const range = req.headers.range;
    const ifRange = req.headers["if-range"];
    const m = range ? /^bytes=(\d+)-(\d*)$/.exec(range) : null;
    const rangeOk = m && fault?.kind !== "ignore-range" && fault?.kind !== "ignore-range-stall" && (!ifRange || ifRange === headers.etag);
    if (rangeOk) {
      const start = Number(m[1]);
      const end = m[2] ? Math.min(Number(m[2]), size - 1) : size - 1;
      if (start >= size) {
        res.writeHead(416, { "content-range": `bytes */${size}` });
        return void res.end();
      }
      const cr = fault?.kind === "bad-content-range" ? `bytes 0-${end}/${size}` : `bytes ${start}-${end}/${size}`;
      const etag206 = fault?.kind === "etag-changed" ? { etag: `"changed-${sha256.slice(0, 8)}"` } : {};
      res.writeHead(206, { ...headers, ...etag206, "content-range": cr, "content-length": String(end - start + 1) });
      if (req.method === "HEAD") return void res.end();
      return sendBytes(res, start, end + 1, fault);
    }
    res.writeHead(200, { ...headers, "content-length": String(size) });
    if (req.method === "HEAD") return void res.end();
    sendBytes(res, 0, size, fault);
  };

  let baseUrl = "";
  const server: Server = createServer((req, res) => {
    const url = req.url ?? "/";
    const record: RecordedRequest = {
      method: req.method ?? "GET",
      url,
      ...(req.headers.range ? { range: req.headers.range } : {}),
      ...(typeof req.headers["if-range"] === "string" ? { ifRange: req.headers["if-range"] } : {}),
      ...(typeof req.headers["if-none-match"] === "string" ? { ifNoneMatch: req.headers["if-none-match"] } : {}),
    };
    requests.push(record);
    const writeHead = res.writeHead.bind(res) as (...a: unknown[]) => ServerResponse;
    res.writeHead = ((status: number, ...rest: unknown[]) => {
      record.status = status;
      return writeHead(status, ...rest);
    }) as typeof res.writeHead;
    const path = url.split("?")[0]!;
    const redirect = redirectTarget(path, id);
    if (redirect) {
      res.writeHead(302, { location: redirect, "content-length": "0" });
      return void res.end();
    }
    if (path === "/api/v1/health") {
      res.writeHead(200, { "content-type": "application/json" });
      return void res.end(JSON.stringify({ status: "ok" }));
    }
    if (path === "/api/v1/catalog") {
      const known = (options.digest ?? "true") !== "none";
      const entry = {
        id,
        name: id,
        path: `/api/v1/containers/${id}`,
        size: body.length,
        kernel_version: null,
        distro: "testdistro",
        architecture: "x86_64",
        visual_description: null,
        detected_objects: [],
        thumbnail: "",
        position: { x: 0, y: 0 },
        sha256: known ? sha256 : null,
        hash: known ? sha256 : null,
        url: `${baseUrl}/api/v1/containers/${id}`,
        blob_url: `${baseUrl}/blobs/sha256/${sha256}`,
        etag,
        type: "boot-bundle",
        ...options.entry,
      };
      res.writeHead(200, { "content-type": "application/json", etag: `"cat-${sha256.slice(0, 8)}"` });
      return void res.end(JSON.stringify({ entries: [entry], grid_dimensions: { width: 2, height: 2 } }));
    }
    if ((req.method === "GET" || req.method === "HEAD") && (path === `/api/v1/containers/${id}` || path === `/blobs/sha256/${sha256}`)) return serveFile(req, res);
    res.writeHead(404, { "content-type": "application/json" });
    res.end(JSON.stringify({ error: { code: "E_NOT_FOUND", message: "no such route" } }));
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: baseUrl,
    sha256,
    etag,
    requests,
    containerRequests: () => requests.filter((r) => (r.url.startsWith("/api/v1/containers/") || r.url.startsWith("/blobs/")) && !r.url.endsWith("/signatures")),
    faults,
    options,
    close: () =>
      new Promise<void>((resolve) => {
        for (const t of timers) clearTimeout(t);
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Where a /r/ route redirects to (undefined: not a redirect route). */
function redirectTarget(path: string, id: string): string | undefined {
  if (path === "/r/ok") return `/api/v1/containers/${id}`;
  if (path === "/r/file") return "file:///etc/passwd";
  if (path === "/r/ftp") return "ftp://127.0.0.1/container.rts.png";
  if (path === "/r/loop-a") return "/r/loop-b";
  if (path === "/r/loop-b") return "/r/loop-a";
  const n = /^\/r\/chain\/(\d+)$/.exec(path);
  return n ? `/r/chain/${Number(n[1]) + 1}` : undefined;
}

/** A valid-looking PNG prefix followed by deterministic pseudo-random bytes (fast to make, not compressible). */
export function makeContainerBytes(size: number, seed = 1): Buffer {
  const buf = Buffer.allocUnsafe(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i + 4 <= size; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    buf.writeUInt32LE(x >>> 0, i);
  }
  for (let i = size - (size % 4); i < size; i++) buf[i] = i & 0xff;
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]).copy(buf, 0);
  return buf;
}
