/**
 * The Worker's storage invariant, checked from the outside (HTTP only, so it holds the old and
 * the new storage code to the same standard): every catalog entry's bytes exist and hash to its
 * sha256, both by name and at its content-addressed blob URL. `prefix` limits the check to
 * the entries whose id starts with it (so one test's failure does not fail the next). With
 * `byName: false` (a request still held, maybe between its R2 write and its index write) only
 * the blob URL is checked: the index may still list a name being deleted or moved, but never
 * bytes that are gone (name URLs resolve through R2 and answer for the name's current state).
 */
import { env } from "cloudflare:workers";
import { expect } from "vitest";
import type { CatalogEntry, CatalogResponse } from "../../shared/catalog";
import { call, sha256Hex } from "./helpers";

export async function expectCatalogIntact(prefix = "", o: { byName: boolean } = { byName: true }): Promise<CatalogEntry[]> {
  const res = await call("/api/v1/catalog?thumbnails=0");
  expect(res.status).toBe(200);
  const entries = (await res.json<CatalogResponse>()).entries.filter((e) => e.id.startsWith(prefix));
  for (const e of entries) {
    for (const url of [...(o.byName ? [`/api/v1/containers/${e.id}`] : []), `/blobs/sha256/${e.sha256}`]) {
      const got = await call(url);
      expect(got.status, `${url} (catalog entry ${e.id})`).toBe(200);
      expect(await sha256Hex(await got.arrayBuffer()), `bytes of ${url} (catalog entry ${e.id})`).toBe(e.sha256);
    }
  }
  return entries;
}

/**
 * The index invariant once no request is in flight: every live index row of the run mirrors its
 * R2 pointer (same version, same generation) and names a generation whose object exists, and
 * every live pointer of the run has its row. Checked straight on the bindings. With `mirror: false`
 * (a request still held, its index write pending) only the last part: no live row names bytes
 * that do not exist.
 */
export async function expectIndexTruthful(prefix = "", o: { mirror: boolean } = { mirror: true }): Promise<void> {
  const { results } = await env.DB.prepare("SELECT name, live, sha256, gen, pointer_etag FROM entries WHERE name >= ?1 AND name < ?2")
    .bind(prefix, prefix + "\uffff")
    .all<{ name: string; live: number; sha256: string | null; gen: string | null; pointer_etag: string | null }>();
  const rows = new Map(results.map((r) => [r.name, r]));
  const pointers = (await env.BUCKET.list({ prefix: `containers/${prefix}`, include: ["customMetadata"] })).objects;
  for (const p of o.mirror ? pointers : []) {
    const name = p.key.slice("containers/".length);
    const row = rows.get(name);
    const live = !!p.customMetadata?.gen;
    if (!live && p.customMetadata?.state !== "deleted") continue; // a layout-1 pointer: not indexed until migrated
    expect(row, `index row of ${name}`).toBeDefined();
    expect(row!.live, `index row of ${name} is ${live ? "live" : "deleted"}`).toBe(live ? 1 : 0);
    expect(row!.pointer_etag, `index row of ${name} mirrors its pointer's version`).toBe(p.etag);
  }
  for (const r of results) {
    if (!r.live) continue;
    if (o.mirror) expect(pointers.some((p) => p.key === `containers/${r.name}`), `pointer of index row ${r.name}`).toBe(true);
    expect(await env.BUCKET.head(`blobs/sha256/${r.sha256}/${r.gen}`), `bytes named by index row ${r.name}`).not.toBeNull();
  }
}
