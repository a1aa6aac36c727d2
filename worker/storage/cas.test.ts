/** The two conditional writes the storage design stands on, against the local R2 the tests use. */
import { env } from "cloudflare:workers";
import { expect, it } from "vitest";
import { createOnly, readVersion, swap } from "./cas";

it("create-only: writes when absent, answers null (and writes nothing) when the key exists", async () => {
  const first = await createOnly(env.BUCKET, "cas/create", "one");
  expect(first).not.toBeNull();
  expect(await createOnly(env.BUCKET, "cas/create", "two")).toBeNull();
  expect(await (await env.BUCKET.get("cas/create"))!.text()).toBe("one");
});

it("swap: replaces exactly the version read; a stale version (or a vanished one) answers null", async () => {
  const absent = await readVersion(env.BUCKET, "cas/swap");
  expect(absent.etag).toBeNull();
  expect(await swap(env.BUCKET, absent, { n: "1" })).not.toBeNull(); // from "no object"
  expect(await swap(env.BUCKET, absent, { n: "stale" })).toBeNull(); // "no object" is stale now
  const v1 = await readVersion(env.BUCKET, "cas/swap");
  expect(v1.meta).toEqual({ n: "1" });
  expect(await swap(env.BUCKET, v1, { n: "2" })).not.toBeNull();
  expect(await swap(env.BUCKET, v1, { n: "lost" })).toBeNull(); // v1 was replaced
  const v2 = await readVersion(env.BUCKET, "cas/swap");
  expect(v2.meta).toEqual({ n: "2" });
  expect(v2.etag).not.toBe(v1.etag); // every write has its own ETag (fresh body), even with equal metadata
  await env.BUCKET.delete("cas/swap");
  expect(await swap(env.BUCKET, v2, { n: "gone" })).toBeNull();
});
