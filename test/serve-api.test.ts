/**
 * `pixelrts serve` through real HTTP on loopback, with a catalog server shaped like our Worker
 * and a fake QEMU that speaks QMP (test/helpers/serve-fixtures.ts): the original catalog server's
 * routes field for field, the VM state machine and its stop steps, validation, layout
 * persistence, SSE progress, and the security rules (Host, Origin, CORS, token).
 */
import { spawn } from "node:child_process";
import { request as httpRequest } from "node:http";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseBootFlags } from "../agent/boot/settings.js";
import { startServe, type Serve } from "../agent/serve/index.js";
import { makeTestAgent, type TestAgent } from "../agent/testing/harness.js";
import { bundle, catalogServer, readSse, sha, writeFakeQemu, type CatalogServer, type SseReader } from "./helpers/serve-fixtures.js";

const LISTED_ORIGIN = "http://127.0.0.1:9999";
const FOREIGN_ORIGIN = "http://evil.example";

let t: TestAgent;
let cat: CatalogServer;
let serve: Serve;
let sse: SseReader;
const bytes: Record<string, Uint8Array> = {};

const defaults = () => parseBootFlags({ kvm: "off", net: "none" });

async function start(agent = t.agent, extra: Partial<Parameters<typeof startServe>[0]> = {}): Promise<Serve> {
  return startServe({ agent, port: 0, bootDefaults: defaults(), allowOrigins: [LISTED_ORIGIN], stopTimeoutMs: 400, killTimeoutMs: 400, warn: () => {}, ...extra });
}

async function call(path: string, init: RequestInit & { json?: unknown } = {}, base = serve.url) {
  const headers = new Headers(init.headers);
  let body = init.body;
  if (init.json !== undefined) {
    headers.set("content-type", "application/json");
    body = JSON.stringify(init.json);
  }
  const res = await fetch(base + path, { ...init, headers, body });
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

/** A request with a Host header of our choosing (fetch may not set Host). */
function rawRequest(path: string, headers: Record<string, string>, method = "GET"): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; json: any }> {
  const u = new URL(serve.url);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: u.hostname, port: u.port, path, method, headers }, (res) => {
      let text = "";
      res.setEncoding("utf8").on("data", (d) => (text += d));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, json: text ? JSON.parse(text) : undefined }));
    });
    req.on("error", reject);
    req.end();
  });
}

/** Each field's JSON type: "string", "number", "boolean", "null", "array", "object". */
function typesOf(o: Record<string, unknown>, fields: string[]): Record<string, string> {
  return Object.fromEntries(fields.map((f) => [f, o[f] === null ? "null" : Array.isArray(o[f]) ? "array" : typeof o[f]]));
}

async function vmStates(vmId: string, until: string): Promise<string[]> {
  await sse.next((e) => e.event === "vm" && e.data.vm_id === vmId && e.data.status === until);
  const seq = sse.events.filter((e) => e.event === "vm" && e.data.vm_id === vmId).map((e) => e.data.status as string);
  return seq.filter((s, i) => s !== seq[i - 1]);
}

const PATH = process.env.PATH;
beforeAll(async () => {
  t = await makeTestAgent({ retries: 0 });
  process.env.PATH = `${writeFakeQemu(t.dir)}:${PATH}`;
  for (const [id, seed] of [["alpha", 1], ["beta", 3], ["gamma", 5], ["delta", 7], ["zeta", 11]] as const) bytes[id] = await bundle(seed);
  cat = await catalogServer(Object.entries(bytes).map(([id, b]) => ({ id, bytes: b })));
  await t.agent.servers.add({ url: cat.url, name: "edge", color: "#12ab34" });
  serve = await start();
  sse = await readSse(`${serve.url}/api/v1/events`);
}, 30_000);

afterAll(async () => {
  process.env.PATH = PATH; // test files share processes (vitest.config.ts): the next one gets the real QEMU
  sse?.close();
  await serve?.close();
  await cat?.close();
  await t?.cleanup();
});

