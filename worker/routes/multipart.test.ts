/**
 * Multipart publishing (for containers over the single-request limit) against local R2:
 * create (head validated) → parts → complete (size, head and SHA-256 re-checked) → entry.
 */
import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import app from "../index";
import { allKeys, bearer, call, countingBody, editMetadata, filterPng, type Fixture, headEnd, makeContainer, ORIGIN, sha256Hex } from "../test/helpers";

const MiB = 1024 * 1024;
let big: Fixture;

beforeAll(async () => {
  big = await makeContainer(5 * MiB + 300_000, { type: "os", name: "bigdisk" }, 77); // > one 5 MiB part
}, 60_000);

async function create(name: string, f: Fixture, sha = f.sha256, headBytes = 4096, size = f.bytes.length) {
  return call(`/api/v1/containers/${name}/uploads`, {
    method: "POST",
    body: f.bytes.slice(0, headBytes),
    headers: { ...bearer, "x-pixelrts-sha256": sha, "x-pixelrts-size": String(size) },
  });
}

/** create (with `head` as the body) → one part (`file`) → complete; returns the complete response. */
async function uploadOnePart(name: string, head: Uint8Array, file: Uint8Array): Promise<Response> {
  const sha = await sha256Hex(file);
  const created = await call(`/api/v1/containers/${name}/uploads`, {
    method: "POST",
    body: head,
    headers: { ...bearer, "x-pixelrts-sha256": sha, "x-pixelrts-size": String(file.length) },
  });
  expect(created.status).toBe(201);
  const { upload_id } = await created.json<{ upload_id: string }>();
  const part = await call(`/api/v1/containers/${name}/uploads/${upload_id}/parts/1`, { method: "PUT", body: file, headers: { ...bearer, "content-length": String(file.length) } });
  expect(part.status).toBe(200);
  const parts = [await part.json<{ part_number: number; etag: string }>()];
  return call(`/api/v1/containers/${name}/uploads/${upload_id}/complete`, { method: "POST", body: JSON.stringify({ parts }), headers: bearer });
}

async function uploadAll(name: string, uploadId: string, bytes: Uint8Array) {
  const parts: { part_number: number; etag: string }[] = [];
  for (let off = 0, n = 1; off < bytes.length; off += 5 * MiB, n++) {
    const chunk = bytes.slice(off, Math.min(off + 5 * MiB, bytes.length));
    const res = await call(`/api/v1/containers/${name}/uploads/${uploadId}/parts/${n}`, { method: "PUT", body: chunk, headers: { ...bearer, "content-length": String(chunk.length) } });
    expect(res.status).toBe(200);
    parts.push(await res.json());
  }
  return parts;
}

