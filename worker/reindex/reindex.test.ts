/**
 * Reindex: a bucket written the old way (layout 1: flat blobs, pointers without generations,
 * refs by name, flat thumbnails) keeps its containers (migrated to layout 2 and indexed); a
 * damaged index (missing, wrong and ghost rows, lost signature summaries) is repaired from R2 by
 * the admin route and by the cron.
 */
import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import type { CatalogEntry, CatalogResponse } from "../../shared/catalog";
import worker from "../index";
import { cronReindex, PENDING_MAX_AGE_MS } from "./index";
import { storageOf } from "../storage/store";
import { faultyBucket } from "../test/faulty-bucket";
import { encodeRecord, type ContainerRecord } from "../storage/record";
import { allKeys, bearer, call, type Fixture, makeContainer, publish, sha256Hex } from "../test/helpers";
import { expectIndexTruthful } from "../test/invariant";
import { envelope, newKey, signatureHeader } from "../test/signing";

const EMPTY = new Uint8Array(0);
let shared: Fixture;
let single: Fixture;
let multipart: Fixture;
let thumb: Uint8Array;

function legacyRecord(f: Fixture, extra: Partial<ContainerRecord> = {}): ContainerRecord {
  return { sha256: f.sha256, size: f.bytes.length, data_hash: f.dataHash, data_size: f.dataSize, grid_size: null, type: "kernel", distro: "legacydistro", arch: "x86_64", kernel_version: null, description: "published before the index", content_version: null, segments: [], ...extra };
}

/** Writes one container the way layout 1 did (worker/storage/store.ts at e97c83d). */
async function writeLegacy(name: string, f: Fixture, o: { multipart?: boolean; thumbnail?: Uint8Array; publishedAt: string }): Promise<void> {
  const blob = await env.BUCKET.put(`blobs/sha256/${f.sha256}`, f.bytes, { ...(o.multipart ? {} : { sha256: f.sha256 }), customMetadata: encodeRecord(legacyRecord(f)), httpMetadata: { contentType: "image/png" } });
  if (o.multipart) await env.BUCKET.put(`verified/${f.sha256}`, EMPTY);
  await env.BUCKET.put(`refs/${f.sha256}/${name}`, EMPTY);
  if (o.thumbnail) await env.BUCKET.put(`thumbnails/${name}.png`, o.thumbnail);
  await env.BUCKET.put(`containers/${name}`, EMPTY, { customMetadata: encodeRecord(legacyRecord(f, { name, published_at: o.publishedAt, blob_etag: blob!.httpEtag })) });
}

async function reindexAll(query = ""): Promise<{ steps: number; stats: Record<string, unknown>[] }> {
  const stats: Record<string, unknown>[] = [];
  let cursor: string | null = null;
  for (let steps = 1; steps < 100; steps++) {
    const res = await call(`/api/v1/admin/reindex?${query}${cursor ? `&cursor=${cursor}` : ""}`, { method: "POST", headers: bearer });
    expect(res.status).toBe(200);
    const body = await res.json<{ done: boolean; cursor: string | null; stats: Record<string, unknown> }>();
    stats.push(body.stats);
    if (body.done) return { steps, stats };
    cursor = body.cursor;
  }
  throw new Error("reindex did not finish");
}

async function catalog(q = ""): Promise<CatalogEntry[]> {
  return (await (await call(`/api/v1/catalog${q}`)).json<CatalogResponse>()).entries;
}

beforeAll(async () => {
  shared = await makeContainer(900, { type: "kernel", name: "shared" }, 301);
  single = await makeContainer(700, { type: "kernel", name: "single" }, 302);
  multipart = await makeContainer(800, { type: "os", name: "mp" }, 303);
  thumb = (await makeContainer(16, { type: "x" }, 304)).bytes;
});