describe("the original catalog server's routes, field for field", () => {
  it("GET /api/v1/health", async () => {
    const r = await call("/api/v1/health");
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ status: "ok", service: "pixelrts-serve" });
  });

  it("GET /api/v1/catalog: original fields with their types, grid_dimensions, plus source and this host's state", async () => {
    const r = await call("/api/v1/catalog");
    expect(r.status).toBe(200);
    expect(Object.keys(r.json)).toEqual(expect.arrayContaining(["entries", "grid_dimensions", "next_cursor", "source", "schema_version", "sources"]));
    expect(r.json.grid_dimensions).toEqual({ width: expect.any(Number), height: expect.any(Number) });
    const alpha = r.json.entries.find((e: { id: string }) => e.id === "alpha");
    expect(typesOf(alpha, ["id", "name", "path", "size", "kernel_version", "distro", "architecture", "thumbnail", "position"])).toEqual({ id: "string", name: "string", path: "string", size: "number", kernel_version: "null", distro: "string", architecture: "string", thumbnail: "string", position: "object" });
    expect(alpha.position).toEqual({ x: expect.any(Number), y: expect.any(Number) });
    expect(alpha).toMatchObject({ sha256: sha(bytes.alpha!), size: bytes.alpha!.length, source: { id: "edge", name: "edge", url: cat.url, color: "#12ab34" }, sourceServerColor: "#12ab34", cached: false, status: "stopped", segments: [{ name: "kernel" }] });
    expect(typesOf(alpha, ["cached", "verified", "pinned", "signed", "status"])).toEqual({ cached: "boolean", verified: "boolean", pinned: "boolean", signed: "null", status: "string" });
    expect(r.json.entries.map((e: { id: string }) => e.id).sort()).toEqual(["alpha", "beta", "delta", "gamma", "zeta"]);
    expect(r.json.sources.map((s: { id: string; status: string }) => [s.id, s.status])).toEqual([["edge", "ok"], ["cache", "ok"]]);
    // distinct cells, and the grid covers them (original rule: max + 2)
    const cells = new Set(r.json.entries.map((e: { position: { x: number; y: number } }) => `${e.position.x},${e.position.y}`));
    expect(cells.size).toBe(5);
    const maxX = Math.max(...r.json.entries.map((e: { position: { x: number } }) => e.position.x));
    expect(r.json.grid_dimensions.width).toBe(maxX + 2);
    // filters, and the ETag
    expect((await call("/api/v1/catalog?q=gamma")).json.entries.map((e: { id: string }) => e.id)).toEqual(["gamma"]);
    expect((await call("/api/v1/catalog", { headers: { "if-none-match": r.headers.get("etag")! } })).status).toBe(304);
  });

  it("GET /api/v1/catalog/{id}: the entry; 404 for none, 400 for an id that is not one", async () => {
    const r = await call("/api/v1/catalog/beta");
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ id: "beta", name: "beta", sha256: sha(bytes.beta!), source: { id: "edge" } });
    const none = await call("/api/v1/catalog/nope");
    expect([none.status, none.json.error.code, none.json.success]).toEqual([404, "E_NOT_FOUND", false]);
    for (const bad of ["a%20b", "..x", "-x", "x".repeat(201)]) expect((await call(`/api/v1/catalog/${bad}`)).json.error.code, bad).toBe("E_BAD_NAME");
  });

  it("/api/container/{id}/download and …/data: pulled first (events on the stream), then streamed from the cache with digests, 304 and ranges", async () => {
    const r = await call("/api/container/gamma/download");
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toBe("image/png");
    expect(r.headers.get("x-pixelrts-sha256")).toBe(sha(bytes.gamma!));
    expect(r.headers.get("content-length")).toBe(String(bytes.gamma!.length));
    const done = await sse.next((e) => e.event === "pull" && e.data.entry_id === "gamma" && e.data.event === "done");
    expect(done.data).toMatchObject({ sha256: sha(bytes.gamma!), from_cache: false });
    const data = await fetch(`${serve.url}/api/v1/catalog/gamma/data`);
    expect(sha(new Uint8Array(await data.arrayBuffer()))).toBe(sha(bytes.gamma!));
    expect(cat.requests.filter((p) => p === "/c/gamma.rts.png")).toHaveLength(1); // the second came from the cache
    expect((await call("/api/v1/catalog/gamma/data", { headers: { "if-none-match": `"${sha(bytes.gamma!)}"` } })).status).toBe(304);
    const part = await fetch(`${serve.url}/api/v1/catalog/gamma/data`, { headers: { range: "bytes=10-19" } });
    expect([part.status, part.headers.get("content-range")]).toEqual([206, `bytes 10-19/${bytes.gamma!.length}`]);
    expect(new Uint8Array(await part.arrayBuffer())).toEqual(bytes.gamma!.subarray(10, 20));
    expect((await call("/api/v1/catalog/gamma/data", { headers: { range: `bytes=${bytes.gamma!.length}-` } })).status).toBe(416);
    // the Worker's Range policy (shared/http-range.ts): a backwards range is ignored (200), a suffix is clipped
    const backwards = await fetch(`${serve.url}/api/v1/catalog/gamma/data`, { headers: { range: "bytes=5-3" } });
    expect([backwards.status, (await backwards.arrayBuffer()).byteLength]).toEqual([200, bytes.gamma!.length]);
    const suffix = await fetch(`${serve.url}/api/v1/catalog/gamma/data`, { headers: { range: "Bytes = -5" } });
    expect([suffix.status, suffix.headers.get("content-range")]).toEqual([206, `bytes ${bytes.gamma!.length - 5}-${bytes.gamma!.length - 1}/${bytes.gamma!.length}`]);
    await suffix.arrayBuffer();
    const entry = (await call("/api/v1/catalog/gamma")).json;
    expect(entry).toMatchObject({ cached: true, verified: true });
    expect(entry.thumbnail_url).toBe(`${serve.url}/api/v1/catalog/gamma/thumbnail`);
    const thumb = await fetch(entry.thumbnail_url);
    expect([thumb.status, thumb.headers.get("content-type")]).toEqual([200, "image/png"]);
  });

  it("GET and POST /api/v1/catalog/refresh: {success, entries_count, message}", async () => {
    for (const method of ["GET", "POST"]) {
      const r = await call("/api/v1/catalog/refresh", { method });
      expect(r.status, method).toBe(200);
      expect(typesOf(r.json, ["success", "entries_count", "message"])).toEqual({ success: "boolean", entries_count: "number", message: "string" });
      expect(r.json).toMatchObject({ success: true, entries_count: 5 });
    }
  });
});

