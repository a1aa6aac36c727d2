/** fetchRemoteCatalog with an injected fetch: the deadline ends the outbound request itself, not just the wait. */
import { expect, it } from "vitest";
import type { SourceInfo } from "../../shared/catalog";
import { type FetchFn, fetchRemoteCatalog } from "./fetch";

const source: SourceInfo = { id: "r", name: "R", url: "http://r.test", color: "#000" };

/** A fetch that records the signal it was given and never answers (or answers headers, then stalls the body). */
function stalling(stage: "headers" | "body"): { fetch: FetchFn; signal: () => AbortSignal | undefined } {
  let seen: AbortSignal | undefined;
  const fetch: FetchFn = (_url, init) => {
    seen = init.signal ?? undefined;
    if (stage === "headers") return new Promise<Response>(() => {});
    return Promise.resolve(new Response(new ReadableStream({ pull: () => new Promise<void>(() => {}) })));
  };
  return { fetch, signal: () => seen };
}

it.each(["headers", "body"] as const)("aborts the outbound request when the deadline passes while waiting for the %s (regression)", async (stage) => {
  const remote = stalling(stage);
  const r = await fetchRemoteCatalog(source, { fetch: remote.fetch, timeoutMs: 20, maxBytes: 1024 });
  expect(r).toMatchObject({ status: "timeout", entries: [], error: { code: "E_REMOTE_TIMEOUT" } });
  expect(remote.signal()).toBeDefined();
  expect(remote.signal()!.aborted).toBe(true);
});

it("does not abort a request that answered in time", async () => {
  let seen: AbortSignal | undefined;
  const fetch: FetchFn = async (_url, init) => {
    seen = init.signal ?? undefined;
    return Response.json({ entries: [{ id: "a", name: "a" }] });
  };
  const r = await fetchRemoteCatalog(source, { fetch, timeoutMs: 10_000, maxBytes: 1024 });
  expect(r.status).toBe("ok");
  expect(r.entries.map((e) => e.id)).toEqual(["a"]);
  expect(seen!.aborted).toBe(false);
});
