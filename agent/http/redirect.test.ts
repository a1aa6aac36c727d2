/**
 * Redirects, through the agent's real HTTP client against a loopback server: followed when they
 * stay on http(s) and end; a redirect to any other scheme is E_BAD_URL, a loop or an endless
 * chain is E_TOO_MANY_REDIRECTS. Neither is retried.
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import "../../test/helpers/loopback-only.mjs";
import { makeContainerBytes, startFaultServer, type FaultServer } from "../../test/helpers/fault-server.js";
import { ensureCached } from "../pull/ensure.js";
import { downloadVerified } from "../pull/download.js";
import { makeTestAgent, type TestAgent } from "../testing/harness.js";
import { getJson } from "./json.js";

const BODY = makeContainerBytes(200_000, 3);
const SHA = createHash("sha256").update(BODY).digest("hex");
let srv: FaultServer;
let t: TestAgent;

beforeAll(async () => {
  srv = await startFaultServer({ body: BODY, id: "tiny" });
  // retries would hide a wrongly retryable code: allow some, and count them
  t = await makeTestAgent({ retries: 2 });
});
afterAll(async () => {
  await t?.cleanup();
  await srv?.close();
});

const codeOf = (p: Promise<unknown>) => p.then(() => "resolved", (e: { code?: string }) => e.code);
const hits = (prefix: string) => srv.requests.filter((r) => r.url.startsWith(prefix)).length;

describe("redirects", () => {
  it("an ordinary redirect is followed and the bytes verified", async () => {
    const r = await ensureCached(t.agent, `${srv.url}/r/ok`, { emit: t.emit });
    expect(createHash("sha256").update(await readFile(r.path)).digest("hex")).toBe(SHA);
  });

  it.each(["/r/file", "/r/ftp"])("a redirect to a non-http(s) scheme (%s) is E_BAD_URL, not retried", async (path) => {
    const before = hits(path);
    const err = await ensureCached(t.agent, `${srv.url}${path}`, { emit: t.emit }).catch((e) => e);
    expect(err.code).toBe("E_BAD_URL");
    expect(err.message).toMatch(/redirect/);
    expect(hits(path) - before).toBe(1);
    expect(await codeOf(getJson(t.agent.http, `${srv.url}${path}`, { timeoutMs: 3000 }))).toBe("E_BAD_URL");
  });

  it("a redirect loop is E_TOO_MANY_REDIRECTS, not retried", async () => {
    const before = hits("/r/loop-");
    const err = await ensureCached(t.agent, `${srv.url}/r/loop-a`).catch((e) => e);
    expect(err.code).toBe("E_TOO_MANY_REDIRECTS");
    expect(err.message).toMatch(/loop/);
    expect(hits("/r/loop-") - before).toBe(2);
    expect(await codeOf(getJson(t.agent.http, `${srv.url}/r/loop-a`, { timeoutMs: 3000 }))).toBe("E_TOO_MANY_REDIRECTS");
  });

  it("an endless redirect chain is E_TOO_MANY_REDIRECTS after 5 redirects, not retried", async () => {
    const before = hits("/r/chain/");
    const err = await ensureCached(t.agent, `${srv.url}/r/chain/0`).catch((e) => e);
    expect(err.code).toBe("E_TOO_MANY_REDIRECTS");
    expect(err.message).toMatch(/more than 5 redirects/);
    expect(hits("/r/chain/") - before).toBe(6);
    expect(await codeOf(getJson(t.agent.http, `${srv.url}/r/chain/100`, { timeoutMs: 3000 }))).toBe("E_TOO_MANY_REDIRECTS");
  });

  it("a download URL that is not http(s) (e.g. from a catalog entry) is E_BAD_URL", async () => {
    const target = { url: "file:///etc/passwd", ref: "x", expectedSha256: SHA };
    expect(await codeOf(downloadVerified(target, { http: t.agent.http, cache: t.agent.cache, settings: t.agent.settings, emit: () => {} }))).toBe("E_BAD_URL");
    expect(await codeOf(getJson(t.agent.http, "file:///etc/passwd", { timeoutMs: 3000 }))).toBe("E_BAD_URL");
  });
});
