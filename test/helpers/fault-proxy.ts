/**
 * A fault-injecting HTTP proxy in front of the real Worker (loopback only). Catalog and other
 * requests pass through untouched; each GET of container bytes consumes the next planned fault,
 * applied to the Worker's real response: a reset, a stall, a slow drip, a truncated body under
 * the full Content-Length, flipped bytes (optionally with digest headers rewritten to match, a
 * consistent liar), a Range request answered with the whole file, a body held back until a
 * promise settles, or a 503 with Retry-After answered by the proxy itself. A plan can repeat
 * forever (`plan(faults, { repeat: true })`): a server that misbehaves the same way every time.
 */
import { createHash } from "node:crypto";
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export type ProxyFault =
  | { kind: "none" }
  /** Send `at` body bytes of this response, then destroy the socket. */
  | { kind: "reset"; at: number }
  /** Send `at` body bytes, go silent for `ms`, then destroy the socket. */
  | { kind: "stall"; at: number; ms: number }
  /** Send every upstream chunk `chunk` bytes at a time, one piece every `everyMs`. */
  | { kind: "drip"; chunk: number; everyMs: number }
  /** Send `at` body bytes under the full Content-Length, then close cleanly (FIN). */
  | { kind: "truncate"; at: number }
  /** Flip the body byte at offset `at` of this response (optionally rewriting the digest headers to match). */
  | { kind: "flip"; at: number; rewriteDigest?: boolean }
  | { kind: "503"; retryAfter: number }
  /** Forward without Range/If-Range (the whole file as 200), then stall at `at` for `ms`. */
  | { kind: "ignore-range-stall"; at: number; ms: number }
  /** Send `at` body bytes, then hold the rest until `until` settles. */
  | { kind: "hold"; at: number; until: Promise<unknown> };

export interface FaultProxy {
  url: string;
  /** One line per container GET: the fault applied and the Range asked. */
  log: string[];
  /** Status codes answered to container GETs, in order (the proxy's own 503s included). */
  statuses: number[];
  plan(faults: ProxyFault[], opts?: { repeat?: boolean }): void;
  /**
   * A complete liar: every other JSON answer (catalogs, entries, signature lists) says `to`
   * wherever the Worker said `from` (a digest), and requests naming `to` are sent upstream as
   * `from` — so a flipped body with rewritten digest headers matches what the catalog claims.
   * `undefined` stops it.
   */
  substitute(sub: { from: string; to: string } | undefined): void;
  close(): Promise<void>;
}

/** A GET of container bytes (not of a catalog or a signature list): the requests faults apply to. */
const isContainerGet = (method: string | undefined, url: string | undefined) => method === "GET" && /^\/(api\/v1\/containers\/[^/]+$|blobs\/sha256\/[0-9a-f]{64}$|api\/v1\/catalog\/[^/]+\/data$|api\/container\/[^/]+\/download$)/.test((url ?? "").split("?")[0]!);

/**
 * `keepHost`: forward the client's Host, so the Worker's catalog names the proxy in its URLs
 * and every request — catalog, bytes, signatures — passes through it, as through a real man in
 * the middle (default: the upstream's Host, so only requests made to the proxy's URL pass it).
 */
