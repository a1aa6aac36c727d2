/**
 * Publishing through the real Worker into local R2: accepted containers are served back
 * byte-exact; every rejection leaves the bucket exactly as it was.
 */
import { createExecutionContext } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import app from "../index";
import { allKeys, bearer, call, claimGrid, countingBody, editMetadata, errorCode, filterPng, headEnd, makeContainer, ORIGIN, publish, sha256Hex, TOKEN } from "../test/helpers";

async function expectRejected(res: Response, status: number, code: string, reason?: string) {
  expect(res.status).toBe(status);
  const body = await res.json<{ error: { code: string; message: string; details?: { reason?: string } } }>();
  expect(body.error.code).toBe(code);
  expect(body.error.message).not.toMatch(/\bat .*:\d+:\d+/); // no stack traces
  if (reason) expect(body.error.details?.reason).toBe(reason);
}

describe("PUT /api/v1/containers/{name} rejections leave nothing behind", () => {
  it("rejects a missing token (401 + WWW-Authenticate) and a wrong one (403)", async () => {
    const f = await makeContainer(500);
    const before = await allKeys(env.BUCKET);
    const none = await call("/api/v1/containers/x", { method: "PUT", body: f.bytes, headers: { "x-pixelrts-sha256": f.sha256 } });
    expect(none.headers.get("www-authenticate")).toMatch(/^Bearer/);
    await expectRejected(none, 401, "E_UNAUTHORIZED");
    await expectRejected(await publish("x", f, { authorization: "Bearer wrong-token" }), 403, "E_FORBIDDEN");
    await expectRejected(await publish("x", f, { authorization: "Basic dXNlcjpwdw==" }), 401, "E_UNAUTHORIZED");
    expect(await allKeys(env.BUCKET)).toEqual(before);
  });

  it("GET /api/v1/publish/auth checks a token without a body", async () => {
    expect((await call("/api/v1/publish/auth", { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
    await expectRejected(await call("/api/v1/publish/auth", { headers: { authorization: "Bearer nope" } }), 403, "E_FORBIDDEN");
    await expectRejected(await call("/api/v1/publish/auth"), 401, "E_UNAUTHORIZED");
  });

  it("rejects a non-PNG body", async () => {
    const before = await allKeys(env.BUCKET);
    const bytes = new TextEncoder().encode("#!/bin/sh\necho definitely not a png\n".repeat(10));
    await expectRejected(await publish("notpng", { bytes, sha256: await sha256Hex(bytes) }), 400, "E_NOT_PIXELRTS", "E_NOT_PNG");
    expect(await allKeys(env.BUCKET)).toEqual(before);
  });

  it("rejects a PNG without PixelRTS metadata", async () => {
    const before = await allKeys(env.BUCKET);
    const f = await makeContainer(800);
    const bytes = filterPng(f.bytes, (t) => t !== "tEXt");
    await expectRejected(await publish("plainpng", { bytes, sha256: await sha256Hex(bytes) }), 400, "E_NOT_PIXELRTS", "E_NO_METADATA");
    expect(await allKeys(env.BUCKET)).toEqual(before);
  });

  it("rejects a PNG whose header chunk CRC is broken", async () => {
    const before = await allKeys(env.BUCKET);
    const f = await makeContainer(800);
    const bytes = f.bytes.slice();
    bytes[50] = bytes[50]! ^ 0xff; // inside the tEXt chunk data
    await expectRejected(await publish("badcrc", { bytes, sha256: await sha256Hex(bytes) }), 400, "E_NOT_PIXELRTS", "E_PNG_CRC");
    expect(await allKeys(env.BUCKET)).toEqual(before);
  });

  it("rejects a body whose SHA-256 is not the declared one (R2 verifies; nothing stored)", async () => {
    const before = await allKeys(env.BUCKET);
    const f = await makeContainer(900);
    await expectRejected(await publish("wrongsha", { bytes: f.bytes, sha256: "0".repeat(64) }), 400, "E_DIGEST_MISMATCH");
    const corrupted = f.bytes.slice();
    corrupted[corrupted.length - 20] = corrupted[corrupted.length - 20]! ^ 1; // inside IDAT/IEND: the head still parses
    await expectRejected(await publish("flipped", { bytes: corrupted, sha256: f.sha256 }), 400, "E_DIGEST_MISMATCH");
    expect(await allKeys(env.BUCKET)).toEqual(before);
  });

  it("rejects a missing or malformed digest", async () => {
    const before = await allKeys(env.BUCKET);
    const f = await makeContainer(300);
    const res = await call("/api/v1/containers/nodigest", { method: "PUT", body: f.bytes, headers: bearer });
    await expectRejected(res, 400, "E_DIGEST_REQUIRED");
    await expectRejected(await publish("baddigest", { bytes: f.bytes, sha256: "xyz" }), 400, "E_BAD_DIGEST");
    expect(await allKeys(env.BUCKET)).toEqual(before);
  });

  it("a name of '..' never reaches storage (URL normalisation → no route)", async () => {
    const before = await allKeys(env.BUCKET);
    const f = await makeContainer(300);
    const res = await publish("..", f);
    expect([400, 404]).toContain(res.status);
    await res.arrayBuffer();
    expect(await allKeys(env.BUCKET)).toEqual(before);
  });

  it.each([".hidden", "a%2Fb", "..%2F..%2Fsecret", "bad%01name", "semi%3Bcolon", "sp%20ace", "x".repeat(129), "-dash"])("rejects the name %s", async (name) => {
    const before = await allKeys(env.BUCKET);
    const f = await makeContainer(300);
    const res = await publish(name, f);
    await expectRejected(res, 400, "E_BAD_NAME");
    expect(await allKeys(env.BUCKET)).toEqual(before);
  });

  it("rejects bodies over MAX_UPLOAD_BYTES with E_TOO_LARGE (pointing at multipart)", async () => {
    const before = await allKeys(env.BUCKET);
    const f = await makeContainer(3000);
    const req = new Request(`${ORIGIN}/api/v1/containers/big`, {
      method: "PUT",
      body: f.bytes,
      headers: { ...bearer, "x-pixelrts-sha256": f.sha256, "content-length": String(f.bytes.length) },
    });
    const res = await app.fetch(req, { ...env, MAX_UPLOAD_BYTES: "1000" }, createExecutionContext());
    await expectRejected(res, 413, "E_TOO_LARGE");
    expect(await allKeys(env.BUCKET)).toEqual(before);
  });

  it("503 E_PUBLISH_DISABLED when no PUBLISH_TOKEN is configured", async () => {
    const f = await makeContainer(300);
    const req = new Request(`${ORIGIN}/api/v1/containers/x`, { method: "PUT", body: f.bytes, headers: { ...bearer, "x-pixelrts-sha256": f.sha256 } });
    const res = await app.fetch(req, { ...env, PUBLISH_TOKEN: "" }, createExecutionContext());
    await expectRejected(res, 503, "E_PUBLISH_DISABLED");
  });
});

describe("accepting, deduplicating, deleting", () => {
  it("stores a good container, serves it byte-exact, lists it, and records its catalog fields", async () => {
    const f = await makeContainer(2000, { type: "boot-bundle", name: "alpine", version: "3.19", description: "Alpine Linux test image" });
    const res = await publish("alpine-3.19", f, { "x-pixelrts-distro": "alpine", "x-pixelrts-arch": "x86_64", "x-pixelrts-kernel-version": "6.1.0" });
    expect(res.status).toBe(201);
    const entry = await res.json<Record<string, unknown>>();
    expect(entry).toMatchObject({
      id: "alpine-3.19",
      name: "alpine-3.19",
      size: f.bytes.length,
      hash: f.sha256,
      sha256: f.sha256,
      data_hash: f.dataHash,
      data_size: 2000,
      type: "boot-bundle",
      distro: "alpine",
      architecture: "x86_64",
      kernel_version: "6.1.0",
      description: "Alpine Linux test image",
      content_version: "3.19",
      url: `${ORIGIN}/api/v1/containers/alpine-3.19`,
      blob_url: `${ORIGIN}/blobs/sha256/${f.sha256}`,
      deduplicated: false,
    });
    expect(entry.hash).not.toBe(entry.data_hash);
    const get = await call("/api/v1/containers/alpine-3.19");
    expect(await sha256Hex(await get.arrayBuffer())).toBe(f.sha256);
    const cat = await (await call("/api/v1/catalog")).json<{ entries: { id: string }[] }>();
    expect(cat.entries.map((e) => e.id)).toContain("alpine-3.19");
  });

  it("accepts Repr-Digest instead of X-PixelRTS-SHA256, and `.rts.png` on the name", async () => {
    const f = await makeContainer(700, { type: "kernel", name: "k" }, 7);
    const b64 = btoa(String.fromCharCode(...f.bytes.length ? (await crypto.subtle.digest("SHA-256", f.bytes).then((d) => [...new Uint8Array(d)])) : []));
    const res = await call("/api/v1/containers/reprdigest.rts.png", { method: "PUT", body: f.bytes, headers: { ...bearer, "repr-digest": `sha-256=:${b64}:`, "content-length": String(f.bytes.length) } });
    expect(res.status).toBe(201);
    expect((await res.json<{ id: string }>()).id).toBe("reprdigest");
  });

  it("reuses an existing blob for a second name, and DELETE keeps it until the last name goes", async () => {
    const f = await makeContainer(1200, { type: "kernel", name: "shared" }, 9);
    expect((await publish("shared-a", f)).status).toBe(201);
    const second = await publish("shared-b", f);
    expect(second.status).toBe(201);
    expect((await second.json<{ deduplicated: boolean }>()).deduplicated).toBe(true);
    const again = await publish("shared-b", f);
    expect(again.status).toBe(200);
    await again.arrayBuffer();

    const del = await call("/api/v1/containers/shared-a", { method: "DELETE", headers: bearer });
    expect(del.status).toBe(200);
    expect(await del.json()).toEqual({ deleted: "shared-a", sha256: f.sha256 });
    expect((await call("/api/v1/containers/shared-a")).status).toBe(404);
    const b = await call("/api/v1/containers/shared-b");
    expect(await sha256Hex(await b.arrayBuffer())).toBe(f.sha256);

    expect((await call("/api/v1/containers/shared-b", { method: "DELETE", headers: bearer })).status).toBe(200);
    // the bytes and refs are gone; what stays is the dead register and the name's tombstone
    const keys = await allKeys(env.BUCKET);
    expect(keys.filter((k) => k.includes(f.sha256))).toEqual([`verified/${f.sha256}`]);
    expect((await env.BUCKET.head(`verified/${f.sha256}`))?.customMetadata).toEqual({ v: "1", state: "dead", life: "1" });
    expect((await env.BUCKET.head("containers/shared-b"))?.customMetadata).toEqual({ v: "1", state: "deleted", seq: "3" }); // created, republished, deleted
    expect((await call(`/blobs/sha256/${f.sha256}`)).status).toBe(404);
    expect((await call("/api/v1/catalog/shared-b")).status).toBe(404);
    expect(await errorCode(await call("/api/v1/containers/shared-b", { method: "DELETE", headers: bearer }))).toBe("E_NOT_FOUND");
    expect((await call("/api/v1/containers/shared-b", { method: "DELETE" })).status).toBe(401);
  });

  it("keeps R2 custom metadata under 8 KiB even for huge metadata", async () => {
    const segments = new Map(
      Array.from({ length: 60 }, (_, i) => [`segment-with-a-long-name-${i}`, new Map<string, string | number>([["type", "blob"], ["size", 1000 + i], ["sha256", "ab".repeat(32)]])] as const),
    );
    const f = await makeContainer(1500, { type: "os", name: "fat", description: "d".repeat(5000), segments }, 11);
    const res = await publish("fat", f);
    expect(res.status).toBe(201);
    const [blob] = (await env.BUCKET.list({ prefix: `blobs/sha256/${f.sha256}/` })).objects;
    for (const key of ["containers/fat", `verified/${f.sha256}`, blob!.key]) {
      const obj = await env.BUCKET.head(key);
      const bytes = Object.entries(obj!.customMetadata!).reduce((n, [k, v]) => n + new TextEncoder().encode(k + v).length, 0);
      expect(bytes).toBeLessThan(2048); // Miniflare's customMetadata cap (R2's is 8 KiB)
    }
    const entry = await (await call("/api/v1/catalog/fat")).json<{ sha256: string; segments: unknown[] }>();
    expect(entry.sha256).toBe(f.sha256);
  });

  it("thumbnails: PNG only, served beside the container and inlined in the catalog", async () => {
    const f = await makeContainer(600, { type: "kernel", name: "thumbed" }, 12);
    expect((await publish("thumbed", f)).status).toBe(201);
    const thumb = (await makeContainer(16, { type: "x" }, 13)).bytes; // any valid PNG will do
    const bad = await call("/api/v1/containers/thumbed/thumbnail", { method: "PUT", body: "GIF89a....", headers: bearer });
    expect(bad.status).toBe(415);
    await bad.arrayBuffer();
    const noAuth = await call("/api/v1/containers/thumbed/thumbnail", { method: "PUT", body: thumb });
    expect(noAuth.status).toBe(401);
    await noAuth.arrayBuffer();
    const put = await call("/api/v1/containers/thumbed/thumbnail", { method: "PUT", body: thumb, headers: bearer });
    expect(put.status).toBe(201);
    await put.arrayBuffer();
    const got = await call("/api/v1/containers/thumbed/thumbnail");
    expect(got.headers.get("content-type")).toBe("image/png");
    expect(await sha256Hex(await got.arrayBuffer())).toBe(await sha256Hex(thumb));
    const entry = await (await call("/api/v1/catalog/thumbed")).json<{ thumbnail: string; thumbnail_url: string }>();
    expect(entry.thumbnail_url).toBe(`${ORIGIN}/api/v1/containers/thumbed/thumbnail`);
    expect(await sha256Hex(Uint8Array.from(atob(entry.thumbnail), (c) => c.charCodeAt(0)))).toBe(await sha256Hex(thumb));
    const listed = await (await call("/api/v1/catalog?q=thumbed")).json<{ entries: { thumbnail: string }[] }>();
    expect(listed.entries[0]!.thumbnail).toBe(entry.thumbnail);
    const light = await (await call("/api/v1/catalog?q=thumbed&thumbnails=0")).json<{ entries: { thumbnail: string }[] }>();
    expect(light.entries[0]!.thumbnail).toBe("");
  });

  it("republishing a name keeps its thumbnail (new bytes, and the same bytes deduplicated)", async () => {
    const v1 = await makeContainer(600, { type: "kernel", name: "keepthumb" }, 14);
    const v2 = await makeContainer(700, { type: "kernel", name: "keepthumb" }, 15);
    const thumb = (await makeContainer(16, { type: "x" }, 16)).bytes;
    expect((await publish("keepthumb", v1)).status).toBe(201);
    const put = await call("/api/v1/containers/keepthumb/thumbnail", { method: "PUT", body: thumb, headers: bearer });
    expect(put.status).toBe(201);
    await put.arrayBuffer();
    for (const [f, deduplicated] of [[v2, false], [v1, false], [v1, true]] as const) {
      const res = await publish("keepthumb", f);
      expect(res.status).toBe(200);
      expect((await res.json<{ deduplicated: boolean }>()).deduplicated).toBe(deduplicated);
      const got = await call("/api/v1/containers/keepthumb/thumbnail");
      expect(got.status).toBe(200);
      expect(await sha256Hex(await got.arrayBuffer())).toBe(await sha256Hex(thumb));
      const entry = await (await call("/api/v1/catalog/keepthumb")).json<{ sha256: string; thumbnail: string }>();
      expect(entry.sha256).toBe(f.sha256);
      expect(await sha256Hex(Uint8Array.from(atob(entry.thumbnail), (c) => c.charCodeAt(0)))).toBe(await sha256Hex(thumb));
    }
    expect((await env.BUCKET.list({ prefix: "thumbnails/keepthumb/" })).objects).toHaveLength(1);
  });
});

describe("the head must agree with the image (regression)", () => {
  it.each<[string, (md: Record<string, unknown>) => void]>([
    ["grid_size other than the image side", (md) => (md.grid_size = 99999)],
    ["data_size over what the pixels hold", (md) => (md.data_size = 999999999999)],
    ["encoded_size over what the pixels hold", (md) => (md.encoded_size = 1_000_000)],
    // code mode (spec §3.3): the stored bytes are in original_data_b64, bounded by its length
    ["an empty original_data_b64 (it used to exempt any data_size)", (md) => Object.assign(md, { data_size: 999999999999, original_data_b64: "" })],
    ["data_size over what original_data_b64 holds", (md) => (md.original_data_b64 = "AAAA")], // 3 bytes, data_size 600
    ["encoded_size over what a compressed original_data_b64 holds", (md) => Object.assign(md, { compression: { type: "zlib" }, encoded_size: 601, original_data_b64: "A".repeat(800) })],
  ])("refuses %s with E_NOT_PIXELRTS / E_METADATA_INVALID, storing nothing", async (_, edit) => {
    const f = await makeContainer(600, { type: "kernel", name: "liar" }, 31);
    const bytes = editMetadata(f.bytes, edit);
    const before = await allKeys(env.BUCKET);
    await expectRejected(await publish("liar", { bytes, sha256: await sha256Hex(bytes) }), 400, "E_NOT_PIXELRTS", "E_METADATA_INVALID");
    expect(await allKeys(env.BUCKET)).toEqual(before);
  });

  it("refuses a grid over MAX_GRID with 413 E_TOO_LARGE, by PUT and by multipart create, storing nothing", async () => {
    const f = await makeContainer(600, { type: "kernel", name: "huge" }, 37);
    const bytes = claimGrid(f.bytes, 16384);
    const sha256 = await sha256Hex(bytes);
    const vars = { ...env, MAX_GRID: "8192" };
    const before = await allKeys(env.BUCKET);
    const put = new Request(`${ORIGIN}/api/v1/containers/huge`, { method: "PUT", body: bytes, headers: { ...bearer, "x-pixelrts-sha256": sha256, "content-length": String(bytes.length) } });
    const res = await app.fetch(put, vars, createExecutionContext());
    expect(res.status).toBe(413);
    const body = await res.json<{ error: { code: string; message: string; details: Record<string, unknown> } }>();
    expect(body.error).toMatchObject({ code: "E_TOO_LARGE", details: { grid: 16384, max_grid: 8192 } });
    expect(body.error.message).toMatch(/16384x16384 is over the 8192x8192 limit/);
    const create = () =>
      new Request(`${ORIGIN}/api/v1/containers/huge/uploads`, {
        method: "POST",
        body: bytes.subarray(0, headEnd(bytes)),
        headers: { ...bearer, "x-pixelrts-sha256": sha256, "x-pixelrts-size": String(bytes.length) },
      });
    await expectRejected(await app.fetch(create(), vars, createExecutionContext()), 413, "E_TOO_LARGE");
    expect(await allKeys(env.BUCKET)).toEqual(before);
    // the same head under the default limit (32768) gets past the grid check
    const ok = await app.fetch(create(), env, createExecutionContext());
    expect(ok.status).toBe(201);
    const { upload_id } = await ok.json<{ upload_id: string }>();
    expect((await call(`/api/v1/containers/huge/uploads/${upload_id}`, { method: "DELETE", headers: bearer })).status).toBeLessThan(300);
  });

  it("refuses a deduplicated publish of bytes stored under a higher MAX_GRID (PUT and multipart create)", async () => {
    const f = await makeContainer(600, { type: "kernel", name: "huge2" }, 38);
    const bytes = claimGrid(f.bytes, 16384);
    const sha256 = await sha256Hex(bytes);
    expect((await publish("huge-then", { bytes, sha256 })).status).toBe(201); // the default limit takes it
    const lowered = { ...env, MAX_GRID: "8192" };
    const put = new Request(`${ORIGIN}/api/v1/containers/huge-now`, { method: "PUT", body: bytes, headers: { ...bearer, "x-pixelrts-sha256": sha256, "content-length": String(bytes.length) } });
    await expectRejected(await app.fetch(put, lowered, createExecutionContext()), 413, "E_TOO_LARGE");
    const create = new Request(`${ORIGIN}/api/v1/containers/huge-now/uploads`, {
      method: "POST",
      body: bytes.subarray(0, headEnd(bytes)),
      headers: { ...bearer, "x-pixelrts-sha256": sha256, "x-pixelrts-size": String(bytes.length) },
    });
    await expectRejected(await app.fetch(create, lowered, createExecutionContext()), 413, "E_TOO_LARGE");
    expect((await call("/api/v1/catalog/huge-now")).status).toBe(404);
    expect((await call("/api/v1/catalog/huge-then")).status).toBe(200);
  });

  it("refuses a PNG with no image data at all (no IDAT)", async () => {
    const f = await makeContainer(600, { type: "kernel", name: "empty" }, 32);
    const bytes = filterPng(f.bytes, (t) => t !== "IDAT");
    await expectRejected(await publish("noidat", { bytes, sha256: await sha256Hex(bytes) }), 400, "E_NOT_PIXELRTS", "E_METADATA_INVALID");
    expect((await call("/api/v1/containers/noidat")).status).toBe(404);
  });

  it("accepts a head that agrees (grid_size = image side, sizes that fit)", async () => {
    const f = await makeContainer(600, { type: "kernel", name: "honest" }, 33);
    expect((await publish("agrees", f)).status).toBe(201);
  });

  it("accepts code-mode heads whose original_data_b64 holds the stored bytes (data_size after decompression may exceed it)", async () => {
    const f = await makeContainer(600, { type: "kernel", name: "code" }, 36);
    const b64 = (n: number) => btoa(String.fromCharCode(...new Uint8Array(n)));
    const cases: [string, (md: Record<string, unknown>) => void][] = [
      ["code-plain", (md) => (md.original_data_b64 = b64(600))], // 800 characters hold exactly data_size 600
      ["code-zlib", (md) => Object.assign(md, { compression: { type: "zlib" }, encoded_size: 500, original_data_b64: b64(500) })],
    ];
    for (const [name, edit] of cases) {
      const bytes = editMetadata(f.bytes, edit);
      const res = await publish(name, { bytes, sha256: await sha256Hex(bytes) });
      expect(res.status, name).toBe(201);
      await res.arrayBuffer();
      const head = await call(`/api/v1/containers/${name}`, { method: "HEAD" });
      expect(head.headers.get("x-pixelrts-data-size"), name).toBe("600");
    }
  });
});

/** A PUT whose body is a counting stream (with Content-Length, as real clients send). */
function putStream(name: string, first: Uint8Array, total: number, sha256: string, headers: Record<string, string> = bearer) {
  const body = countingBody(first, total);
  const req = new Request(`${ORIGIN}/api/v1/containers/${name}`, {
    method: "PUT",
    body: body.stream,
    headers: { ...headers, "x-pixelrts-sha256": sha256, "content-length": String(total) },
  });
  return { res: app.fetch(req, env, createExecutionContext()), state: body.state };
}

describe("request bodies are read to the end, never cancelled (drain rule)", () => {
  it("a deduplicated PUT drains the body it does not store", async () => {
    const f = await makeContainer(200_000, { type: "kernel", name: "dup" }, 34);
    expect((await publish("drain-first", f)).status).toBe(201);
    const { res, state } = putStream("drain-dup", f.bytes, f.bytes.length, f.sha256);
    const r = await res;
    expect(r.status).toBe(201);
    expect((await r.json<{ deduplicated: boolean }>()).deduplicated).toBe(true);
    expect(state).toMatchObject({ pulled: f.bytes.length, done: true, cancelled: false });
  });

  it("a refused PUT (not a PNG; no token) drains the body too", async () => {
    const text = new TextEncoder().encode("definitely not a PNG\n".repeat(100));
    for (const headers of [bearer, {}]) {
      const { res, state } = putStream("drain-refused", text, 1024 * 1024, "00".repeat(32), headers);
      const r = await res;
      expect([400, 401]).toContain(r.status);
      await r.arrayBuffer();
      expect(state).toMatchObject({ pulled: 1024 * 1024, done: true, cancelled: false });
    }
  });

  it("a thumbnail streamed past its cap is refused with 413 without being read whole", async () => {
    const f = await makeContainer(600, { type: "kernel", name: "bigthumb" }, 35);
    expect((await publish("bigthumb", f)).status).toBe(201);
    const body = countingBody(f.bytes.subarray(0, 8), 20 * 1024 * 1024); // a PNG signature, then 20 MiB, no Content-Length
    const req = new Request(`${ORIGIN}/api/v1/containers/bigthumb/thumbnail`, { method: "PUT", body: body.stream, headers: bearer });
    const res = await app.fetch(req, { ...env, MAX_UPLOAD_BYTES: "1000000" }, createExecutionContext()); // drain at most 1 MB
    await expectRejected(res, 413, "E_TOO_LARGE");
    expect(body.state.cancelled).toBe(true);
    expect(body.state.pulled).toBeLessThan(256 * 1024 + 1_000_000 + 256 * 1024);
    expect((await call("/api/v1/catalog/bigthumb")).status).toBe(200);
    expect((await env.BUCKET.list({ prefix: "thumbnails/bigthumb/" })).objects).toEqual([]);
  });
});

it("exports.default is the app the routes are mounted on", async () => {
  const viaExports = await exports.default.fetch("http://edge.test/api/v1/publish/auth", { headers: { authorization: `Bearer ${TOKEN}` } });
  const viaApp = await app.request("/api/v1/publish/auth", { headers: { authorization: `Bearer ${TOKEN}` } }, env);
  expect([viaExports.status, viaApp.status]).toEqual([200, 200]);
});
