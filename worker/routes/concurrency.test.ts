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
import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { CatalogEntry } from "../../shared/catalog";
import app from "../index";
import { gatedBucket } from "../test/gated-bucket";
import { bearer, call, type Fixture, makeContainer, ORIGIN, sha256Hex } from "../test/helpers";
import { expectCatalogIntact } from "../test/invariant";

async function send(bucket: R2Bucket, path: string, init?: RequestInit): Promise<Response> {
  return app.fetch(new Request(ORIGIN + path, init), { ...env, BUCKET: bucket }, createExecutionContext());
}

function putContainer(bucket: R2Bucket, name: string, f: { bytes: Uint8Array; sha256: string }): Promise<Response> {
  return send(bucket, `/api/v1/containers/${name}`, {
    method: "PUT",
    body: f.bytes,
    headers: { ...bearer, "x-pixelrts-sha256": f.sha256, "content-length": String(f.bytes.length) },
  });
}

/** Creates a multipart upload for `declared` and sends `bytes` as its only part; returns the complete request. */
async function preparedUpload(name: string, declared: Fixture, bytes: Uint8Array): Promise<(bucket: R2Bucket) => Promise<Response>> {
  const created = await send(env.BUCKET, `/api/v1/containers/${name}/uploads`, {
    method: "POST",
    body: declared.bytes.slice(0, 2048),
    headers: { ...bearer, "x-pixelrts-sha256": declared.sha256, "x-pixelrts-size": String(declared.bytes.length) },
  });
  expect(created.status).toBe(201);
  const { upload_id } = await created.json<{ upload_id: string }>();
  const part = await send(env.BUCKET, `/api/v1/containers/${name}/uploads/${upload_id}/parts/1`, {
    method: "PUT",
    body: bytes,
    headers: { ...bearer, "content-length": String(bytes.length) },
  });
  expect(part.status).toBe(200);
  const parts = [await part.json<{ part_number: number; etag: string }>()];
  return (bucket) => send(bucket, `/api/v1/containers/${name}/uploads/${upload_id}/complete`, { method: "POST", body: JSON.stringify({ parts }), headers: bearer });
}

interface Race {
  /** The two requests; `a` is held first, then (roles swapped) `b`. */
  a: (bucket: R2Bucket) => Promise<Response>;
  b: (bucket: R2Bucket) => Promise<Response>;
  names: string[];
  shas: string[];
  /** Checks after both finished (statuses, which version won). */
  after(a: Response, b: Response, catalog: CatalogEntry[]): Promise<void>;
}

let seed = 1000;
const fixture = (label: string) => makeContainer(600 + (seed % 97), { type: "kernel", name: label }, seed++);

/** Objects that still belong to a run's blobs and names once all its names are deleted (must be none). */
async function leftovers(race: Race): Promise<string[]> {
  const keys: string[] = [];
  const prefixes = [...race.shas.flatMap((s) => [`blobs/sha256/${s}/`, `refs/${s}/`]), ...race.names.map((n) => `thumbnails/${n}/`)];
  for (const prefix of prefixes) {
    keys.push(...(await env.BUCKET.list({ prefix })).objects.map((o) => o.key));
  }
  return keys;
}

/** Runs `make`'s race at every hold point in both orders; returns how many runs it made. */
async function everyInterleaving(prefix: string, make: (name: string, run: number) => Promise<Race>): Promise<number> {
  let runs = 0;
  for (const swapped of [false, true]) {
    for (let k = 0; ; k++) {
      expect(k).toBeLessThan(100); // a request makes far fewer R2 calls than this
      const race = await make(prefix, runs);
      const [held, other] = swapped ? [race.b, race.a] : [race.a, race.b];
      const gate = gatedBucket(env.BUCKET, (i) => i === k);
      const heldDone = held(gate.bucket);
      const stopped = await Promise.race([gate.reached, heldDone.then(() => null)]);
      const otherRes = await other(env.BUCKET);
      await expectCatalogIntact(prefix);
      gate.open();
      const heldRes = await heldDone;
      const catalog = await expectCatalogIntact(prefix);
      await (swapped ? race.after(otherRes, heldRes, catalog) : race.after(heldRes, otherRes, catalog));
      for (const name of race.names) {
        const del = await call(`/api/v1/containers/${name}`, { method: "DELETE", headers: bearer });
        expect([200, 404]).toContain(del.status);
        await del.arrayBuffer();
      }
      expect(await leftovers(race)).toEqual([]);
      runs++;
      if (stopped === null) break; // the held request finished before its k-th call: every point tried
    }
  }
  return runs;
}

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
      const first = await putContainer(env.BUCKET, `${name}-old`, f);
      expect(first.status).toBe(201);
      await first.arrayBuffer();
      return {
        a: (bucket) => send(bucket, `/api/v1/containers/${name}-old`, { method: "DELETE", headers: bearer }),
        b: (bucket) => putContainer(bucket, `${name}-new`, f),
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
    const runs = await everyInterleaving("c", async (name, run) => {
      const v1 = await fixture(`th1-${run}`);
      const v2 = await fixture(`th2-${run}`);
      const first = await putContainer(env.BUCKET, name, v1);
      expect(first.status).toBe(201);
      await first.arrayBuffer();
      return {
        a: (bucket) => send(bucket, `/api/v1/containers/${name}/thumbnail`, { method: "PUT", body: thumb, headers: bearer }),
        b: (bucket) => putContainer(bucket, name, v2),
        names: [name],
        shas: [v1.sha256, v2.sha256],
        async after(thumbRes, pub, catalog) {
          expect(thumbRes.status).toBe(201);
          expect(pub.status).toBe(200);
          expect(entryOf(catalog, name)?.sha256).toBe(v2.sha256);
        },
      };
    });
    expect(runs).toBeGreaterThan(10);
  }, 120_000);

  it("(d) two PUTs of one name with different bytes: the name ends on one of them, with its bytes", async () => {
    const runs = await everyInterleaving("d", async (name, run) => {
      const v1 = await fixture(`pp1-${run}`);
      const v2 = await fixture(`pp2-${run}`);
      const first = await putContainer(env.BUCKET, name, v1);
      expect(first.status).toBe(201);
      await first.arrayBuffer();
      return {
        a: (bucket) => putContainer(bucket, name, v1), // republishing the current bytes (deduplicated)
        b: (bucket) => putContainer(bucket, name, v2),
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