describe("a layout-1 bucket", () => {
  it("keeps its containers: migrated to layout 2 and indexed, legacy objects gone", async () => {
    await writeLegacy("old-a", shared, { thumbnail: thumb, publishedAt: "2026-01-02T03:04:05.000Z" });
    await writeLegacy("old-b", shared, { publishedAt: "2026-01-03T00:00:00.000Z" });
    await writeLegacy("old-single", single, { publishedAt: "2026-01-04T00:00:00.000Z" });
    await writeLegacy("old-mp", multipart, { multipart: true, publishedAt: "2026-01-05T00:00:00.000Z" });
    // a legacy pointer whose flat object is not the bytes of its SHA-256: left alone, reported
    const liar = await makeContainer(600, { type: "kernel", name: "liar" }, 305);
    await writeLegacy("old-liar", { ...liar, sha256: single.sha256.replace(/^./, "f") }, { multipart: true, publishedAt: "2026-01-06T00:00:00.000Z" });
    expect((await catalog("?q=old")).map((e) => e.id)).toEqual([]); // not indexed yet

    const { steps, stats } = await reindexAll("migrations=1&keys=2");
    expect(steps).toBeGreaterThan(4); // one migration per step, two keys per listing: resumed across steps
    expect(stats.reduce((n, s) => n + (s.migrated as number), 0)).toBe(4);

    const entries = await catalog("?distro=legacydistro");
    expect(entries.map((e) => e.id)).toEqual(["old-a", "old-b", "old-mp", "old-single"]);
    const byId = Object.fromEntries(entries.map((e) => [e.id, e]));
    expect(byId["old-a"]!.updated_at).toBe("2026-01-02T03:04:05.000Z");
    expect(byId["old-a"]!.thumbnail).not.toBe("");
    expect(await sha256Hex(await (await call("/api/v1/containers/old-a/thumbnail")).arrayBuffer())).toBe(await sha256Hex(thumb));
    for (const [id, f] of [["old-a", shared], ["old-b", shared], ["old-single", single], ["old-mp", multipart]] as const) {
      expect(byId[id]!.sha256).toBe(f.sha256);
      for (const url of [`/api/v1/containers/${id}`, `/blobs/sha256/${f.sha256}`]) {
        const res = await call(url);
        expect(res.status, url).toBe(200);
        expect(await sha256Hex(await res.arrayBuffer()), url).toBe(f.sha256);
      }
    }
    const keys = await allKeys(env.BUCKET);
    for (const f of [shared, single, multipart]) expect(keys).not.toContain(`blobs/sha256/${f.sha256}`); // flat objects gone
    expect(keys.filter((k) => !k.endsWith("old-liar") && (/^refs\/[0-9a-f]{64}\/old-/.test(k) || /^thumbnails\/old-[^/]*\.png$/.test(k)))).toEqual([]);
    await expectIndexTruthful("old-");
    // the bytes of the two names sharing a blob were copied once
    expect((await env.BUCKET.list({ prefix: `blobs/sha256/${shared.sha256}/` })).objects).toHaveLength(1);

    // the liar stays as it was, out of the catalog
    expect(byId["old-liar"]).toBeUndefined();
    expect(keys).toContain("containers/old-liar");
    const again = await reindexAll();
    expect(again.stats.flatMap((s) => s.migrationProblems as { name: string; outcome: string }[])).toEqual([{ name: "old-liar", outcome: "corrupt" }]);

    // migrated names are ordinary layout-2 names: deleting them collects everything
    for (const id of ["old-a", "old-b", "old-single", "old-mp"]) expect((await call(`/api/v1/containers/${id}`, { method: "DELETE", headers: bearer })).status).toBe(200);
    const after = await allKeys(env.BUCKET);
    expect(after.filter((k) => [shared, single, multipart].some((f) => k.startsWith(`blobs/sha256/${f.sha256}`) || k.startsWith(`refs/${f.sha256}`)))).toEqual([]);
  });
});

describe("repairing the index", () => {
  it("missing, stale and ghost rows and lost signature summaries come back from R2 (admin route and cron)", async () => {
    const k = await newKey();
    const a = await makeContainer(650, { type: "kernel", name: "rep-a" }, 311);
    const b = await makeContainer(660, { type: "kernel", name: "rep-b" }, 312);
    const c = await makeContainer(670, { type: "kernel", name: "rep-c" }, 313);
    expect((await publish("rep-a", a, signatureHeader(await envelope(k, { name: "rep-a", sha256: a.sha256, size: a.bytes.length })))).status).toBe(201);
    expect((await publish("rep-b", b)).status).toBe(201);
    expect((await publish("rep-c", c)).status).toBe(201);
    expect((await call("/api/v1/containers/rep-c", { method: "DELETE", headers: bearer })).status).toBe(200);
    const truth = JSON.stringify(await catalog("?q=rep"));

    const damage = async () => {
      await env.DB.batch([
        env.DB.prepare("DELETE FROM entries WHERE name = 'rep-a'"),
        env.DB.prepare("UPDATE entries SET sha256 = ?1, description = 'wrong' WHERE name = 'rep-b'").bind("00".repeat(32)),
        env.DB.prepare("UPDATE entries SET live = 1, sha256 = ?1, size = 1, pointer_etag = 'x' WHERE name = 'rep-c'").bind(c.sha256), // a deleted name shown again
        env.DB.prepare("INSERT INTO entries (name, live, seq, pointer_etag, sha256, size, published_ms) VALUES ('rep-ghost', 1, 1, 'ghost', ?1, 5, 0)").bind("11".repeat(32)),
        env.DB.prepare("DELETE FROM signatures"),
      ]);
      expect(JSON.stringify(await catalog("?q=rep"))).not.toBe(truth);
    };

    await damage();
    await reindexAll();
    expect(await catalog("?q=rep")).toEqual(JSON.parse(truth));
    expect((await catalog("?q=rep-a"))[0]!.signatures?.map((s) => s.keyid)).toEqual([k.key.keyid]);
    await expectIndexTruthful("rep-");

    await damage();
    const ctx = createExecutionContext();
    await worker.scheduled(createScheduledController({ scheduledTime: Date.now(), cron: "*/10 * * * *" }), env, ctx);
    await waitOnExecutionContext(ctx);
    expect(JSON.stringify(await catalog("?q=rep"))).toBe(truth);
    const saved = await env.DB.prepare("SELECT text FROM meta WHERE key = 'reindex'").first<string>("text");
    expect(JSON.parse(saved!)).toEqual({ phase: "done", after: null });
  });
});