describe("multipart upload", () => {
  it("create → parts → complete publishes a verified entry served byte-exact", async () => {
    const res = await create("bigdisk", big);
    expect(res.status).toBe(201);
    const up = await res.json<{ upload_id: string; part_size_min: number }>();
    expect(up.part_size_min).toBe(5 * MiB);
    const parts = await uploadAll("bigdisk", up.upload_id, big.bytes);
    expect(parts).toHaveLength(2);
    // not in the catalog, not served, until completed and verified
    expect((await call("/api/v1/containers/bigdisk")).status).toBe(404);
    const done = await call(`/api/v1/containers/bigdisk/uploads/${up.upload_id}/complete`, { method: "POST", body: JSON.stringify({ parts }), headers: bearer });
    expect(done.status).toBe(201);
    expect(await done.json()).toMatchObject({ id: "bigdisk", sha256: big.sha256, size: big.bytes.length, type: "os" });
    const get = await call("/api/v1/containers/bigdisk");
    expect(get.headers.get("x-pixelrts-sha256")).toBe(big.sha256);
    expect(get.headers.get("etag")).toMatch(/^"/);
    expect(await sha256Hex(await get.arrayBuffer())).toBe(big.sha256);
    const range = await call(`/blobs/sha256/${big.sha256}`, { headers: { range: "bytes=-10" } });
    expect(range.status).toBe(206);
    expect(await sha256Hex(await range.arrayBuffer())).toBe(await sha256Hex(big.bytes.slice(-10)));
  }, 60_000);

  it("a second create for the same file needs no upload (deduplicated)", async () => {
    const small = await makeContainer(3000, { type: "os", name: "dedupe" }, 81);
    expect((await uploadOnePart("dedupe-first", small.bytes.slice(0, 4096), small.bytes)).status).toBe(201);
    const res = await create("dedupe-again", small);
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({ id: "dedupe-again", deduplicated: true, sha256: small.sha256 });
  });

  it("an upload claiming a published SHA-256 with another size is refused and the blob survives (regression)", async () => {
    const real = await makeContainer(3000, { type: "os", name: "victim" }, 82);
    expect((await uploadOnePart("victim", real.bytes.slice(0, 4096), real.bytes)).status).toBe(201);
    const res = await create("hijack", real, real.sha256, 4096, real.bytes.length + 1);
    expect(res.status).toBe(409);
    expect(await res.json()).toMatchObject({ error: { code: "E_CONFLICT" } });
    const get = await call("/api/v1/containers/victim");
    expect(get.status).toBe(200);
    expect(await sha256Hex(await get.arrayBuffer())).toBe(real.sha256);
  });

  it("complete with a wrong declared SHA-256 deletes the object and leaves no entry", async () => {
    const other = await makeContainer(5 * MiB + 1000, { type: "os", name: "liar" }, 78);
    const before = await allKeys(env.BUCKET);
    const res = await create("liar", other, "12".repeat(32));
    expect(res.status).toBe(201);
    const up = await res.json<{ upload_id: string }>();
    const parts = await uploadAll("liar", up.upload_id, other.bytes);
    const done = await call(`/api/v1/containers/liar/uploads/${up.upload_id}/complete`, { method: "POST", body: JSON.stringify({ parts }), headers: bearer });
    expect(done.status).toBe(400);
    expect(await done.json()).toMatchObject({ error: { code: "E_DIGEST_MISMATCH" } });
    expect(await allKeys(env.BUCKET)).toEqual(before);
  }, 60_000);

  it("create validates the head and the request", async () => {
    const notPng = await call("/api/v1/containers/x/uploads", { method: "POST", body: "hello, this is not a PNG file at all", headers: { ...bearer, "x-pixelrts-sha256": "00".repeat(32), "x-pixelrts-size": "100" } });
    expect(notPng.status).toBe(400);
    expect(await notPng.json()).toMatchObject({ error: { code: "E_NOT_PIXELRTS", details: { reason: "E_NOT_PNG" } } });
    const fresh = await makeContainer(3000, { type: "kernel", name: "short" }, 80);
    const short = await create("short", fresh, fresh.sha256, 20);
    expect(short.status).toBe(400);
    expect(await short.json()).toMatchObject({ error: { code: "E_HEAD_INCOMPLETE" } });
    const noSize = await call("/api/v1/containers/x/uploads", { method: "POST", body: big.bytes.slice(0, 4096), headers: { ...bearer, "x-pixelrts-sha256": big.sha256 } });
    expect(noSize.status).toBe(400);
    await noSize.arrayBuffer();
    const noAuth = await call("/api/v1/containers/x/uploads", { method: "POST", body: big.bytes.slice(0, 4096) });
    expect(noAuth.status).toBe(401);
    await noAuth.arrayBuffer();
    const badId = await call("/api/v1/containers/x/uploads/nonsense/parts/1", { method: "PUT", body: "x", headers: bearer });
    expect(badId.status).toBe(400);
    await badId.arrayBuffer();
  });

  it("complete refuses a file whose head differs from the head sent at create, even with the same payload (regression)", async () => {
    // same payload, type and sizes; only the description differs, so only the head bytes tell them apart
    const declared = await makeContainer(3000, { type: "kernel", name: "twin", description: "the head that was checked" }, 90);
    const stored = await makeContainer(3000, { type: "kernel", name: "twin", description: "another head entirely" }, 90);
    const before = await allKeys(env.BUCKET);
    const res = await uploadOnePart("twin", declared.bytes.slice(0, headEnd(declared.bytes)), stored.bytes);
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { code: "E_NOT_PIXELRTS", details: { reason: "E_HEAD_MISMATCH" } } });
    expect(await allKeys(env.BUCKET)).toEqual(before); // the upload's object is deleted, no entry
  });

  it("complete refuses a stored file with the create-time head but no image data (regression)", async () => {
    const f = await makeContainer(3000, { type: "kernel", name: "noidat" }, 91);
    const res = await uploadOnePart("noidat", f.bytes.slice(0, headEnd(f.bytes)), filterPng(f.bytes, (t) => t !== "IDAT"));
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { code: "E_NOT_PIXELRTS", details: { reason: "E_METADATA_INVALID" } } });
    expect((await call("/api/v1/containers/noidat")).status).toBe(404);
  });

  it.each<[string, (md: Record<string, unknown>) => void]>([
    ["grid_size", (md) => (md.grid_size = 99999)],
    ["data_size", (md) => (md.data_size = 999999999999)],
    ["empty original_data_b64", (md) => Object.assign(md, { data_size: 999999999999, original_data_b64: "" })],
  ])("create refuses a head whose %s contradicts the image (regression)", async (_, edit) => {
    const f = await makeContainer(3000, { type: "kernel", name: "contradicts" }, 92);
    const bytes = editMetadata(f.bytes, edit);
    const res = await create("contradicts", { ...f, bytes, sha256: await sha256Hex(bytes) });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { code: "E_NOT_PIXELRTS", details: { reason: "E_METADATA_INVALID" } } });
  });

  it("create refuses a chunked head past 8 MiB with 413, without reading it whole (regression)", async () => {
    const f = await makeContainer(3000, { type: "kernel", name: "hugehead" }, 93);
    const body = countingBody(f.bytes, 20 * 1024 * 1024); // a real head, then zeros; no Content-Length
    const req = new Request(`${ORIGIN}/api/v1/containers/hugehead/uploads`, {
      method: "POST",
      body: body.stream,
      headers: { ...bearer, "x-pixelrts-sha256": f.sha256, "x-pixelrts-size": String(30 * 1024 * 1024) },
    });
    const res = await app.fetch(req, { ...env, MAX_UPLOAD_BYTES: "1000000" }, createExecutionContext()); // drain at most 1 MB
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ error: { code: "E_TOO_LARGE" } });
    expect(body.state.cancelled).toBe(true);
    expect(body.state.pulled).toBeLessThan(8 * 1024 * 1024 + 1_000_000 + 256 * 1024);
  });

  it("abort drops the upload", async () => {
    const small = await makeContainer(3000, { type: "kernel", name: "abortme" }, 79);
    const up = await (await create("abortme", small)).json<{ upload_id: string }>();
    const res = await call(`/api/v1/containers/abortme/uploads/${up.upload_id}`, { method: "DELETE", headers: bearer });
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    const part = await call(`/api/v1/containers/abortme/uploads/${up.upload_id}/parts/1`, { method: "PUT", body: small.bytes, headers: { ...bearer, "content-length": String(small.bytes.length) } });
    expect(part.status).toBe(400);
    await part.arrayBuffer();
  });
});