describe("boot, status, stop (fake QEMU speaking QMP)", () => {
  it("POST …/boot answers the original BootResponse; status goes booting → running → stopped; the serial log has the console", async () => {
    const r = await call("/api/v1/catalog/alpha/boot", { method: "POST", json: { memory: "256M", cpus: 2, cmdline: "quiet" } });
    expect(r.status).toBe(200);
    expect(typesOf(r.json, ["success", "entry_id", "entry_name", "vnc_port", "pid", "error_message"])).toEqual({ success: "boolean", entry_id: "string", entry_name: "string", vnc_port: "number", pid: "number", error_message: "null" });
    expect(r.json).toMatchObject({ success: true, entry_id: "alpha", entry_name: "alpha", vnc_host: "127.0.0.1" });
    const vm = r.json.vm_id as string;
    await sse.next((e) => e.event === "vm" && e.data.vm_id === vm && e.data.status === "running");
    const status = await call("/api/v1/catalog/alpha/status");
    expect(typesOf(status.json, ["status", "pid", "started_at", "uptime_seconds", "vnc_port", "error_message"])).toEqual({ status: "string", pid: "number", started_at: "string", uptime_seconds: "number", vnc_port: "number", error_message: "null" });
    expect(status.json).toMatchObject({ status: "running", pid: r.json.pid, vnc_port: r.json.vnc_port });
    await sse.next((e) => e.event === "serial" && e.data.vm_id === vm && String(e.data.data).includes("PIXELRTS-BOOT-OK"));
    const serial = await call(`/api/v1/vms/${vm}/serial`);
    expect(serial.text).toContain('args "console=ttyS0 quiet", memory 256M, cpus 2\nPIXELRTS-BOOT-OK kernel=fake\n');
    expect(serial.headers.get("x-serial-bytes")).toBe(String(Buffer.byteLength(serial.text)));
    const bootEvent = await sse.next((e) => e.event === "boot" && e.data.vm_id === vm && e.data.event === "boot");
    expect(bootEvent.data).toMatchObject({ entry_id: "alpha", binary: "qemu-system-x86_64", accel: "tcg", signature: { policy: "warn", state: "unsigned" } });
    const stop = await call("/api/v1/catalog/alpha/stop", { method: "POST" });
    expect(stop.json).toMatchObject({ success: true, entry_id: "alpha", vms: [{ vm_id: vm, stopping: true }] });
    expect(await vmStates(vm, "stopped")).toEqual(["booting", "running", "stopped"]);
    const after = await call("/api/v1/catalog/alpha/status");
    expect(after.json).toMatchObject({ status: "stopped", pid: null, vnc_port: null, error_message: null });
    expect((await call(`/api/v1/vms/${vm}`)).json).toMatchObject({ status: "stopped", stopped_by: "powerdown", exit_code: 0 });
    expect(() => process.kill(r.json.pid, 0)).toThrow(expect.objectContaining({ code: "ESRCH" }));
  });

  it("a guest that ignores the power button is terminated (SIGTERM); one that also ignores SIGTERM is killed", async () => {
    const a = (await call("/api/v1/catalog/beta/boot", { method: "POST", json: { cmdline: "ignore-powerdown" } })).json;
    const b = (await call("/api/v1/catalog/delta/boot", { method: "POST", json: { cmdline: "ignore-term" } })).json;
    await Promise.all([a, b].map((x) => sse.next((e) => e.event === "vm" && e.data.vm_id === x.vm_id && e.data.status === "running")));
    await call(`/api/v1/vms/${a.vm_id}/stop`, { method: "POST" });
    await call(`/api/v1/vms/${b.vm_id}/stop`, { method: "POST" });
    expect(await vmStates(a.vm_id, "stopped")).toEqual(["booting", "running", "stopped"]);
    expect(await vmStates(b.vm_id, "stopped")).toEqual(["booting", "running", "stopped"]);
    expect((await call(`/api/v1/vms/${a.vm_id}`)).json).toMatchObject({ stopped_by: "sigterm" });
    expect((await call(`/api/v1/vms/${b.vm_id}`)).json).toMatchObject({ stopped_by: "sigkill", exit_signal: "SIGKILL" });
  });

  it("a guest powering off by itself ends stopped; QEMU failing ends in error with its message; a container that cannot boot fails the request", async () => {
    const off = (await call("/api/v1/catalog/gamma/boot", { method: "POST", json: { cmdline: "poweroff" } })).json;
    expect(await vmStates(off.vm_id, "stopped")).toEqual(["booting", "running", "stopped"]);
    expect((await call(`/api/v1/vms/${off.vm_id}`)).json).toMatchObject({ stopped_by: "guest", exit_code: 0 });
    const crash = (await call("/api/v1/catalog/gamma/boot", { method: "POST", json: { cmdline: "crash" } })).json;
    expect(await vmStates(crash.vm_id, "error")).toEqual(["booting", "error"]);
    const st = await call("/api/v1/catalog/gamma/status");
    expect(st.json).toMatchObject({ status: "error", pid: null, error_message: "QEMU exited with status 3: fake qemu: could not load the kernel" });
    // a listed entry whose bytes are not a boot bundle: refused before QEMU, as a BootResponse
    cat.set([...Object.entries(bytes).map(([id, b]) => ({ id, bytes: b })), { id: "not-bootable", bytes: new Uint8Array(await (await import("node:fs/promises")).readFile(new URL("./fixtures/vectors/tiny_16b.rts.png", import.meta.url))) }]);
    await call("/api/v1/catalog/refresh", { method: "POST" });
    const nb = await call("/api/v1/catalog/not-bootable/boot", { method: "POST" });
    expect(nb.status).toBe(200);
    expect(nb.json).toMatchObject({ success: false, pid: null, vnc_port: null, error_code: "E_NOT_BOOTABLE", status: "error" });
    expect(nb.json.error_message).toMatch(/holds no kernel/);
  });

  it("validates boot bodies as strictly as the CLI flags, naming the field; nothing boots", async () => {
    const before = (await call("/api/v1/vms")).json.vms.length;
    const cases: [unknown, string, RegExp][] = [
      [{ memory: "1K" }, "E_BAD_REQUEST", /^memory must be a size like 512M/],
      [{ memory: "256M,maxmem=1T" }, "E_BAD_REQUEST", /^memory must be/],
      [{ cpus: 0 }, "E_BAD_REQUEST", /^cpus must be an integer from 1 to 256/],
      [{ cpus: 1.5 }, "E_BAD_REQUEST", /^cpus must be an integer/],
      [{ cpus: "0x10" }, "E_BAD_REQUEST", /^cpus must be an integer/],
      [{ cmdline: "a\nb" }, "E_BAD_REQUEST", /^cmdline must not contain control characters/],
      [{ cmdline: "x".repeat(5000) }, "E_BAD_REQUEST", /^cmdline must be at most 4096 bytes/],
      [{ memroy: "1G" }, "E_BAD_REQUEST", /unknown field "memroy"/],
      [[1], "E_BAD_REQUEST", /must be a JSON object/],
    ];
    for (const [json, code, message] of cases) {
      const r = await call("/api/v1/catalog/alpha/boot", { method: "POST", json });
      expect([r.status, r.json.error.code], JSON.stringify(json)).toEqual([400, code]);
      expect(r.json.error.message).toMatch(message);
    }
    expect((await call("/api/v1/catalog/alpha/boot", { method: "POST", body: "{", headers: { "content-type": "application/json" } })).json.error.code).toBe("E_BAD_REQUEST");
    expect((await call("/api/v1/catalog/alpha/boot", { method: "POST", body: "memory=1G", headers: { "content-type": "application/x-www-form-urlencoded" } })).status).toBe(415);
    expect((await call("/api/v1/catalog/alpha/boot", { method: "POST", body: JSON.stringify({ cmdline: "x".repeat(70_000) }), headers: { "content-type": "application/json" } })).status).toBe(413);
    expect((await call("/api/v1/catalog/nope/boot", { method: "POST" })).status).toBe(404);
    expect((await call("/api/v1/vms")).json.vms.length).toBe(before);
  });
});