export async function startFaultProxy(target: string, opts: { keepHost?: boolean } = {}): Promise<FaultProxy> {
  const upstream = new URL(target);
  let queue: ProxyFault[] = [];
  let cycle: ProxyFault[] | undefined;
  const log: string[] = [];
  const statuses: number[] = [];
  let sub: { from: string; to: string } | undefined;
  const timers = new Set<NodeJS.Timeout>();
  const later = (ms: number, fn: () => void) => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
  };
  const next = (): ProxyFault => {
    if (queue.length === 0 && cycle) queue = [...cycle];
    return queue.shift() ?? { kind: "none" };
  };

  const server: Server = createServer((req, res) => {
    if (sub && req.url) req.url = req.url.split(sub.to).join(sub.from);
    const container = isContainerGet(req.method, req.url);
    const fault: ProxyFault = container ? next() : { kind: "none" };
    if (container) log.push(`${fault.kind}${req.headers.range ? ` (${req.headers.range})` : ""}`);
    if (fault.kind === "503") {
      statuses.push(503);
      res.writeHead(503, { "content-type": "application/json", "retry-after": String(fault.retryAfter) });
      res.end(JSON.stringify({ error: { code: "E_UNAVAILABLE", message: "injected 503" } }));
      return;
    }
    const headers: IncomingHttpHeaders = opts.keepHost ? { ...req.headers } : { ...req.headers, host: upstream.host };
    if (fault.kind === "ignore-range-stall") {
      delete headers.range;
      delete headers["if-range"];
    }
    const up = httpRequest({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers }, (ures) => {
      if (container) statuses.push(ures.statusCode ?? 502);
      const out: IncomingHttpHeaders = { ...ures.headers };
      const lie = sub;
      if (!container && lie && /json/.test(String(out["content-type"] ?? ""))) {
        const parts: Buffer[] = [];
        ures.on("data", (c: Buffer) => parts.push(c));
        ures.on("end", () => {
          delete out["content-length"];
          res.writeHead(ures.statusCode ?? 502, out);
          res.end(Buffer.concat(parts).toString("utf8").split(lie.from).join(lie.to));
        });
        return;
      }
      if (fault.kind === "flip" && fault.rewriteDigest) {
        // Buffer the whole body so the lie can be made consistent with the flipped bytes.
        const parts: Buffer[] = [];
        ures.on("data", (c: Buffer) => parts.push(c));
        ures.on("end", () => {
          const body = Buffer.concat(parts);
          if (fault.at < body.length) body[fault.at] = body[fault.at]! ^ 0xff;
          const hex = createHash("sha256").update(body).digest("hex");
          if (out["x-pixelrts-sha256"]) out["x-pixelrts-sha256"] = hex;
          if (out["repr-digest"]) out["repr-digest"] = `sha-256=:${Buffer.from(hex, "hex").toString("base64")}:`;
          res.writeHead(ures.statusCode ?? 502, out);
          res.end(body);
        });
        return;
      }
      res.writeHead(ures.statusCode ?? 502, out);
      res.on("close", () => ures.destroy());
      let sent = 0;
      ures.on("data", (chunk: Buffer) => {
        const start = sent;
        sent += chunk.length;
        switch (fault.kind) {
          case "reset":
          case "truncate":
          case "stall":
          case "ignore-range-stall":
          case "hold":
            if (sent <= fault.at || start >= fault.at) {
              res.write(chunk); // before the fault, or after a hold was released
              return;
            }
            res.write(chunk.subarray(0, fault.at - start));
            if (fault.kind === "hold") {
              ures.pause();
              void fault.until.then(() => {
                if (res.destroyed) return;
                res.write(chunk.subarray(fault.at - start));
                ures.resume();
              });
              return;
            }
            ures.destroy();
            if (fault.kind === "reset") res.socket?.destroy();
            else if (fault.kind === "truncate") res.socket?.end();
            else later(fault.ms, () => res.socket?.destroy());
            return;
          case "flip": {
            if (fault.at >= start && fault.at < sent) {
              chunk = Buffer.from(chunk);
              chunk[fault.at - start] = chunk[fault.at - start]! ^ 0xff;
            }
            res.write(chunk);
            return;
          }
          case "drip": {
            ures.pause();
            let off = 0;
            const tick = () => {
              if (res.destroyed) return;
              res.write(chunk.subarray(off, off + fault.chunk));
              off += fault.chunk;
              if (off < chunk.length) later(fault.everyMs, tick);
              else ures.resume();
            };
            tick();
            return;
          }
          default:
            res.write(chunk);
        }
      });
      ures.on("end", () => {
        // (a drip or a hold resumes the upstream only after the held bytes went out, so `end` comes after them)
        if (!res.destroyed && !res.writableEnded && (fault.kind === "none" || fault.kind === "flip" || fault.kind === "drip" || fault.kind === "hold")) res.end();
      });
    });
    up.on("error", () => res.socket?.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    log,
    statuses,
    plan: (faults, opts = {}) => {
      queue = [...faults];
      cycle = opts.repeat ? [...faults] : undefined;
    },
    substitute: (s) => {
      sub = s;
    },
    close: async () => {
      for (const t of timers) clearTimeout(t);
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
