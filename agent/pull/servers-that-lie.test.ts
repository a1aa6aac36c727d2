/**
 * Pulls against small loopback servers that misbehave in ways the fault server does not cover:
 * interim 1xx answers forever, digest headers naming another cached container, a body larger than
 * the whole cache, a catalog that lists containers it serves no bytes for, and a plain static
 * server with no digest at all (`--sha256`).
 */
import { createHash } from "node:crypto";
import { createServer, type Server, type ServerResponse } from "node:http";
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import "../../test/helpers/loopback-only.mjs";
import { makeContainerBytes } from "../../test/helpers/fault-server.js";
import { makeTestAgent, type TestAgent } from "../testing/harness.js";
import { ensureCached } from "./ensure.js";

const BODY = makeContainerBytes(300_000, 3);
const SHA = createHash("sha256").update(BODY).digest("hex");
const OTHER = makeContainerBytes(200_000, 4);
const OTHER_SHA = createHash("sha256").update(OTHER).digest("hex");

let t: TestAgent | undefined;
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
  await t?.cleanup();
  t = undefined;
});

async function http(handler: (path: string, res: ServerResponse) => void): Promise<string> {
  const srv: Server = createServer((req, res) => handler(new URL(req.url ?? "/", "http://x").pathname, res));
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  closers.push(() => new Promise((r) => srv.close(() => r())));
  return `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
}

function png(res: ServerResponse, body: Buffer, headers: Record<string, string> = {}) {
  res.writeHead(200, { "content-type": "image/png", "content-length": String(body.length), ...headers });
  res.end(body);
}

const codeOf = (p: Promise<unknown>) => p.then(() => "resolved", (e: { code?: string }) => e.code);

describe("servers that never answer, or answer too much", () => {
  it("interim 1xx answers sent forever do not hold a pull past the headers timeout (E_TIMEOUT)", async () => {
    const sockets: Socket[] = [];
    const tcp: TcpServer = createTcpServer((s) => {
      sockets.push(s);
      s.on("error", () => {});
      const timer = setInterval(() => s.write("HTTP/1.1 103 Early Hints\r\nLink: </x>; rel=preload\r\n\r\n"), 100);
      s.on("close", () => clearInterval(timer));
    });
    await new Promise<void>((r) => tcp.listen(0, "127.0.0.1", r));
    closers.push(async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => tcp.close(() => r()));
    });
    t = await makeTestAgent({ retries: 0, headersTimeoutMs: 500, lowSpeedMs: 0 });
    const url = `http://127.0.0.1:${(tcp.address() as AddressInfo).port}/x.rts.png`;
    await expect(ensureCached(t.agent, url, { sha256: SHA })).rejects.toMatchObject({ code: "E_TIMEOUT", message: expect.stringMatching(/no final response headers within/) });
  });

  it("a body larger than the whole cache budget is refused before it is written (E_TOO_LARGE)", async () => {
    const base = await http((_p, res) => png(res, BODY, { "x-pixelrts-sha256": SHA }));
    t = await makeTestAgent({ retries: 0, cacheMaxBytes: 100_000 });
    await expect(ensureCached(t.agent, `${base}/big.rts.png`)).rejects.toMatchObject({ code: "E_TOO_LARGE" });
    expect(await t.agent.cache.list()).toEqual([]);
  });
});

describe("digests a server merely claims", () => {
  it("headers naming a cached container's digest never stand in for that container", async () => {
    t = await makeTestAgent({ retries: 0 });
    const honest = await http((_p, res) => png(res, OTHER, { "x-pixelrts-sha256": OTHER_SHA }));
    expect((await ensureCached(t.agent, `${honest}/other.rts.png`)).sha256).toBe(OTHER_SHA);
    // another server claims that digest for its own (different) bytes
    const liar = await http((_p, res) => png(res, BODY, { "x-pixelrts-sha256": OTHER_SHA }));
    expect(await codeOf(ensureCached(t.agent, `${liar}/evil.rts.png`))).toBe("E_DIGEST_MISMATCH");
    const cached = await t.agent.cache.get(OTHER_SHA);
    expect(cached!.sources.map((s) => s.url)).toEqual([`${honest}/other.rts.png`]);
  });

  it("a plain static server with no digest: refused, unless the user gives it (--sha256)", async () => {
    t = await makeTestAgent({ retries: 0 });
    const plain = await http((_p, res) => png(res, BODY));
    expect(await codeOf(ensureCached(t.agent, `${plain}/os.rts.png`))).toBe("E_DIGEST_UNKNOWN");
    expect(await codeOf(ensureCached(t.agent, `${plain}/os.rts.png`, { sha256: OTHER_SHA }))).toBe("E_DIGEST_MISMATCH");
    const r = await ensureCached(t.agent, `${plain}/os.rts.png`, { sha256: SHA.toUpperCase() });
    expect(r).toMatchObject({ sha256: SHA, fromCache: false });
    await expect(ensureCached(t.agent, `${plain}/os.rts.png`, { sha256: "abc" })).rejects.toMatchObject({ code: "E_USAGE" });
  });
});

describe("catalogs that list what nobody serves", () => {
  it("an original-style entry (no URL, a path on the server's disk) whose bytes 404 is E_NO_BYTES naming the server", async () => {
    const base = await http((path, res) => {
      if (path === "/api/v1/catalog") {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ entries: [{ id: "a1b2c3", name: "alpine", path: "/srv/pixelrts/alpine.rts.png", size: BODY.length }] }));
        return;
      }
      res.writeHead(404, { "content-type": "application/json" });
      res.end('{"detail":"Not Found"}');
    });
    t = await makeTestAgent({ retries: 0 });
    await t.agent.servers.add({ url: base, name: "original" });
    await expect(ensureCached(t.agent, "alpine")).rejects.toMatchObject({
      code: "E_NO_BYTES",
      message: expect.stringMatching(/^original lists 'a1b2c3' without a download URL .*\/srv\/pixelrts\/alpine\.rts\.png.*serves no bytes/),
    });
  });
});
