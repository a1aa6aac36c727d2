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
import { type Fixture, makeContainer, sha256Hex, bearer, call } from "../test/helpers";
import { type Bindings, everyInterleaving, putContainer, send } from "../test/interleave";

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
