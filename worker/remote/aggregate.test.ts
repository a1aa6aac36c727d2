/**
 * Remote aggregation within the limits: a remote catalog is parsed incrementally (one entry held
 * at a time, thumbnails past the per-source budget dropped with the entry kept), so an original
 * server with 200 fat entries (~50 MB) still aggregates; cached remotes live in D1 too, so a cold
 * isolate asks no remote while their answers are fresh (≤ 1 subrequest per remote per request).
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import type { RemoteCatalogResponse } from "../../shared/catalog";
import app from "../index";
import { ORIGIN } from "../test/helpers";
import { clearRemoteCache } from "./cache";
import { parseRemoteCatalog } from "./parse";

/** The fat fixture of worker/test/remotes.node.ts (that module runs in Node, not here). */
const FAT_ENTRIES = 200;
const FAT_THUMBNAIL_CHARS = 254_000;

beforeEach(() => clearRemoteCache());

async function merged(vars: Record<string, string>, query = ""): Promise<RemoteCatalogResponse> {
  const ctx = createExecutionContext();
  const res = await app.fetch(new Request(`${ORIGIN}/api/v1/remote/catalog${query}`), { ...env, ...vars }, ctx);
  await waitOnExecutionContext(ctx);
  expect(res.status).toBe(200);
  return res.json<RemoteCatalogResponse>();
}

/** A generated catalog stream of `n` entries with `thumb`-character thumbnails, in `chunk`-byte pieces. */
function generated(n: number, thumb: number, chunk = 65_536): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  const t = "A".repeat(thumb);
  let i = -1;
  let pending = new Uint8Array(0);
  return new ReadableStream<Uint8Array>({
    pull(ctrl) {
      while (pending.length < chunk && i <= n) {
        const piece = i === -1 ? '{"entries":[' : i === n ? "]}" : `${i ? "," : ""}{"id":"e${i}","name":"e${i}","thumbnail":"${t}","size":${i}}`;
        const next = new Uint8Array(pending.length + piece.length);
        next.set(pending);
        next.set(enc.encode(piece), pending.length);
        pending = next;
        i++;
      }
      if (!pending.length) return ctrl.close();
      ctrl.enqueue(pending.subarray(0, chunk));
      pending = pending.slice(chunk);
    },
  });
}

describe("incremental parsing", () => {
  it("a ~50 MB catalog: every entry kept, one entry's text held at a time, thumbnails only within the budget", async () => {
    const budget = 1024 * 1024;
    const ids: string[] = [];
    let kept = 0;
    const stats = await parseRemoteCatalog(generated(FAT_ENTRIES, FAT_THUMBNAIL_CHARS), { maxBytes: 64 * 1024 * 1024, maxEntries: 10_000, thumbnailBudget: budget, maxEntryChars: 64 * 1024 }, (raw) => {
      const e = raw as { id: string; thumbnail: string };
      ids.push(e.id);
      if (e.thumbnail) {
        expect(e.thumbnail).toHaveLength(FAT_THUMBNAIL_CHARS);
        kept++;
      }
    });
    expect(stats.bytes).toBeGreaterThan(FAT_ENTRIES * FAT_THUMBNAIL_CHARS);
    expect(ids).toHaveLength(FAT_ENTRIES);
    expect(kept).toBe(Math.floor(budget / FAT_THUMBNAIL_CHARS));
    expect(stats.thumbnailsDropped).toBe(FAT_ENTRIES - kept);
    expect(stats.maxHeldChars).toBeLessThan(1024); // an entry without its thumbnail: the thumbnail is never held as entry text
  });

  it("refuses past maxBytes, stops reading at maxEntries, skips oversized entries", async () => {
    await expect(parseRemoteCatalog(generated(100, 1000), { maxBytes: 50_000, maxEntries: 10, thumbnailBudget: 0, maxEntryChars: 4096 }, () => {})).rejects.toMatchObject({ code: "E_REMOTE_TOO_LARGE" });
    const seen: unknown[] = [];
    const capped = await parseRemoteCatalog(generated(1000, 10), { maxBytes: 1 << 20, maxEntries: 10, thumbnailBudget: 0, maxEntryChars: 4096 }, (r) => seen.push(r));
    expect(seen).toHaveLength(10);
    expect(capped.bytes).toBeLessThan(1 << 20);
    const big = await parseRemoteCatalog(
      new Response(JSON.stringify({ entries: [{ id: "a", description: "x".repeat(10_000) }, { id: "b" }] })).body!,
      { maxBytes: 1 << 20, maxEntries: 10, thumbnailBudget: 0, maxEntryChars: 4096 },
      (r) => seen.push(r),
    );
    expect(big).toMatchObject({ entries: 1, oversized: 1 });
  });

  it("an original server with 200 fat entries (~50 MB) aggregates: all entries, thumbnails within the budget", async () => {
    const body = await merged({
      REMOTE_SERVERS: JSON.stringify([{ id: "fat", name: "Fat original", url: "http://fat.remote.test", color: "#abcdef" }]),
      REMOTE_MAX_BYTES: String(64 * 1024 * 1024),
      REMOTE_TIMEOUT_MS: "60000",
      REMOTE_THUMBNAIL_BUDGET: String(1024 * 1024),
    }, "?source=fat");
    expect(body.sources.find((s) => s.id === "fat")).toMatchObject({ status: "ok", count: FAT_ENTRIES, error: null });
    expect(body.entries).toHaveLength(FAT_ENTRIES);
    const withThumb = body.entries.filter((e) => e.thumbnail !== "");
    expect(withThumb).toHaveLength(4);
    expect(body.entries.every((e) => e.source.id === "fat" && e.sourceServerColor === "#abcdef" && e.distro === "fatdistro")).toBe(true);
  }, 120_000);
});

describe("remote cache in D1", () => {
  const remotes = JSON.stringify([{ id: "count-d1", name: "Counter", url: "http://count-d1cache.remote.test" }]);
  it("a cold isolate serves a fresh remote from D1 without asking it; past freshness it asks once", async () => {
    const first = await merged({ REMOTE_SERVERS: remotes }, "?source=count-d1");
    expect(first.entries.map((e) => e.id)).toEqual(["fetched-1"]);
    clearRemoteCache(); // a new isolate: memory is empty, D1 is not
    const cold = await merged({ REMOTE_SERVERS: remotes }, "?source=count-d1");
    expect(cold.entries.map((e) => e.id)).toEqual(["fetched-1"]);
    expect(cold.sources[1]).toMatchObject({ status: "ok", stale: false });
    clearRemoteCache();
    const stale = await merged({ REMOTE_SERVERS: remotes, REMOTE_FRESH_SECONDS: "0" }, "?source=count-d1");
    expect(stale.entries.map((e) => e.id)).toEqual(["fetched-1"]); // served stale at once, refreshed in the background
    clearRemoteCache();
    const refreshed = await merged({ REMOTE_SERVERS: remotes }, "?source=count-d1");
    expect(refreshed.entries.map((e) => e.id)).toEqual(["fetched-2"]); // the background refresh reached D1
  });
});
