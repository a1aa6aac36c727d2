/**
 * The local catalog: original-server shape (v1.2 client compatibility), our fields, search and
 * filters, ETag/304, single-entry route, compatibility aliases, CORS.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { CatalogEntry, CatalogResponse } from "../../shared/catalog";
import { call, type Fixture, makeContainer, ORIGIN, publish } from "../test/helpers";

const fixtures: Record<string, Fixture> = {};

beforeAll(async () => {
  const specs: [string, Record<string, string>, Record<string, string>][] = [
    ["alpine-x86", { type: "boot-bundle", name: "alpine", description: "Alpine Linux, tiny and fast" }, { "x-pixelrts-distro": "alpine", "x-pixelrts-arch": "x86_64" }],
    ["alpine-arm", { type: "boot-bundle", name: "alpine", description: "Alpine for ARM boards" }, { "x-pixelrts-distro": "alpine", "x-pixelrts-arch": "aarch64" }],
    ["debian-kernel", { type: "kernel", name: "vmlinuz", description: "Debian cloud kernel" }, { "x-pixelrts-distro": "debian", "x-pixelrts-arch": "amd64" }],
    ["snapshot", { type: "vm-snapshot", description: "a saved VM" }, {}],
  ];
  let seed = 100;
  for (const [name, caller, headers] of specs) {
    const f = await makeContainer(700 + seed, caller, seed++);
    fixtures[name] = f;
    const res = await publish(name, f, headers);
    expect(res.status).toBe(201);
    await res.arrayBuffer();
  }
});

async function catalog(query = ""): Promise<CatalogResponse> {
  const res = await call(`/api/v1/catalog${query}`);
  expect(res.status).toBe(200);
  return res.json<CatalogResponse>();
}

describe("GET /api/v1/catalog", () => {
  it("has every field of the original server with the original JSON types", async () => {
    const body = await catalog();
    expect(body.grid_dimensions).toEqual({ width: 5, height: 2 }); // 4 entries in a row: max x 3 + 2, max y 0 + 2
    expect(body.entries.map((e) => e.position)).toEqual([0, 1, 2, 3].map((x) => ({ x, y: 0 })));
    for (const e of body.entries) {
      expect(typeof e.id).toBe("string");
      expect(e.id).toMatch(/^[A-Za-z0-9._-]+$/);
      expect(typeof e.name).toBe("string");
      expect(typeof e.path).toBe("string");
      expect(Number.isInteger(e.size)).toBe(true);
      for (const k of ["kernel_version", "distro", "architecture", "visual_description"] as const) expect(e[k] === null || typeof e[k] === "string").toBe(true);
      expect(Array.isArray(e.detected_objects)).toBe(true);
      expect(typeof e.thumbnail).toBe("string");
      expect(e.hash).toBe(fixtures[e.id]!.sha256); // the file's SHA-256, what v1.2 checks
      expect(e.hash).not.toBe(e.data_hash);
      expect(e.size).toBe(fixtures[e.id]!.bytes.length);
      expect(e.url).toBe(`${ORIGIN}/api/v1/containers/${e.id}`);
      expect(e.source).toEqual({ id: "local", name: "PixelRTS Edge", url: ORIGIN, color: "#4f8cff" });
    }
    expect(body.next_cursor).toBeNull();
  });

  it.each<[string, string[]]>([
    ["?q=alpine", ["alpine-arm", "alpine-x86"]],
    ["?q=ALPINE%20arm", ["alpine-arm"]],
    ["?q=cloud", ["debian-kernel"]],
    ["?q=nothing-matches", []],
    ["?distro=Alpine", ["alpine-arm", "alpine-x86"]],
    ["?arch=x86_64", ["alpine-x86", "debian-kernel"]], // amd64 is an alias
    ["?arch=arm64", ["alpine-arm"]],
    ["?type=vm-snapshot", ["snapshot"]],
    ["?type=boot-bundle&arch=aarch64", ["alpine-arm"]],
    ["?source=local", ["alpine-arm", "alpine-x86", "debian-kernel", "snapshot"]],
    ["?source=elsewhere", []],
    ["?q=", ["alpine-arm", "alpine-x86", "debian-kernel", "snapshot"]],
  ])("filters %s", async (query, ids) => {
    const body = await catalog(query);
    expect(body.entries.map((e) => e.id).sort()).toEqual(ids);
    body.entries.forEach((e, i) => expect(e.position).toEqual({ x: i % 10, y: Math.floor(i / 10) }));
  });

  it("pages with limit/cursor (filters apply across pages); bad parameters are 400", async () => {
    const p1 = await catalog("?limit=3");
    expect(p1.entries).toHaveLength(3);
    expect(p1.next_cursor).toEqual(expect.any(String));
    const p2 = await catalog(`?limit=3&cursor=${encodeURIComponent(p1.next_cursor!)}`);
    expect(p2.entries.map((e) => e.id)).toEqual(["snapshot"]);
    expect(p2.entries[0]!.position).toEqual({ x: 3, y: 0 });
    expect(p2.next_cursor).toBeNull();
    const f1 = await catalog("?distro=alpine&limit=1");
    const f2 = await catalog(`?distro=alpine&limit=1&cursor=${f1.next_cursor}`);
    expect([...f1.entries, ...f2.entries].map((e) => e.id)).toEqual(["alpine-arm", "alpine-x86"]);
    expect(f2.next_cursor).toBeNull();
    for (const q of ["?limit=0", "?limit=1001", "?limit=abc", "?cursor=garbage"]) {
      const res = await call(`/api/v1/catalog${q}`);
      expect(res.status).toBe(400);
      await res.arrayBuffer();
    }
  });

  it("sends an ETag and answers 304 to If-None-Match; HEAD has no body", async () => {
    const a = await call("/api/v1/catalog");
    const etag = a.headers.get("etag")!;
    expect(etag).toMatch(/^"v\d+-[0-9a-f]{24}"$/);
    expect(a.headers.get("cache-control")).toMatch(/must-revalidate/);
    await a.arrayBuffer();
    const b = await call("/api/v1/catalog", { headers: { "if-none-match": etag } });
    expect(b.status).toBe(304);
    expect(b.headers.get("etag")).toBe(etag);
    expect((await b.arrayBuffer()).byteLength).toBe(0);
    const filtered = await call("/api/v1/catalog?q=alpine", { headers: { "if-none-match": etag } });
    expect(filtered.status).toBe(200);
    await filtered.arrayBuffer();
    const head = await call("/api/v1/catalog", { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("etag")).toBe(etag);
    expect((await head.arrayBuffer()).byteLength).toBe(0);
    // the shared RFC 9110 evaluation: a failing If-Match is 412, a weak If-None-Match match is 304
    const stale = await call("/api/v1/catalog", { headers: { "if-match": '"someone-else"' } });
    expect(stale.status).toBe(412);
    expect(await stale.json()).toMatchObject({ error: { code: "E_PRECONDITION_FAILED" } });
    expect((await call("/api/v1/catalog", { headers: { "if-match": etag } })).status).toBe(200);
    expect((await call("/api/v1/catalog", { headers: { "if-none-match": `W/${etag}` } })).status).toBe(304);
  });
});

describe("original v1.2 client calls", () => {
  it("health answers {status: ok}", async () => {
    expect(await (await call("/api/v1/health")).json()).toMatchObject({ status: "ok" });
  });

  it("GET /api/v1/catalog/{id} → the entry, 404 JSON otherwise", async () => {
    const res = await call("/api/v1/catalog/alpine-x86");
    const e = await res.json<CatalogEntry>();
    expect(e).toMatchObject({ id: "alpine-x86", distro: "alpine", architecture: "x86_64", hash: fixtures["alpine-x86"]!.sha256 });
    const etag = res.headers.get("etag")!;
    const again = await call("/api/v1/catalog/alpine-x86", { headers: { "if-none-match": etag } });
    expect(again.status).toBe(304);
    const missing = await call("/api/v1/catalog/nope");
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error: { code: "E_NOT_FOUND" } });
  });

  it("download with If-None-Match revalidates to 304 and Content-Length is exact", async () => {
    const first = await call("/api/container/snapshot/download");
    expect(first.headers.get("content-length")).toBe(String(fixtures.snapshot!.bytes.length));
    expect((await first.arrayBuffer()).byteLength).toBe(fixtures.snapshot!.bytes.length);
    const again = await call("/api/container/snapshot/download", { headers: { "if-none-match": first.headers.get("etag")! } });
    expect(again.status).toBe(304);
  });

  it("CORS: preflight allows If-None-Match/Range, responses expose ETag and digests", async () => {
    const pre = await call("/api/container/snapshot/download", {
      method: "OPTIONS",
      headers: { origin: "http://client.example", "access-control-request-method": "GET", "access-control-request-headers": "if-none-match, range" },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers.get("access-control-allow-origin")).toBe("*");
    expect(pre.headers.get("access-control-allow-headers")!.toLowerCase()).toContain("if-none-match");
    expect(pre.headers.get("access-control-allow-methods")).toContain("GET");
    const get = await call("/api/v1/catalog", { headers: { origin: "http://client.example" } });
    expect(get.headers.get("access-control-allow-origin")).toBe("*");
    expect(get.headers.get("access-control-expose-headers")).toContain("ETag");
    await get.arrayBuffer();
    const err = await call("/api/v1/containers/nope", { headers: { origin: "http://client.example" } });
    expect(err.status).toBe(404);
    expect(err.headers.get("access-control-allow-origin")).toBe("*");
    await err.arrayBuffer();
    const bytes = await call("/api/v1/containers/snapshot", { headers: { origin: "http://client.example" } });
    expect(bytes.headers.get("access-control-expose-headers")).toContain("Repr-Digest");
    await bytes.arrayBuffer();
  });
});
