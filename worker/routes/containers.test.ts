/**
 * The status/header matrix of container serving, for every URL that serves container bytes
 * (by id, by blob SHA-256, and the v1.2 compatibility aliases), GET and HEAD, against local R2.
 * Digest headers are checked by hashing the bytes actually received.
 */
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { base64ToBytes } from "../test/b64";
import { gatedBucket } from "../test/gated-bucket";
import { bearer, call, errorCode, type Fixture, makeContainer, publish, sha256Hex } from "../test/helpers";

let f: Fixture;

// R2 state is shared by the tests of one file (vitest-pool-workers 0.15 isolates per file).
beforeAll(async () => {
  f = await makeContainer(5000, { type: "kernel", name: "demo", description: "demo kernel" });
  expect((await publish("demo", f)).status).toBe(201);
});

const routes = (sha: () => string) => [
  { name: "id", path: () => "/api/v1/containers/demo", cache: "public, max-age=60, must-revalidate" },
  { name: "blob", path: () => `/blobs/sha256/${sha()}`, cache: "public, max-age=31536000, immutable" },
  { name: "id.rts.png", path: () => "/api/v1/containers/demo.rts.png", cache: "public, max-age=60, must-revalidate" },
  { name: "v1.2 download", path: () => "/api/container/demo/download", cache: "public, max-age=60, must-revalidate" },
  { name: "v1.2 catalog data", path: () => "/api/v1/catalog/demo/data", cache: "public, max-age=60, must-revalidate" },
];

async function bodyOf(res: Response): Promise<Uint8Array> {
  return new Uint8Array(await res.arrayBuffer());
}

/** `inner`, except that the object versions in `aged` (key → ETag) report an upload time `ms` earlier. */
function agedBucket(inner: R2Bucket, aged: Map<string, string>, ms: number): R2Bucket {
  const age = <T extends R2Object | null>(o: T): T => {
    if (!o || aged.get(o.key) !== o.etag) return o;
    return new Proxy(o, {
      get(t, p) {
        if (p === "uploaded") return new Date(t.uploaded.getTime() - ms);
        const v = Reflect.get(t, p, t) as unknown;
        return typeof v === "function" ? v.bind(t) : v;
      },
    });
  };
  return new Proxy(inner, {
    get(t, p) {
      if (p === "head") return async (key: string) => age(await t.head(key));
      if (p === "get") return async (key: string, o?: R2GetOptions) => age(await t.get(key, o));
      const v = Reflect.get(t, p, t) as unknown;
      return typeof v === "function" ? v.bind(t) : v;
    },
  });
}

function expectDigestHeaders(res: Response, fx: Fixture) {
  expect(res.headers.get("x-pixelrts-sha256")).toBe(fx.sha256);
  const m = /^sha-256=:([A-Za-z0-9+/=]+):$/.exec(res.headers.get("repr-digest") ?? "");
  expect(m).not.toBeNull();
  expect([...base64ToBytes(m![1]!)].map((b) => b.toString(16).padStart(2, "0")).join("")).toBe(fx.sha256);
  expect(res.headers.get("x-pixelrts-data-hash")).toBe(fx.dataHash);
  expect(res.headers.get("x-pixelrts-data-size")).toBe(String(fx.dataSize));
}