describe("layout", () => {
  it("moves swap with the occupant, batches apply in order, and positions survive a refresh and a restart", async () => {
    const pos = async (base = serve.url) => Object.fromEntries((await call("/api/v1/catalog", {}, base)).json.entries.map((e: { id: string; position: unknown }) => [e.id, e.position]));
    const before = await pos();
    const r = await call("/api/v1/catalog/layout", { method: "POST", json: { entry_id: "alpha", new_position: { x: 7, y: 3 } } });
    expect(r.json).toEqual({ success: true, entry_id: "alpha", position: { x: 7, y: 3 }, swapped_with: null });
    const swap = await call("/api/v1/catalog/layout", { method: "POST", json: { entry_id: "beta", new_position: { x: 7, y: 3 } } });
    expect(swap.json).toEqual({ success: true, entry_id: "beta", position: { x: 7, y: 3 }, swapped_with: { entry_id: "alpha", position: before.beta } });
    const batch = await call("/api/v1/catalog/layout/batch", { method: "POST", json: { updates: [{ entryId: "gamma", position: { gridX: 2, gridY: 5 } }, { entry_id: "delta", new_position: { x: 0, y: 9 } }] } });
    expect(batch.json).toMatchObject({ success: true, updated: 2, results: [{ entry_id: "gamma", position: { x: 2, y: 5 } }, { entry_id: "delta", position: { x: 0, y: 9 } }] });
    // an earlier CatalogBridge: {gridX, gridY} posted to the entry's own layout URL
    const own = await call("/api/v1/catalog/zeta/layout", { method: "POST", json: { gridX: 4, gridY: 6 } });
    expect(own.json).toEqual({ success: true, entry_id: "zeta", position: { x: 4, y: 6 }, swapped_with: null });
    const expected = { ...before, alpha: before.beta, beta: { x: 7, y: 3 }, gamma: { x: 2, y: 5 }, delta: { x: 0, y: 9 }, zeta: { x: 4, y: 6 } };
    expect(await pos()).toMatchObject(expected);
    await call("/api/v1/catalog/refresh", { method: "POST" });
    expect(await pos()).toMatchObject(expected);
    // another serve on the same config dir (a restart) reads the saved layout
    const again = await start();
    try {
      expect(await pos(again.url)).toMatchObject(expected);
    } finally {
      await again.close();
    }
    const moved = await sse.next((e) => e.event === "catalog" && e.data.reason === "layout");
    expect(moved.data.moved).toEqual([{ entry_id: "alpha", position: { x: 7, y: 3 } }]);
  });

  it("refuses unknown entries and bad positions", async () => {
    expect((await call("/api/v1/catalog/layout", { method: "POST", json: { entry_id: "nope", new_position: { x: 1, y: 1 } } })).status).toBe(404);
    for (const p of [{ x: -1, y: 0 }, { x: 1.5, y: 0 }, { x: "1", y: 0 }, { x: 1000, y: 0 }, null]) {
      const r = await call("/api/v1/catalog/layout", { method: "POST", json: { entry_id: "alpha", new_position: p } });
      expect([r.status, r.json.error.code], JSON.stringify(p)).toEqual([400, "E_BAD_REQUEST"]);
    }
    expect((await call("/api/v1/catalog/layout/batch", { method: "POST", json: { updates: [{ entry_id: "alpha", new_position: { x: 1, y: 1 } }, { entry_id: "nope", new_position: { x: 2, y: 1 } }] } })).status).toBe(404);
  });
});

