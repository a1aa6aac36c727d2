/**
 * The agent's slice of undici (agent/http/undici.ts) is undici's own code, loaded file by file:
 * the same classes as the package's index, and request() with its defaults and errors.
 */
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import * as full from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { undici } from "./undici.js";

let url = "";
const seen: Pick<IncomingMessage, "method" | "url">[] = [];
const server = createServer((req, res) => {
  seen.push({ method: req.method, url: req.url });
  req.resume().on("end", () => res.end("ok"));
});
beforeAll(async () => {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise((r) => server.close(r)));

describe("the undici subset", () => {
  it("is the package's own Agent and redirect interceptor (an upgrade that moves a file fails here first)", () => {
    expect(undici().Agent).toBe(full.Agent);
    expect(undici().interceptors.redirect).toBe(full.interceptors.redirect);
  });

  it("request() sends path and query, defaults the method like undici (GET, or PUT with a body), and accepts URL objects", async () => {
    const dispatcher = new (undici().Agent)();
    try {
      seen.length = 0;
      expect(await (await undici().request(`${url}/a/b?c=1&d=2#frag`, { dispatcher })).body.text()).toBe("ok");
      await (await undici().request(new URL(`${url}/put`), { dispatcher, body: "x" })).body.text();
      await (await undici().request(`${url}/head`, { dispatcher, method: "HEAD" })).body.dump();
      expect(seen).toEqual([
        { method: "GET", url: "/a/b?c=1&d=2" },
        { method: "PUT", url: "/put" },
        { method: "HEAD", url: "/head" },
      ]);
    } finally {
      await dispatcher.close();
    }
  });

  it("refuses a URL that is not http(s) with undici's own error", async () => {
    const dispatcher = new (undici().Agent)();
    try {
      await expect(undici().request("file:///etc/hostname", { dispatcher })).rejects.toBeInstanceOf(full.errors.InvalidArgumentError);
    } finally {
      await dispatcher.close();
    }
  });
});
