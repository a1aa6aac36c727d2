/**
 * The Worker's storage invariant, checked from the outside (HTTP only, so it holds the old and
 * the new storage code to the same standard): every catalog entry's bytes exist and hash to its
 * sha256, both by name and at its content-addressed blob URL. `prefix` limits the check to
 * the entries whose id starts with it (so one test's failure does not fail the next).
 */
import { expect } from "vitest";
import type { CatalogEntry, CatalogResponse } from "../../shared/catalog";
import { call, sha256Hex } from "./helpers";

export async function expectCatalogIntact(prefix = ""): Promise<CatalogEntry[]> {
  const res = await call("/api/v1/catalog?thumbnails=0");
  expect(res.status).toBe(200);
  const entries = (await res.json<CatalogResponse>()).entries.filter((e) => e.id.startsWith(prefix));
  for (const e of entries) {
    for (const url of [`/api/v1/containers/${e.id}`, `/blobs/sha256/${e.sha256}`]) {
      const got = await call(url);
      expect(got.status, `${url} (catalog entry ${e.id})`).toBe(200);
      expect(await sha256Hex(await got.arrayBuffer()), `bytes of ${url} (catalog entry ${e.id})`).toBe(e.sha256);
    }
  }
  return entries;
}