describe("pulls and their progress over SSE", () => {
  it("POST /api/v1/pulls streams start, progress up to the total, verified and done, then the entry is cached and verified", async () => {
    // zeta: no other test touches it, so this pull downloads
    const r = await call("/api/v1/pulls", { method: "POST", json: { ref: "zeta" } });
    expect(r.status).toBe(202);
    const id = r.json.pull_id as string;
    const done = await sse.next((e) => e.event === "pull" && e.data.pull_id === id && e.data.event === "done");
    const mine = sse.events.filter((e) => e.event === "pull" && e.data.pull_id === id).map((e) => e.data);
    expect(mine.map((e) => e.event).filter((e, i, a) => e !== a[i - 1])).toEqual(["start", "progress", "verified", "done"]);
    const last = mine.filter((e) => e.event === "progress").at(-1)!;
    expect(last).toMatchObject({ bytes: bytes.zeta!.length, total: bytes.zeta!.length, entry_id: "zeta" });
    expect(done.data).toMatchObject({ sha256: sha(bytes.zeta!), size: bytes.zeta!.length });
    await sse.next((e) => e.event === "catalog" && e.data.reason === "pull" && Number(e.id) > Number(done.id));
    expect((await call("/api/v1/catalog/zeta")).json).toMatchObject({ cached: true, verified: true });
    expect((await call("/api/v1/pulls")).json.pulls.find((p: { pull_id: string }) => p.pull_id === id)).toMatchObject({ status: "done", percent: 100 });
  });

  it("refuses URLs and unknown refs", async () => {
    expect((await call("/api/v1/pulls", { method: "POST", json: { ref: "http://169.254.169.254/latest" } })).json.error.code).toBe("E_BAD_REQUEST");
    expect((await call("/api/v1/pulls", { method: "POST", json: { ref: "nope" } })).status).toBe(404);
  });
});