describe("sweeping abandoned multipart uploads", () => {
  /** A signed multipart create: leaves `uploads/<hex>/<gen>/signature` until complete or abort. */
  async function signedCreate(name: string, f: Fixture): Promise<string> {
    const k = await newKey();
    const res = await call(`/api/v1/containers/${name}/uploads`, {
      method: "POST",
      body: f.bytes.slice(0, 4096),
      headers: { ...bearer, "x-pixelrts-sha256": f.sha256, "x-pixelrts-size": String(f.bytes.length), ...signatureHeader(await envelope(k, { name, sha256: f.sha256, size: f.bytes.length })) },
    });
    expect(res.status).toBe(201);
    const { upload_id } = await res.json<{ upload_id: string }>();
    return upload_id;
  }
  const pending = async (f: Fixture) => (await env.BUCKET.list({ prefix: `uploads/${f.sha256}/` })).objects;

  it("the cron deletes the envelope of an upload never completed or aborted once it is older than 8 days, not before", async () => {
    const f = await makeContainer(700, { type: "kernel", name: "abandoned" }, 321);
    await signedCreate("abandoned", f);
    const [obj] = await pending(f);
    expect(obj?.key).toMatch(/^uploads\/[0-9a-f]{64}\/[0-9a-f]{32}\/signature$/);
    const at = (ms: number) => cronReindex(storageOf(env), 10, { now: obj!.uploaded.getTime() + ms });
    const swept = (r: Awaited<ReturnType<typeof cronReindex>>) => r.stats.reduce((n, st) => n + st.pendingSwept, 0);

    const young = await at(PENDING_MAX_AGE_MS - 60_000);
    expect(young.state.phase).toBe("done"); // the cycle went through the uploads phase
    expect(swept(young)).toBe(0);
    expect(await pending(f)).toHaveLength(1);

    const old = await at(PENDING_MAX_AGE_MS + 60_000);
    expect(swept(old)).toBe(1);
    expect(await pending(f)).toEqual([]);
  });

  it("a complete that fails after R2 completed the upload (8 lost pointer writes) leaves no envelope behind", async () => {
    const f = await makeContainer(800, { type: "kernel", name: "lostcomplete" }, 322);
    const uploadId = await signedCreate("lostcomplete", f);
    const part = await call(`/api/v1/containers/lostcomplete/uploads/${uploadId}/parts/1`, { method: "PUT", body: f.bytes, headers: { ...bearer, "content-length": String(f.bytes.length) } });
    expect(part.status).toBe(200);
    const parts = [await part.json<{ part_number: number; etag: string }>()];
    const lossy = faultyBucket(env.BUCKET, ({ method, key }) => (method === "put" && key === "containers/lostcomplete" ? { kind: "lost" } : undefined));
    const res = await call(`/api/v1/containers/lostcomplete/uploads/${uploadId}/complete`, { method: "POST", body: JSON.stringify({ parts }), headers: bearer }, lossy.bucket);
    expect(res.status).toBe(503);
    await res.arrayBuffer();
    expect(await pending(f)).toEqual([]);
    expect((await env.BUCKET.list({ prefix: `blobs/sha256/${f.sha256}/` })).objects).toEqual([]); // and the upload's object is collected
  });
});