describe.each(routes(() => f.sha256))("$name", (route) => {
  const url = () => route.path();

  for (const method of ["GET", "HEAD"] as const) {
    describe(method, () => {
      it("200 with validators, exact length, digests (checked against the bytes), cache policy", async () => {
        const res = await call(url(), { method });
        expect(res.status).toBe(200);
        expect(res.headers.get("content-type")).toBe("image/png");
        expect(res.headers.get("content-length")).toBe(String(f.bytes.length));
        expect(res.headers.get("accept-ranges")).toBe("bytes");
        expect(res.headers.get("etag")).toMatch(/^"[^"]+"$/);
        expect(new Date(res.headers.get("last-modified")!).getTime()).not.toBeNaN();
        expect(res.headers.get("cache-control")).toBe(route.cache);
        expectDigestHeaders(res, f);
        const body = await bodyOf(res);
        if (method === "GET") expect(await sha256Hex(body)).toBe(res.headers.get("x-pixelrts-sha256"));
        else expect(body.length).toBe(0);
      });

      it.each([
        ["bytes=10-19", 10, 19],
        ["bytes=100-", 100, -1],
        ["bytes=-64", -64, -1],
        ["bytes=0-0", 0, 0],
      ])("206 for %s", async (range, a, b) => {
        const n = f.bytes.length;
        const start = a < 0 ? n + a : a;
        const end = b < 0 ? n - 1 : b;
        const res = await call(url(), { method, headers: { range } });
        expect(res.status).toBe(206);
        expect(res.headers.get("content-range")).toBe(`bytes ${start}-${end}/${n}`);
        expect(res.headers.get("content-length")).toBe(String(end - start + 1));
        expectDigestHeaders(res, f); // digests describe the whole file, also on 206
        const body = await bodyOf(res);
        if (method === "GET") expect(await sha256Hex(body)).toBe(await sha256Hex(f.bytes.slice(start, end + 1)));
        else expect(body.length).toBe(0);
      });

      it("416 with Content-Range: bytes */N for an unsatisfiable range (never R2's error)", async () => {
        for (const range of [`bytes=${f.bytes.length}-`, "bytes=999999999-1000000000", "bytes=-0"]) {
          const res = await call(url(), { method, headers: { range } });
          expect(res.status).toBe(416);
          expect(res.headers.get("content-range")).toBe(`bytes */${f.bytes.length}`);
          if (method === "GET") expect(await errorCode(res)).toBe("E_RANGE_NOT_SATISFIABLE");
          else expect((await bodyOf(res)).length).toBe(0);
        }
      });

      it("multi-range and malformed Range → the whole 200", async () => {
        for (const range of ["bytes=0-1,5-6", "bytes=abc", "bytes=5-1", "lines=1-2"]) {
          const res = await call(url(), { method, headers: { range } });
          expect(res.status).toBe(200);
          expect(res.headers.get("content-length")).toBe(String(f.bytes.length));
          if (method === "GET") expect(await sha256Hex(await bodyOf(res))).toBe(f.sha256);
        }
      });

      it("304 on If-None-Match / If-Modified-Since, carrying ETag, Last-Modified, Cache-Control and digests", async () => {
        const first = await call(url(), { method: "HEAD" });
        const etag = first.headers.get("etag")!;
        const lm = first.headers.get("last-modified")!;
        const cases: Record<string, string>[] = [{ "if-none-match": etag }, { "if-none-match": `"x", W/${etag}` }, { "if-modified-since": lm }, { "if-none-match": "*" }];
        for (const headers of cases) {
          const res = await call(url(), { method, headers });
          expect(res.status).toBe(304);
          expect(res.headers.get("etag")).toBe(etag);
          expect(res.headers.get("last-modified")).toBe(lm);
          expect(res.headers.get("cache-control")).toBe(route.cache);
          expectDigestHeaders(res, f);
          expect((await bodyOf(res)).length).toBe(0);
        }
        const changed = await call(url(), { method, headers: { "if-none-match": '"other"' } });
        expect(changed.status).toBe(200);
        await changed.arrayBuffer();
      });

      it("412 on a failed If-Match / If-Unmodified-Since", async () => {
        const cases: Record<string, string>[] = [{ "if-match": '"other"' }, { "if-unmodified-since": "Thu, 01 Jan 2015 00:00:00 GMT" }];
        for (const headers of cases) {
          const res = await call(url(), { method, headers });
          expect(res.status).toBe(412);
          expect(res.headers.get("etag")).toMatch(/^"/);
          if (method === "GET") expect(await errorCode(res)).toBe("E_PRECONDITION_FAILED");
        }
        const etag = (await call(url(), { method: "HEAD" })).headers.get("etag")!;
        const ok = await call(url(), { method, headers: { "if-match": etag, range: "bytes=0-3" } });
        expect(ok.status).toBe(206);
        await ok.arrayBuffer();
      });

      it("If-Range: matching validator → 206, stale one → whole 200", async () => {
        const head = await call(url(), { method: "HEAD" });
        const etag = head.headers.get("etag")!;
        const match = await call(url(), { method, headers: { range: "bytes=0-9", "if-range": etag } });
        expect(match.status).toBe(206);
        await match.arrayBuffer();
        const byDate = await call(url(), { method, headers: { range: "bytes=0-9", "if-range": head.headers.get("last-modified")! } });
        // a date is a strong validator only where the content can never change (blob URLs)
        expect(byDate.status).toBe(route.name === "blob" ? 206 : 200);
        await byDate.arrayBuffer();
        const stale = await call(url(), { method, headers: { range: "bytes=0-9", "if-range": '"stale"' } });
        expect(stale.status).toBe(200);
        expect(stale.headers.get("content-length")).toBe(String(f.bytes.length));
        await stale.arrayBuffer();
      });
    });
  }
});

describe("404s", () => {
  it.each([
    "/api/v1/containers/nope",
    "/api/v1/containers/..%2F..%2Fetc",
    `/blobs/sha256/${"0".repeat(64)}`,
    "/blobs/sha256/not-hex",
    "/api/container/nope/download",
    "/api/v1/catalog/nope/data",
    "/api/v1/containers/demo/thumbnail",
    "/no/such/route",
  ])("GET and HEAD %s → 404 JSON / no body", async (path) => {
    const res = await call(path);
    expect(res.status).toBe(404);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    expect(await errorCode(res)).toBe("E_NOT_FOUND");
    const head = await call(path, { method: "HEAD" });
    expect(head.status).toBe(404);
    expect((await bodyOf(head)).length).toBe(0);
  });
});

describe("integrity", () => {
  it("the verified marker vouches for one object only: any other object is not served (regression)", async () => {
    // a multipart-style object (no R2 checksum) whose bytes are not those of its SHA-256
    const sha = "ee".repeat(32);
    const gen = "0e".repeat(16);
    const key = `blobs/sha256/${sha}/${gen}`;
    const meta = (etag: string) => ({ v: "1", sha256: sha, size: String(f.bytes.length), gen, blob_etag: etag });
    const obj = await env.BUCKET.put(key, f.bytes, { customMetadata: { v: "1", sha256: sha, size: String(f.bytes.length) } });
    expect((await call(`/blobs/sha256/${sha}`)).status).toBe(404); // no marker at all
    await env.BUCKET.put(`verified/${sha}`, "1", { customMetadata: meta('"another-object"') });
    expect((await call(`/blobs/sha256/${sha}`)).status).toBe(404); // a marker for another object
    await env.BUCKET.put(`verified/${sha}`, "2", { customMetadata: meta(obj.httpEtag) });
    const ok = await call(`/blobs/sha256/${sha}`);
    expect(ok.status).toBe(200); // the marker names exactly this object
    expect(ok.headers.get("x-pixelrts-sha256")).toBe(sha);
    await ok.arrayBuffer();
    await env.BUCKET.put(key, f.bytes.slice(1), { customMetadata: { v: "1", sha256: sha } }); // replaced behind the marker's back
    for (const headers of [{}, { range: "bytes=0-9" }] as Record<string, string>[]) {
      const res = await call(`/blobs/sha256/${sha}`, { headers });
      expect(res.status).toBe(404);
      await res.arrayBuffer();
    }
  });

  it("a name's bytes are served only while they are the object its pointer verified (regression)", async () => {
    const g = await makeContainer(3000, { type: "kernel", name: "swapped" }, 21);
    expect((await publish("swapped", g)).status).toBe(201);
    const [blob] = (await env.BUCKET.list({ prefix: `blobs/sha256/${g.sha256}/` })).objects;
    expect((await call("/api/v1/containers/swapped", { method: "HEAD" })).status).toBe(200);
    await env.BUCKET.put(blob!.key, f.bytes); // other bytes, other ETag, no checksum
    for (const path of ["/api/v1/containers/swapped", `/blobs/sha256/${g.sha256}`]) {
      const res = await call(path);
      expect(res.status).toBe(404);
      await res.arrayBuffer();
    }
  });

  it("republishing a name with new bytes changes its ETag and digests", async () => {
    const old = await makeContainer(4000, { type: "kernel", name: "re" }, 3);
    expect((await publish("re", old)).status).toBe(201);
    const before = await call("/api/v1/containers/re", { method: "HEAD" });
    const g = await makeContainer(6000, { type: "kernel", name: "re" }, 2);
    expect((await publish("re", g)).status).toBe(200);
    const after = await call("/api/v1/containers/re", { headers: { "if-none-match": before.headers.get("etag")! } });
    expect(after.status).toBe(200);
    expect(after.headers.get("x-pixelrts-sha256")).toBe(g.sha256);
    expect(await sha256Hex(await bodyOf(after))).toBe(g.sha256);
    // the old blob is gone (no name refers to it)
    expect((await env.BUCKET.list({ prefix: `blobs/sha256/${old.sha256}/` })).objects).toEqual([]);
    expect((await call(`/blobs/sha256/${old.sha256}`)).status).toBe(404);
  });

  it("pointing a name back at an older blob never answers 304 or splices ranges by date (regression)", async () => {
    const v1 = await makeContainer(4000, { type: "kernel", name: "roll" }, 11);
    const v2 = await makeContainer(4000, { type: "kernel", name: "roll" }, 12);
    expect((await publish("roll-keep", v1)).status).toBe(201); // keeps v1's blob alive
    expect((await publish("roll", v1)).status).toBe(201);
    expect((await publish("roll", v2)).status).toBe(200);
    // HTTP dates count whole seconds. Rather than wait for the clock, let a day pass for what
    // exists now: read through a bucket that reports these versions a day older.
    const aged = new Map<string, string>();
    for (const prefix of [`blobs/sha256/${v1.sha256}/`, `blobs/sha256/${v2.sha256}/`, "containers/roll"]) {
      for (const o of (await env.BUCKET.list({ prefix })).objects) aged.set(o.key, o.etag);
    }
    const dayLater = agedBucket(env.BUCKET, aged, 86_400_000);
    const v2Head = await call("/api/v1/containers/roll", { method: "HEAD" }, dayLater); // what a client kept
    expect(v2Head.headers.get("x-pixelrts-sha256")).toBe(v2.sha256);
    expect((await publish("roll", v1)).status).toBe(200); // roll back, a day later
    const pointer = await env.BUCKET.head("containers/roll");
    const ims = await call("/api/v1/containers/roll", { headers: { "if-modified-since": v2Head.headers.get("last-modified")! } }, dayLater);
    expect(ims.status).toBe(200); // the blob is older than the client's copy, the name's change is not
    expect(ims.headers.get("last-modified")).toBe(pointer!.uploaded.toUTCString());
    expect(await sha256Hex(await bodyOf(ims))).toBe(v1.sha256);
    const dated = await call("/api/v1/containers/roll", { headers: { range: "bytes=100-", "if-range": ims.headers.get("last-modified")! } }, dayLater);
    expect(dated.status).toBe(200); // a date is not a strong validator on a mutable URL
    await dated.arrayBuffer();
  });

  it("ignores If-Modified-Since / If-Unmodified-Since values that are not HTTP-dates (regression)", async () => {
    expect((await call("/api/v1/containers/demo", { headers: { "if-modified-since": "Dec 2099" } })).status).toBe(200);
    expect((await call("/api/v1/containers/demo", { headers: { "if-unmodified-since": "1" } })).status).toBe(200);
  });
});

/**
 * A read that overlaps a republish: the GET reads the pointer, the republish swaps it and collects
 * the generation the GET was about to read, then the GET reads the object. It used to answer 404
 * for a name that existed all along (and the agent does not retry a 404). Held before each of its
 * R2 calls in turn (worker/test/gated-bucket.ts) while the other request runs to the end.
 */
describe("reads overlapping a republish never answer 404 for a name that exists (regression)", () => {
  type Case = { label: string; init: RequestInit; status: number; slice: number };
  const cases: Case[] = [
    { label: "GET", init: {}, status: 200, slice: 0 },
    { label: "GET with Range", init: { headers: { range: "bytes=10-" } }, status: 206, slice: 10 },
    { label: "GET with If-None-Match", init: { headers: { "if-none-match": '"other"' } }, status: 200, slice: 0 },
    { label: "HEAD", init: { method: "HEAD" }, status: 200, slice: 0 },
  ];

  /** Holds `path` before its k-th R2 call for every k, runs `meanwhile` there, and checks the answer. */
  async function everyHoldPoint(path: (run: number) => string, init: RequestInit, meanwhile: (run: number) => Promise<void>, check: (res: Response, run: number) => Promise<void>): Promise<number> {
    for (let k = 0; ; k++) {
      expect(k).toBeLessThan(20);
      const gated = gatedBucket(env.BUCKET, (i) => i === k);
      const pending = call(path(k), init, gated.bucket);
      const held = await Promise.race([gated.reached, pending.then(() => null)]);
      if (held === null) {
        await (await pending).arrayBuffer();
        return k; // finished before its k-th call: every hold point tried
      }
      await meanwhile(k);
      gated.open();
      await check(await pending, k);
    }
  }

  it.each(cases)("by name, $label: the new bytes", async ({ init, status, slice }) => {
    const name = `race-${slice}-${init.method ?? "GET"}-${Object.keys(init.headers ?? {}).join("")}`;
    const versions = [await makeContainer(3000, { type: "kernel", name }, 41), await makeContainer(3100, { type: "kernel", name }, 42)];
    expect((await publish(name, versions[0]!)).status).toBe(201);
    const holds = await everyHoldPoint(
      () => `/api/v1/containers/${name}`,
      init,
      async (run) => {
        const res = await publish(name, versions[(run + 1) % 2]!); // the generation read so far is collected
        expect(res.status).toBe(200);
        await res.arrayBuffer();
      },
      async (res, run) => {
        const now = versions[(run + 1) % 2]!;
        expect(res.status, `held before call ${run}`).toBe(status);
        expect(res.headers.get("x-pixelrts-sha256")).toBe(now.sha256);
        const body = new Uint8Array(await res.arrayBuffer());
        if (init.method !== "HEAD") expect(await sha256Hex(body)).toBe(await sha256Hex(now.bytes.slice(slice)));
      },
    );
    expect(holds).toBeGreaterThanOrEqual(2); // held at least between the pointer read and the object read
  });

  it("a name republished before every read of its bytes: 503 E_CONFLICT with Retry-After after 3 resolutions, never 404", async () => {
    const versions = [await makeContainer(3000, { type: "kernel", name: "race-busy" }, 47), await makeContainer(3100, { type: "kernel", name: "race-busy" }, 48)];
    expect((await publish("race-busy", versions[0]!)).status).toBe(201);
    let republished = 0;
    const busy = new Proxy(env.BUCKET, {
      get(target, prop) {
        const real = Reflect.get(target, prop) as (...a: unknown[]) => unknown;
        if (prop !== "get") return typeof real === "function" ? real.bind(target) : real;
        return async (key: string, o?: R2GetOptions) => {
          if (key.startsWith("blobs/")) expect((await publish("race-busy", versions[++republished % 2]!)).status).toBe(200);
          return target.get(key, o);
        };
      },
    });
    const res = await call("/api/v1/containers/race-busy", {}, busy);
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("1");
    expect(await errorCode(res)).toBe("E_CONFLICT");
    expect(republished).toBe(3);
  });

  it("by blob URL: the bytes published again under a new generation after a delete", async () => {
    const f = await makeContainer(3200, { type: "kernel", name: "race-blob" }, 43);
    expect((await publish("race-blob", f)).status).toBe(201);
    const holds = await everyHoldPoint(
      () => `/blobs/sha256/${f.sha256}`,
      {},
      async () => {
        expect((await call("/api/v1/containers/race-blob", { method: "DELETE", headers: bearer })).status).toBe(200);
        expect((await publish("race-blob", f)).status).toBe(201); // a new generation of the same bytes
      },
      async (res, run) => {
        expect(res.status, `held before call ${run}`).toBe(200);
        expect(await sha256Hex(await res.arrayBuffer())).toBe(f.sha256);
      },
    );
    expect(holds).toBeGreaterThanOrEqual(2);
  });

  it("a thumbnail replaced while it is read: the new one", async () => {
    const f = await makeContainer(3300, { type: "kernel", name: "race-thumb" }, 44);
    expect((await publish("race-thumb", f)).status).toBe(201);
    const thumbs = [(await makeContainer(16, { type: "x" }, 45)).bytes, (await makeContainer(20, { type: "x" }, 46)).bytes];
    const putThumb = async (t: Uint8Array) => {
      const res = await call("/api/v1/containers/race-thumb/thumbnail", { method: "PUT", body: t, headers: bearer });
      expect(res.status).toBe(201);
      await res.arrayBuffer();
    };
    await putThumb(thumbs[0]!);
    const holds = await everyHoldPoint(
      () => "/api/v1/containers/race-thumb/thumbnail",
      {},
      (run) => putThumb(thumbs[(run + 1) % 2]!), // deletes the thumbnail read so far
      async (res, run) => {
        expect(res.status, `held before call ${run}`).toBe(200);
        expect(await sha256Hex(await res.arrayBuffer())).toBe(await sha256Hex(thumbs[(run + 1) % 2]!));
      },
    );
    expect(holds).toBeGreaterThanOrEqual(2);
  });
});