describe("security", () => {
  it("a foreign Host is refused (DNS rebinding); localhost and the listening address are answered", async () => {
    const port = new URL(serve.url).port;
    const evil = await rawRequest("/api/v1/catalog", { host: `evil.example:${port}` });
    expect([evil.status, evil.json.error.code]).toEqual([403, "E_FORBIDDEN_HOST"]);
    expect((await rawRequest("/api/v1/health", { host: `127.0.0.1:${Number(port) + 1}` })).status).toBe(403);
    expect((await rawRequest("/api/v1/health", { host: `localhost:${port}` })).status).toBe(200);
    expect((await rawRequest("/api/v1/health", { host: `127.0.0.1:${port}` })).status).toBe(200);
  });

  it("a page of a foreign origin cannot boot, stop, move tiles, pull or refresh; a listed origin and the console itself can", async () => {
    const vmsBefore = (await call("/api/v1/vms")).json.vms.length;
    const posts: [string, unknown][] = [
      ["/api/v1/catalog/alpha/boot", {}],
      ["/api/v1/catalog/alpha/stop", {}],
      ["/api/v1/catalog/layout", { entry_id: "alpha", new_position: { x: 9, y: 9 } }],
      ["/api/v1/pulls", { ref: "alpha" }],
      ["/api/v1/catalog/refresh", {}],
    ];
    for (const [path, json] of posts) {
      const r = await call(path, { method: "POST", json, headers: { origin: FOREIGN_ORIGIN } });
      expect([r.status, r.json.error.code], path).toEqual([403, "E_FORBIDDEN_ORIGIN"]);
      expect(r.headers.get("access-control-allow-origin"), path).toBeNull();
    }
    // the original's GET refresh too, and a plain cross-site GET (an <img> carries no Origin)
    expect((await call("/api/v1/catalog/refresh", { headers: { origin: FOREIGN_ORIGIN } })).status).toBe(403);
    expect((await call("/api/v1/catalog/refresh", { headers: { "sec-fetch-site": "cross-site" } })).status).toBe(403);
    expect((await call("/api/v1/vms")).json.vms.length).toBe(vmsBefore);
    expect((await call("/api/v1/catalog/alpha")).json.position).not.toEqual({ x: 9, y: 9 });
    // listed: allowed, with CORS for that origin
    const listed = await call("/api/v1/catalog/layout", { method: "POST", json: { entry_id: "alpha", new_position: { x: 9, y: 9 } }, headers: { origin: LISTED_ORIGIN } });
    expect([listed.status, listed.headers.get("access-control-allow-origin")]).toEqual([200, LISTED_ORIGIN]);
    const same = await call("/api/v1/catalog/layout", { method: "POST", json: { entry_id: "alpha", new_position: { x: 8, y: 9 } }, headers: { origin: serve.url } });
    expect(same.status).toBe(200);
  });

  it("CORS: the original's reads answer any origin; our routes and writes only listed origins; preflights likewise", async () => {
    const read = await call("/api/v1/catalog", { headers: { origin: FOREIGN_ORIGIN } });
    expect([read.status, read.headers.get("access-control-allow-origin")]).toEqual([200, "*"]);
    expect((await call("/api/v1/catalog/alpha/status", { headers: { origin: FOREIGN_ORIGIN } })).headers.get("access-control-allow-origin")).toBe("*");
    expect((await call("/api/v1/vms", { headers: { origin: FOREIGN_ORIGIN } })).headers.get("access-control-allow-origin")).toBeNull();
    const preRead = await call("/api/v1/catalog", { method: "OPTIONS", headers: { origin: FOREIGN_ORIGIN, "access-control-request-method": "GET", "access-control-request-headers": "content-type" } });
    expect([preRead.status, preRead.headers.get("access-control-allow-origin")]).toEqual([204, "*"]);
    expect(preRead.headers.get("access-control-allow-headers")).toMatch(/Content-Type/);
    const preWrite = await call("/api/v1/catalog/alpha/boot", { method: "OPTIONS", headers: { origin: FOREIGN_ORIGIN, "access-control-request-method": "POST" } });
    expect([preWrite.status, preWrite.headers.get("access-control-allow-origin")]).toEqual([403, null]);
    const preListed = await call("/api/v1/catalog/alpha/boot", { method: "OPTIONS", headers: { origin: LISTED_ORIGIN, "access-control-request-method": "POST" } });
    expect([preListed.status, preListed.headers.get("access-control-allow-origin"), preListed.headers.get("access-control-allow-methods")]).toEqual([204, LISTED_ORIGIN, "GET, HEAD, POST, OPTIONS"]);
  });

  it("a download that would make this host fetch is refused to a foreign page; one from the cache is served", async () => {
    await call("/api/v1/catalog/refresh", { method: "POST" });
    cat.set([...Object.entries(bytes).map(([id, b]) => ({ id, bytes: b })), { id: "epsilon", bytes: await bundle(9) }]);
    await call("/api/v1/catalog/refresh", { method: "POST" });
    const fetchIt = await call("/api/container/epsilon/download", { headers: { origin: FOREIGN_ORIGIN } });
    expect([fetchIt.status, fetchIt.json.error.code]).toEqual([403, "E_FORBIDDEN_ORIGIN"]);
    expect(cat.requests).not.toContain("/c/epsilon.rts.png");
    const cached = await call("/api/container/gamma/download", { headers: { origin: FOREIGN_ORIGIN } });
    expect([cached.status, cached.headers.get("access-control-allow-origin")]).toEqual([200, "*"]);
  });

  it("beyond loopback a token is required: serve refuses to start without one, and with one every request needs it", async () => {
    await expect(start(t.agent, { host: "0.0.0.0" })).rejects.toMatchObject({ code: "E_USAGE", message: expect.stringMatching(/PIXELRTS_SERVE_TOKEN/) });
    await expect(start(t.agent, { token: "short" })).rejects.toMatchObject({ code: "E_USAGE" });
    const token = "0123456789abcdef0123";
    // Not listening: the app itself is asked, as a client on another machine would.
    const s = await start(t.agent, { host: "0.0.0.0", port: 8780, token, listen: false });
    try {
      const ask = (path: string, headers: Record<string, string> = {}) => s.app.request(path, { headers: { host: "localhost:8780", ...headers } });
      const none = await ask("/api/v1/health");
      expect([none.status, ((await none.json()) as any).error.code]).toEqual([401, "E_UNAUTHORIZED"]);
      expect((await ask("/api/v1/health", { authorization: "Bearer 0123456789abcdef0124" })).status).toBe(401);
      expect((await ask("/api/v1/health", { authorization: `Bearer ${token}` })).status).toBe(200);
      const open = await ask(`/?token=${token}`);
      expect(open.status).toBe(303);
      const cookie = open.headers.get("set-cookie")!;
      expect(cookie).toMatch(/HttpOnly; SameSite=Strict/);
      expect((await ask("/api/v1/health", { cookie: cookie.split(";")[0]! })).status).toBe(200);
      // and the Host rule still holds with the right token
      expect((await ask("/api/v1/health", { host: "evil.example:8780", authorization: `Bearer ${token}` })).status).toBe(403);
    } finally {
      await s.close();
    }
  });
});

