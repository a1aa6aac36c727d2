/** The catalog follows R2's list pages (pointers put straight through the binding; their blobs are never read). */
import { env } from "cloudflare:workers";
import { beforeAll, expect, it } from "vitest";
import type { CatalogResponse } from "../../shared/catalog";
import { encodeRecord } from "../storage/record";
import { call } from "../test/helpers";

const N = 1234;
const name = (i: number) => `c${String(i).padStart(5, "0")}`;

beforeAll(async () => {
  const puts: Promise<unknown>[] = [];
  for (let i = 0; i < N; i++) {
    const sha = i.toString(16).padStart(64, "0");
    const id = sha.slice(0, 32); // pointer fields (gen, link) are 32 hex digits
    const meta = encodeRecord({ sha256: sha, size: 100 + i, data_hash: null, data_size: null, grid_size: 4, type: i % 2 ? "kernel" : "os", distro: i === 1200 ? "needle" : null, arch: null, kernel_version: null, description: null, content_version: null, segments: [], name: name(i), gen: id, link: id, blob_etag: `"${id}"` });
    puts.push(env.BUCKET.put(`containers/${name(i)}`, new Uint8Array(0), { customMetadata: meta }));
    if (puts.length >= 50) await Promise.all(puts.splice(0));
  }
  await Promise.all(puts);
}, 120_000);

it(`lists all ${N} entries in one response (original clients do not page)`, async () => {
  const body = await (await call("/api/v1/catalog?thumbnails=0")).json<CatalogResponse>();
  expect(body.entries).toHaveLength(N);
  expect(body.entries[N - 1]!.id).toBe(name(N - 1));
  expect(body.entries[N - 1]!.position).toEqual({ x: (N - 1) % 10, y: Math.floor((N - 1) / 10) });
  expect(body.grid_dimensions).toEqual({ width: 11, height: Math.floor((N - 1) / 10) + 2 });
});

it("pages of 1000 and a filter that only matches past the first R2 page", async () => {
  const p1 = await (await call("/api/v1/catalog?limit=1000")).json<CatalogResponse>();
  expect(p1.entries).toHaveLength(1000);
  const p2 = await (await call(`/api/v1/catalog?limit=1000&cursor=${p1.next_cursor}`)).json<CatalogResponse>();
  expect(p2.entries).toHaveLength(N - 1000);
  expect(p2.next_cursor).toBeNull();
  expect(new Set([...p1.entries, ...p2.entries].map((e) => e.id)).size).toBe(N);
  const needle = await (await call("/api/v1/catalog?distro=needle")).json<CatalogResponse>();
  expect(needle.entries.map((e) => e.id)).toEqual([name(1200)]);
  const kernels = await (await call("/api/v1/catalog?type=kernel")).json<CatalogResponse>();
  expect(kernels.entries).toHaveLength(N / 2);
});
