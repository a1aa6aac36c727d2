/** Stale-while-revalidate logic with an injected fetch and clock (no network, no waiting). */
import { beforeEach, expect, it } from "vitest";
import type { SourceInfo } from "../../shared/catalog";
import { type CachePolicy, clearRemoteCache, getRemote } from "./cache";
import type { FetchFn } from "./fetch";

const source: SourceInfo = { id: "r", name: "R", url: "http://r.test", color: "#000" };
let now = 1_000_000;
let calls = 0;
let mode: "ok" | "fail" | "hang" = "ok";
const pending: Promise<unknown>[] = [];

const fetchFn: FetchFn = async (_url, init) => {
  calls++;
  if (mode === "fail") return new Response("no", { status: 503 });
  if (mode === "hang") return new Promise((_, reject) => init.signal?.addEventListener("abort", () => reject(new Error("aborted"))));
  return Response.json({ entries: [{ id: `e${calls}`, name: "n" }] });
};

const opts = { fetch: fetchFn, timeoutMs: 50, maxBytes: 1 << 20 };
const policy = (o: Partial<CachePolicy> = {}): CachePolicy => ({ freshMs: 60_000, staleMs: 600_000, noCache: false, waitUntil: (p) => pending.push(p), now: () => now, ...o });

beforeEach(() => {
  clearRemoteCache();
  calls = 0;
  mode = "ok";
  pending.length = 0;
});

it("fresh hits do not fetch; stale hits answer at once and refresh once in the background", async () => {
  const a = await getRemote(source, opts, policy());
  expect(a.result.entries.map((e) => e.id)).toEqual(["e1"]);
  now += 30_000;
  expect((await getRemote(source, opts, policy())).result.entries[0]!.id).toBe("e1");
  expect(calls).toBe(1);
  now += 60_000; // stale
  const s1 = await getRemote(source, opts, policy());
  const s2 = await getRemote(source, opts, policy());
  expect([s1.stale, s2.stale]).toEqual([true, true]);
  expect(s1.result.entries[0]!.id).toBe("e1");
  expect(pending).toHaveLength(1); // one background refresh, not two
  await Promise.all(pending);
  const after = await getRemote(source, opts, policy());
  expect(after.result.entries[0]!.id).toBe("e2");
  expect(after.stale).toBe(false);
});

it("past the stale window the request waits for a new answer; no-cache always does", async () => {
  await getRemote(source, opts, policy());
  now += 60_000 + 600_000 + 1;
  expect((await getRemote(source, opts, policy())).result.entries[0]!.id).toBe("e2");
  expect((await getRemote(source, opts, policy({ noCache: true }))).result.entries[0]!.id).toBe("e3");
});

it("a failed refresh keeps serving the last good entries, marked stale, with the error", async () => {
  await getRemote(source, opts, policy());
  mode = "fail";
  const r = await getRemote(source, opts, policy({ noCache: true }));
  expect(r.result.status).toBe("error");
  expect(r.result.error?.code).toBe("E_REMOTE_HTTP");
  expect(r.result.entries.map((e) => e.id)).toEqual(["e1"]);
  expect(r.stale).toBe(true);
});

it("a hanging server times out, and the failure is cached for the freshness window", async () => {
  mode = "hang";
  const r = await getRemote(source, opts, policy());
  expect(r.result.status).toBe("timeout");
  expect((await getRemote(source, opts, policy())).result.status).toBe("timeout");
  expect(calls).toBe(1);
});