describe("several VMs, and stopping serve", () => {
  it("each boot is its own VM with its own id and VNC port; closing serve stops them all", async () => {
    const own = await start();
    const events = await readSse(`${own.url}/api/v1/events`);
    try {
      const boots = await Promise.all(["alpha", "alpha", "beta"].map(async (id) => (await call(`/api/v1/catalog/${id}/boot`, { method: "POST", json: {} }, own.url)).json));
      expect(new Set(boots.map((b) => b.vm_id)).size).toBe(3);
      expect(new Set(boots.map((b) => b.vnc_port)).size).toBe(3);
      await Promise.all(boots.map((b) => events.next((e) => e.event === "vm" && e.data.vm_id === b.vm_id && e.data.status === "running")));
      const listed = (await call("/api/v1/vms", {}, own.url)).json.vms;
      expect(listed.filter((v: { status: string }) => v.status === "running")).toHaveLength(3);
      expect((await call("/api/v1/catalog/alpha/status", {}, own.url)).json.vms).toBe(2);
      await own.close();
      for (const b of boots) expect(() => process.kill(b.pid, 0)).toThrow(expect.objectContaining({ code: "ESRCH" }));
      expect(own.state.vms.list().map((v) => [v.status, v.stopped_by])).toEqual(boots.map(() => ["stopped", "powerdown"]));
      expect(events.events.filter((e) => e.event === "vm" && e.data.status === "stopped")).toHaveLength(3);
    } finally {
      events.close();
      await own.close();
    }
  });
});

