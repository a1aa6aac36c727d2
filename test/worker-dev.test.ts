/**
 * The Worker's drain rule under real `wrangler dev` (local R2): a request body the Worker does
 * not store (a deduplicated PUT) or refuses after reading part of it (not a PNG) must not break
 * the next request on the same keep-alive connection. Before the fix, the body was cancelled or
 * left half-read, and the next request on that connection got 503 "Your worker restarted
 * mid-request" or hung for 30–100 s. Each PUT here is followed, on the same connection (one
 * undici Client = one socket; the test checks it never reconnected), by a GET that must be
 * answered within 5 s (an AbortSignal: the request fails otherwise).
 */
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "undici";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startWranglerDev, type WranglerDev } from "../scripts/lib/wrangler-dev.mjs";
import { collectBytes, encodeContainer } from "../shared/container/encode.js";
import { buildMetadata } from "../shared/container/metadata.js";

const TOKEN = "dev-drain-token";
const state = mkdtempSync(join(tmpdir(), "pixelrts-worker-dev-"));
let dev: WranglerDev | undefined;
let client: Client;
let connects = 0;
let container: { bytes: Uint8Array; sha256: string };

async function makeContainer(size: number): Promise<{ bytes: Uint8Array; sha256: string }> {
  const payload = new Uint8Array(size).map((_, i) => (i * 7919) >>> 3);
  const enc = await encodeContainer(payload, (ctx) => buildMetadata({ gridSize: ctx.gridSize, caller: new Map([["type", "kernel"]]), dataHash: ctx.dataHash, dataSize: ctx.dataSize }));
  const bytes = await collectBytes(enc.png);
  return { bytes, sha256: createHash("sha256").update(bytes).digest("hex") };
}

function put(name: string, body: Uint8Array, sha256: string) {
  return client.request({
    path: `/api/v1/containers/${name}`,
    method: "PUT",
    body,
    headers: { authorization: `Bearer ${TOKEN}`, "x-pixelrts-sha256": sha256, "content-length": String(body.length) },
    signal: AbortSignal.timeout(30_000),
  });
}

/** The GET that must come back promptly on the same connection. */
async function catalogWithin5s(): Promise<string[]> {
  const res = await client.request({ path: "/api/v1/catalog?thumbnails=0", method: "GET", signal: AbortSignal.timeout(5_000) });
  expect(res.statusCode).toBe(200);
  const body = (await res.body.json()) as { entries: { id: string }[] };
  return body.entries.map((e) => e.id);
}

beforeAll(async () => {
  container = await makeContainer(400_000);
  dev = await startWranglerDev({ stateDir: state, vars: { PUBLISH_TOKEN: TOKEN } });
  client = new Client(dev.url, { pipelining: 1, keepAliveTimeout: 60_000 });
  client.on("connect", () => connects++);
  const first = await put("original", container.bytes, container.sha256);
  expect(first.statusCode).toBe(201);
  await first.body.dump();
}, 90_000);

afterAll(async () => {
  await client?.close();
  await dev?.stop(); // by PID, children first (killTree)
  rmSync(state, { recursive: true, force: true });
});

// Each test stands alone (any one passes with -t): it compares the catalog with what it was
// before its own PUT and counts connections from its own start.
it("a deduplicated PUT (body not stored) is followed on the same connection by a prompt GET", async () => {
  const before = await catalogWithin5s();
  const connectsBefore = connects;
  const res = await put("duplicate", container.bytes, container.sha256);
  expect(before).not.toContain("duplicate");
  expect(res.statusCode).toBe(201);
  expect(((await res.body.json()) as { deduplicated: boolean }).deduplicated).toBe(true);
  expect(await catalogWithin5s()).toEqual([...before, "duplicate"].sort());
  expect(connects).toBe(connectsBefore);
});

it("a non-PNG PUT (refused after reading part of it) is followed on the same connection by a prompt GET", async () => {
  const before = await catalogWithin5s();
  expect(before).toContain("original");
  const connectsBefore = connects;
  const junk = new TextEncoder().encode("this is not a PNG file\n".repeat(50_000)); // ~1.1 MB
  const res = await put("junk", junk, createHash("sha256").update(junk).digest("hex"));
  expect(res.statusCode).toBe(400);
  expect(((await res.body.json()) as { error: { code: string } }).error.code).toBe("E_NOT_PIXELRTS");
  expect(await catalogWithin5s()).toEqual(before); // nothing stored
  expect(connects).toBe(connectsBefore);
});
