/**
 * The pages a person opens, rendered by the real Worker from the index (worker/routes/home.tsx):
 * escaping by construction, search and filters through the index, pages, the detail page's facts
 * and commands, and HTML errors for browsers. (Layout, copy buttons and accessibility are checked
 * in real Chromium: test/page-catalog.test.ts.)
 */
import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import app from "../index";
import { bearer, call, makeContainer, ORIGIN, publish } from "../test/helpers";
import { envelope, newKey, signatureHeader } from "../test/signing";

const html = { accept: "text/html,application/xhtml+xml" };
/** A page of this Worker alone (no remote servers), unless `remotes` says otherwise. */
const page = async (path: string, remotes = "[]") => {
  const res = await app.fetch(new Request(ORIGIN + path, { headers: html }), { ...env, REMOTE_SERVERS: remotes }, createExecutionContext());
  expect(res.status, path).toBe(200);
  expect(res.headers.get("content-type")).toMatch(/^text\/html/);
  return res.text();
};
const tileNames = (doc: string) => [...doc.matchAll(/<span class="tile-name">([^<]*)<\/span>/g)].map((m) => m[1]);

let signer: Awaited<ReturnType<typeof newKey>>;

beforeAll(async () => {
  signer = await newKey();
  const specs: [string, Record<string, string>, Record<string, string>][] = [
    ["page-alpine", { type: "boot-bundle", name: "alpine", description: "Alpine Linux, tiny" }, { "x-pixelrts-distro": "alpine", "x-pixelrts-arch": "x86_64" }],
    ["page-debian", { type: "kernel", name: "vmlinuz", description: "Debian cloud kernel" }, { "x-pixelrts-distro": "debian", "x-pixelrts-arch": "aarch64" }],
    ["page-data", { type: "data", name: "blob", description: '<script>alert("x")</script>' }, {}],
  ];
  let seed = 700;
  for (const [name, caller, headers] of specs) {
    const f = await makeContainer(800 + seed, caller, seed++);
    const extra = name === "page-debian" ? signatureHeader(await envelope(signer, { name, sha256: f.sha256, size: f.bytes.length })) : {};
    const res = await publish(name, f, { ...headers, ...extra });
    expect(res.status).toBe(201);
    await res.arrayBuffer();
  }
  for (let i = 0; i < 30; i++) {
    const f = await makeContainer(300 + i, { type: "os", name: `bulk${i}` }, 900 + i);
    const res = await publish(`page-bulk-${String(i).padStart(2, "0")}`, f, { "x-pixelrts-distro": "bulkdistro" });
    expect(res.status).toBe(201);
    await res.arrayBuffer();
  }
});

describe("GET /", () => {
  it("answers JSON links to API clients", async () => {
    const res = await call("/");
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    expect(await res.json()).toMatchObject({ catalog: expect.stringMatching(/\/api\/v1\/catalog$/) });
  });

  it("renders the catalog as HTML with every value escaped, a viewport and both colour schemes", async () => {
    const doc = await page("/?q=script");
    expect(doc.startsWith("<!doctype html>")).toBe(true);
    expect(doc).toContain('<meta name="viewport" content="width=device-width, initial-scale=1"/>');
    expect(doc).toContain("prefers-color-scheme:dark");
    expect(doc).toContain("image-rendering:pixelated");
    expect(doc).not.toContain('<script>alert("x")');
    const all = await page("/?distro=&type=data");
    expect(tileNames(all)).toEqual(["page-data"]);
    const detail = await page("/containers/page-data");
    expect(detail).toContain("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;");
    expect(detail.match(/<script>/g)).toHaveLength(1); // the copy-button script only
  });

  it("search, filters and sort use the index; pages of 24", async () => {
    expect(tileNames(await page("/?q=alpine"))).toEqual(["page-alpine"]);
    expect(tileNames(await page("/?q=cloud+kernel"))).toEqual(["page-debian"]);
    expect(tileNames(await page("/?arch=arm64"))).toEqual(["page-debian"]);
    expect(tileNames(await page("/?distro=ALPINE"))).toEqual(["page-alpine"]);
    const first = await page("/?distro=bulkdistro");
    expect(tileNames(first)).toHaveLength(24);
    expect(first).toContain("1–24 of 30 containers matching");
    expect(first).toContain('href="/?distro=bulkdistro&amp;page=2"');
    const second = await page("/?distro=bulkdistro&page=2");
    expect(tileNames(second)).toEqual(Array.from({ length: 6 }, (_, i) => `page-bulk-${String(24 + i).padStart(2, "0")}`));
    const newest = tileNames(await page("/?distro=bulkdistro&sort=date"));
    expect(newest[0]).toBe("page-bulk-29");
    // the filter lists offer the index's values
    expect(first).toMatch(/<option value="bulkdistro" selected="">bulkdistro<\/option>/);
    expect(first).toContain('<option value="aarch64">aarch64</option>');
  });

  it("lists the sources with their colours", async () => {
    const doc = await page("/?q=alpine", env.REMOTE_SERVERS as string);
    expect(doc).toContain('style="--source:#4f8cff"');
    expect(doc).toContain('style="--source:#222222"');
    expect(tileNames(doc)).toEqual(["page-alpine", "alpine-edge"]); // ours first, then the remote's
    expect(doc).toContain('href="/sources/edge/alpine-edge"');
    const remote = await page("/sources/edge/alpine-edge", env.REMOTE_SERVERS as string);
    expect(remote).toContain("Other edge");
    expect(remote).toContain("pixelrts servers add http://edge.remote.test");
    expect(doc).toMatch(/Fast two/); // a remote of the test config, answered by the fixtures
  });
});

describe("GET /containers/{name}", () => {
  it("shows both digests labelled, segments, source, signer key ids, and the commands (boot only when bootable)", async () => {
    const doc = await page("/containers/page-debian");
    expect(doc).toContain("<dt>file sha256</dt>");
    expect(doc).toContain("<dt>payload sha256</dt>");
    expect(doc).toContain(`<code>${signer.key.keyid}</code>`);
    expect(doc).toContain("pixelrts servers add http://edge.test");
    expect(doc).toContain('data-copy="pixelrts pull page-debian"');
    expect(doc).toContain('data-copy="pixelrts boot page-debian"');
    const data = await page("/containers/page-data");
    expect(data).toContain('data-copy="pixelrts pull page-data"');
    expect(data).not.toContain("pixelrts boot");
    expect(data).toContain("Not bootable");
  });

  it("unknown names are an HTML 404 for browsers, JSON for the API", async () => {
    const res = await call("/containers/nope", { headers: html });
    expect(res.status).toBe(404);
    expect(await res.text()).toContain("Not found");
    const api = await call("/containers/nope");
    expect(api.status).toBe(404);
    expect(await api.json()).toMatchObject({ error: { code: "E_NOT_FOUND" } });
    // a name of its own: the other tests count the bulk entries, in any order
    const f = await makeContainer(640, { type: "os", name: "gone" }, 640);
    expect((await publish("page-gone", f)).status).toBe(201);
    expect((await call("/containers/page-gone", { headers: html })).status).toBe(200);
    const del = await call("/api/v1/containers/page-gone", { method: "DELETE", headers: bearer });
    expect(del.status).toBe(200);
    expect((await call("/containers/page-gone", { headers: html })).status).toBe(404);
  });
});