describe("the console page", () => {
  it("renders every value from a catalog escaped, under a CSP without inline code", async () => {
    const evil = "<img src=x onerror=alert(1)>";
    cat.set([...Object.entries(bytes).map(([id, b]) => ({ id, bytes: b })), { id: "xss", bytes: await bundle(13), extra: { name: `n${evil}`, description: `d${evil}`, distro: `"><script>alert(2)</script>` } }]);
    await call("/api/v1/catalog/refresh", { method: "POST" });
    const page = await call("/");
    expect(page.headers.get("content-security-policy")).toMatch(/script-src 'self'; style-src 'self'/);
    const panel = await call("/console/entry/xss");
    for (const html of [page.text, panel.text]) {
      expect(html).toContain("n&lt;img src=x onerror=alert(1)&gt;");
      expect(html).not.toMatch(/<img src=x|<script>alert/);
    }
    expect(panel.text).toContain("d&lt;img src=x onerror=alert(1)&gt;");
    const js = await fetch(`${serve.url}/console.js`);
    expect([js.status, js.headers.get("content-type")]).toEqual([200, "text/javascript; charset=utf-8"]);
  });
});

describe("the command", () => {
  it("pixelrts serve --port 0 --json says where it listens, answers, and stops on SIGTERM; --host beyond loopback needs the token", async () => {
    const env = { ...process.env, ...t.env, PIXELRTS_SERVE_TOKEN: "" };
    const child = spawn(process.execPath, [join(import.meta.dirname, "../agent/bin/pixelrts.mjs"), "serve", "--port", "0", "--json", "--kvm", "off"], { env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    const listening = new Promise<{ url: string }>((resolve) => child.stdout.on("data", (d) => {
      out += d;
      if (out.includes("\n")) resolve(JSON.parse(out.split("\n")[0]!));
    }));
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    const { url } = await listening;
    expect((await call("/api/v1/health", {}, url)).json).toMatchObject({ status: "ok" });
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(out.trim().split("\n").map((l) => JSON.parse(l).event)).toEqual(["listening", "stopped"]);
    // Ctrl-C in serve's terminal signals its whole process group: serve stops its VMs properly
    // (QEMU runs in a group of its own, so the signal does not kill it first).
    const group = spawn(process.execPath, [join(import.meta.dirname, "../agent/bin/pixelrts.mjs"), "serve", "--port", "0", "--json", "--kvm", "off", "--net", "none"], { env, stdio: ["ignore", "pipe", "pipe"], detached: true });
    let groupOut = "";
    const groupUrl = await new Promise<string>((resolve) => group.stdout.on("data", (d) => {
      groupOut += d;
      if (groupOut.includes("\n")) resolve(JSON.parse(groupOut.split("\n")[0]!).url);
    }));
    const groupExit = new Promise<number | null>((resolve) => group.on("exit", (code) => resolve(code)));
    const events = await readSse(`${groupUrl}/api/v1/events`);
    const vm = (await call("/api/v1/catalog/alpha/boot", { method: "POST", json: {} }, groupUrl)).json;
    await events.next((e) => e.event === "vm" && e.data.vm_id === vm.vm_id && e.data.status === "running");
    process.kill(-group.pid!, "SIGINT");
    const last = await events.next((e) => e.event === "vm" && e.data.vm_id === vm.vm_id && (e.data.status === "stopped" || e.data.status === "error"));
    expect(last.data).toMatchObject({ status: "stopped", stopped_by: "powerdown", exit_signal: null });
    // the guest saw the power button (QEMU was not killed by the terminal's signal first)
    expect(events.events.some((e) => e.event === "serial" && e.data.vm_id === vm.vm_id && String(e.data.data).includes("power button, shutting down"))).toBe(true);
    expect(await groupExit).toBe(0);
    expect(JSON.parse(groupOut.trim().split("\n").at(-1)!)).toEqual({ event: "stopped", vms_stopped: 1 });
    expect(() => process.kill(vm.pid, 0)).toThrow(expect.objectContaining({ code: "ESRCH" }));
    events.close();
    const refused = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const c = spawn(process.execPath, [join(import.meta.dirname, "../agent/bin/pixelrts.mjs"), "serve", "--host", "0.0.0.0"], { env, stdio: ["ignore", "ignore", "pipe"] });
      let stderr = "";
      c.stderr.on("data", (d) => (stderr += d));
      c.on("exit", (code) => resolve({ code, stderr }));
    });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/^pixelrts: E_USAGE: --host 0.0.0.0 is not a loopback address: set PIXELRTS_SERVE_TOKEN/);
  });
});
