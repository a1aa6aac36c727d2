/**
 * Races between writers, forced inside workerd against local R2. One request (the "held" one)
 * goes through a gated bucket that stops it before its k-th R2 call; the other runs to the end
 * meanwhile; then the held one goes on. This is repeated for every k until the held request
 * makes no more calls, and again with the roles swapped, so every point where one request can
 * fall between two calls of the other is tried. After the other request, and again after both,
 * the invariant must hold: every catalog entry's bytes exist and hash to its sha256
 * (expectCatalogIntact). Finally every name of the run is deleted and nothing of its blobs,
 * refs or thumbnails may be left in the bucket.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { CatalogEntry } from "../../shared/catalog";
import { faultyBucket } from "../test/faulty-bucket";
import { type Fixture, makeContainer, sha256Hex, bearer, call, errorCode } from "../test/helpers";
import { type Bindings, everyInterleaving, expectNothingLeft, leftovers, putContainer, send } from "../test/interleave";
import { expectCatalogIntact, expectIndexTruthful } from "../test/invariant";

/** Creates a multipart upload for `declared` and sends `bytes` as its only part; returns the complete request. */
async function preparedUpload(name: string, declared: Fixture, bytes: Uint8Array): Promise<(b: Bindings) => Promise<Response>> {
  const real = { BUCKET: env.BUCKET };
  const created = await send(real, `/api/v1/containers/${name}/uploads`, {
    method: "POST",
    body: declared.bytes.slice(0, 2048),
    headers: { ...bearer, "x-pixelrts-sha256": declared.sha256, "x-pixelrts-size": String(declared.bytes.length) },
  });
  expect(created.status).toBe(201);
  const { upload_id } = await created.json<{ upload_id: string }>();
  const part = await send(real, `/api/v1/containers/${name}/uploads/${upload_id}/parts/1`, {
    method: "PUT",
    body: bytes,
    headers: { ...bearer, "content-length": String(bytes.length) },
  });
  expect(part.status).toBe(200);
  const parts = [await part.json<{ part_number: number; etag: string }>()];
  return (b) => send(b, `/api/v1/containers/${name}/uploads/${upload_id}/complete`, { method: "POST", body: JSON.stringify({ parts }), headers: bearer });
}

let seed = 1000;
const fixture = (label: string) => makeContainer(600 + (seed % 97), { type: "kernel", name: label }, seed++);

const entryOf = (catalog: CatalogEntry[], name: string) => catalog.find((e) => e.id === name);

describe("interleavings (every hold point, both orders)", () => {
  it("(a) two multipart completes of one SHA-256, one with broken bytes: the honest container keeps its verified bytes", async () => {
    const runs = await everyInterleaving("a", async (name, run) => {
      const f = await fixture(`mp-${run}`);
      const broken = f.bytes.slice();
      broken[broken.length - 30] = broken[broken.length - 30]! ^ 0xff; // in the image data: the head still parses
      const honest = await preparedUpload(`${name}-honest`, f, f.bytes);
      const liar = await preparedUpload(`${name}-broken`, f, broken);
      return {
        a: liar,
        b: honest,
        names: [`${name}-honest`, `${name}-broken`],
        shas: [f.sha256, await sha256Hex(broken)],
        async after(liarRes, honestRes, catalog) {
          expect([200, 201]).toContain(honestRes.status);
          // the broken upload is refused, or (completed after the honest one) linked to the verified blob
          expect([200, 201, 400]).toContain(liarRes.status);
          expect(entryOf(catalog, `${name}-honest`)?.sha256).toBe(f.sha256);
        },
      };
    });
    expect(runs).toBeGreaterThan(10);
  }, 120_000);

  it("(b) DELETE racing a deduplicating publish of the same bytes: the new name keeps its bytes", async () => {
    const runs = await everyInterleaving("b", async (name, run) => {
      const f = await fixture(`dd-${run}`);
      const first = await putContainer({ BUCKET: env.BUCKET }, `${name}-old`, f);
      expect(first.status).toBe(201);
      await first.arrayBuffer();
      return {
        a: (b) => send(b, `/api/v1/containers/${name}-old`, { method: "DELETE", headers: bearer }),
        b: (b) => putContainer(b, `${name}-new`, f),
        names: [`${name}-old`, `${name}-new`],
        shas: [f.sha256],
        async after(del, pub, catalog) {
          expect(del.status).toBe(200);
          expect(pub.status).toBe(201);
          expect(entryOf(catalog, `${name}-new`)?.sha256).toBe(f.sha256);
          expect(entryOf(catalog, `${name}-old`)).toBeUndefined();
        },
      };
    });
    expect(runs).toBeGreaterThan(10);
  }, 120_000);

  it("(c) thumbnail upload racing a republish: the name never reverts to the old version", async () => {
    const thumb = (await makeContainer(16, { type: "x" }, 5)).bytes; // any PNG
    const thumbSha = await sha256Hex(thumb);
    const runs = await everyInterleaving("c", async (name, run) => {
      const v1 = await fixture(`th1-${run}`);
      const v2 = await fixture(`th2-${run}`);
      const first = await putContainer({ BUCKET: env.BUCKET }, name, v1);
      expect(first.status).toBe(201);
      await first.arrayBuffer();
      return {
        a: (b) => send(b, `/api/v1/containers/${name}/thumbnail`, { method: "PUT", body: thumb, headers: bearer }),
        b: (b) => putContainer(b, name, v2),
        names: [name],
        shas: [v1.sha256, v2.sha256],
        async after(thumbRes, pub, catalog) {
          expect(thumbRes.status).toBe(201);
          expect(pub.status).toBe(200);
          expect(entryOf(catalog, name)?.sha256).toBe(v2.sha256);
          // whichever came last, the name keeps the uploaded thumbnail (a republish carries it over)
          const got = await call(`/api/v1/containers/${name}/thumbnail`);
          expect(got.status).toBe(200);
          expect(await sha256Hex(await got.arrayBuffer())).toBe(thumbSha);
          // and the index its inline copy, even when the republish was indexed before the thumbnail
          const entry = await (await call(`/api/v1/catalog/${name}`)).json<{ thumbnail: string }>();
          expect(entry.thumbnail).not.toBe("");
        },
      };
    });
    expect(runs).toBeGreaterThan(10);
  }, 120_000);

  it("(d) two PUTs of one name with different bytes: the name ends on one of them, with its bytes", async () => {
    const runs = await everyInterleaving("d", async (name, run) => {
      const v1 = await fixture(`pp1-${run}`);
      const v2 = await fixture(`pp2-${run}`);
      const first = await putContainer({ BUCKET: env.BUCKET }, name, v1);
      expect(first.status).toBe(201);
      await first.arrayBuffer();
      return {
        a: (b) => putContainer(b, name, v1), // republishing the current bytes (deduplicated)
        b: (b) => putContainer(b, name, v2),
        names: [name],
        shas: [v1.sha256, v2.sha256],
        async after(r1, r2, catalog) {
          expect([r1.status, r2.status]).toEqual([200, 200]);
          expect([v1.sha256, v2.sha256]).toContain(entryOf(catalog, name)?.sha256);
        },
      };
    });
    expect(runs).toBeGreaterThan(10);
  }, 120_000);
});

/**
 * R2 answers that misreport (worker/test/faulty-bucket.ts): a compare-and-swap put that lands but
 * is answered null (a write the binding retried), one lost 8 times, an R2 error mid-publish. No
 * flow may release what it just installed, lose bytes, or leave its new generation behind.
 */
describe("R2 answers that misreport (regression)", () => {
  const real = (): Bindings => ({ BUCKET: env.BUCKET, DB: env.DB });
  const faulty = (pick: Parameters<typeof faultyBucket>[1]) => {
    const f = faultyBucket(env.BUCKET, pick);
    return { ...f, bindings: { BUCKET: f.bucket, DB: env.DB } as Bindings };
  };
  const thumb = () => makeContainer(16, { type: "x" }, 7).then((f) => f.bytes);

  type Flow = { label: string; setup(name: string, v1: Fixture): Promise<void>; run(b: Bindings, name: string, v1: Fixture, v2: Fixture): Promise<Response>; status: number; gone?: boolean };
  const publishOk = async (name: string, f: Fixture) => {
    const res = await putContainer(real(), name, f);
    expect([200, 201]).toContain(res.status);
    await res.arrayBuffer();
  };
  const flows: Flow[] = [
    { label: "first publish", setup: async () => {}, run: (b, name, v1) => putContainer(b, name, v1), status: 201 },
    { label: "republish with new bytes", setup: publishOk, run: (b, name, _v1, v2) => putContainer(b, name, v2), status: 200 },
    { label: "deduplicated publish", setup: (name, v1) => publishOk(`${name}-first`, v1), run: (b, name, v1) => putContainer(b, name, v1), status: 201 },
    { label: "thumbnail", setup: publishOk, run: async (b, name) => send(b, `/api/v1/containers/${name}/thumbnail`, { method: "PUT", body: await thumb(), headers: bearer }), status: 201 },
    { label: "delete", setup: publishOk, run: (b, name) => send(b, `/api/v1/containers/${name}`, { method: "DELETE", headers: bearer }), status: 200, gone: true },
  ];

  it.each(flows)("a pointer write that lands but is answered null: $label completes, keeps its bytes, leaks nothing", async (flow) => {
    const name = `lie-${flow.label.replace(/\W+/g, "-")}`;
    const [v1, v2] = [await fixture(`${name}-1`), await fixture(`${name}-2`)];
    await flow.setup(name, v1);
    const f = faulty(({ method, key, n }) => (method === "put" && key === `containers/${name}` && n === 0 ? { kind: "lands-null" } : undefined));
    const res = await flow.run(f.bindings, name, v1, v2);
    expect(f.calls).toContain(`put containers/${name}!`);
    expect(res.status).toBe(flow.status);
    await res.arrayBuffer();
    const catalog = await expectCatalogIntact(name);
    await expectIndexTruthful(name);
    expect(catalog.some((e) => e.id === name)).toBe(!flow.gone);
    if (flow.label === "thumbnail") expect((await call(`/api/v1/containers/${name}/thumbnail`)).status).toBe(200);
    await expectNothingLeft({ names: [name, `${name}-first`], shas: [v1.sha256, v2.sha256] });
  });

  it.each(["upload", "dedupe"])("a pointer write that lands, is replaced at once by another republish and is answered null (%s): no bytes lost", async (path) => {
    const name = `lie-replaced-${path}`;
    const [v1, mine, theirs] = [await fixture(`${name}-1`), await fixture(`${name}-mine`), await fixture(`${name}-theirs`)];
    await publishOk(name, v1);
    if (path === "dedupe") await publishOk(`${name}-keep`, mine); // `mine` is live: this publish links to it
    const f = faulty(({ method, key, n }) =>
      method === "put" && key === `containers/${name}` && n === 0 ? { kind: "lands-null", after: () => publishOk(name, theirs) } : undefined,
    );
    const res = await putContainer(f.bindings, name, mine);
    expect(f.calls).toContain(`put containers/${name}!`);
    expect([200, 503]).toContain(res.status); // 503: its own new bytes were collected by the replacer; retry
    await res.arrayBuffer();
    const catalog = await expectCatalogIntact(name);
    await expectIndexTruthful(name);
    expect([mine.sha256, theirs.sha256]).toContain(catalog.find((e) => e.id === name)?.sha256);
    await expectNothingLeft({ names: [name, `${name}-keep`], shas: [v1.sha256, mine.sha256, theirs.sha256] });
  });

  it("a thumbnail write that lands, is replaced at once by another thumbnail upload and is answered null: the pointer never names a deleted thumbnail", async () => {
    const name = "lie-thumbs";
    const v = await fixture(name);
    await publishOk(name, v);
    const [mine, theirs] = [(await makeContainer(16, { type: "x" }, 8)).bytes, (await makeContainer(20, { type: "x" }, 9)).bytes];
    const putThumb = (b: Bindings, t: Uint8Array) => send(b, `/api/v1/containers/${name}/thumbnail`, { method: "PUT", body: t, headers: bearer });
    const f = faulty(({ method, key, n }) =>
      method === "put" && key === `containers/${name}` && n === 0
        ? { kind: "lands-null", after: async () => expect((await putThumb(real(), theirs)).status).toBe(201) } // deletes ours
        : undefined,
    );
    const res = await putThumb(f.bindings, mine);
    expect(f.calls).toContain(`put containers/${name}!`);
    expect(res.status).toBe(503); // ours may have been deleted by theirs: upload again
    await res.arrayBuffer();
    const got = await call(`/api/v1/containers/${name}/thumbnail`);
    expect(got.status).toBe(200);
    expect(await sha256Hex(await got.arrayBuffer())).toBe(await sha256Hex(theirs));
    await expectIndexTruthful(name);
    await expectNothingLeft({ names: [name], shas: [v.sha256] });
  });

  it.each(["its own new generation", "a generation that became live meanwhile"])("8 lost pointer writes (%s): 503 E_CONFLICT, nothing of the upload left", async (label) => {
    const name = `lost-${label === "its own new generation" ? "own" : "live"}`;
    const v = await fixture(name);
    const other = label === "its own new generation" ? null : `${name}-other`;
    const f = faulty(({ method, key }) => {
      if (method === "put" && key === `containers/${name}`) return { kind: "lost" };
      // the upload lands, then another name publishes the same bytes first: the publish links to theirs
      if (other && method === "put" && key.startsWith(`blobs/sha256/${v.sha256}/`)) return { kind: "after", after: () => publishOk(other, v) };
      return undefined;
    });
    const res = await putContainer(f.bindings, name, v);
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("1");
    expect(await errorCode(res)).toBe("E_CONFLICT");
    expect(f.calls.filter((c) => c === `put containers/${name}!`).length).toBeGreaterThanOrEqual(8);
    expect((await call(`/api/v1/containers/${name}`)).status).toBe(404);
    // only what the other name holds remains: one generation and its one ref
    const blobs = (await env.BUCKET.list({ prefix: `blobs/sha256/${v.sha256}/` })).objects;
    const refs = (await env.BUCKET.list({ prefix: `refs/${v.sha256}/` })).objects;
    expect([blobs.length, refs.length]).toEqual(other ? [1, 1] : [0, 0]);
    await expectCatalogIntact(name);
    await expectNothingLeft({ names: [name, ...(other ? [other] : [])], shas: [v.sha256] });
  });

  it("an R2 error right after the new generation's ref: 500, and its object and ref are gone", async () => {
    const name = "r2-error";
    const v = await fixture(name);
    // the second register read: the first is the dedupe check, the second is publishObject's, after its ref
    const f = faulty(({ method, key, n }) => (method === "head" && key === `verified/${v.sha256}` && n === 1 ? { kind: "throws" } : undefined));
    const res = await putContainer(f.bindings, name, v);
    expect(f.calls).toContain(`head verified/${v.sha256}!`);
    expect(res.status).toBe(500);
    expect(await errorCode(res)).toBe("E_INTERNAL");
    expect(await leftovers({ names: [name], shas: [v.sha256] })).toEqual([]);
  });
});
