/**
 * The hybrid view against an original-shaped catalog server with 200 "fat" entries: each inlines
 * a ~254 KB base64 thumbnail, ~50 MB in all, the answer an original PixelRTS server gives for
 * 200 containers. Read as one string and parsed it needs well over 100 MB of heap; parsed while it
 * streams, with thumbnails dropped past a per-source budget, it must aggregate:
 * - through the CLI (`pixelrts catalog`) in a Node whose heap is capped at 48 MB, and
 * - through `pixelrts serve`, whose merged catalog keeps every entry, the first thumbnails
 *   within its budget and says how many it dropped.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseBootFlags } from "../agent/boot/settings.js";
import { SERVE_THUMBNAIL_BUDGET, startServe } from "../agent/serve/index.js";
import { makeTestAgent, type TestAgent } from "../agent/testing/harness.js";

const ROOT = join(import.meta.dirname, "..");
const ENTRIES = 200;
const THUMB_CHARS = 254_000;

let server: Server;
let url: string;
let served = 0;
const work = mkdtempSync(join(tmpdir(), "pixelrts-fat-"));

beforeAll(async () => {
  // One thumbnail, repeated: the server streams entry by entry (its own memory stays small).
  const thumb = "iVBORw0KGgo" + "A".repeat(THUMB_CHARS - 11);
  server = createServer((req, res) => {
    if ((req.url ?? "").split("?")[0] !== "/api/v1/catalog") return void res.writeHead(404, { "content-type": "application/json" }).end("{}");
    served++;
    res.writeHead(200, { "content-type": "application/json" });
    res.write('{"entries": [');
    let i = 0;
    const next = () => {
      while (i < ENTRIES) {
        const e = { id: `c${String(i).padStart(12, "0")}`, name: `fat-${i}`, path: `/var/lib/pixelrts/fat-${i}.rts.png`, size: 1_000_000 + i, kernel_version: "6.1.0", distro: "alpine", architecture: "x86_64", thumbnail: thumb, position: { x: i % 10, y: Math.floor(i / 10) } };
        const more = res.write(`${i ? "," : ""}${JSON.stringify(e)}`);
        i++;
        if (!more) return void res.once("drain", next);
      }
      res.end('], "grid_dimensions": {"width": 11, "height": 21}}');
    };
    next();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  writeFileSync(join(work, "servers.json"), JSON.stringify({ version: 1, servers: [{ name: "orig", url, color: "#aa5500" }] }));
});

afterAll(async () => {
  await new Promise((r) => server?.close(r));
  rmSync(work, { recursive: true, force: true });
});

describe("an original server with 200 fat entries (~50 MB) aggregates", () => {
  it("through the CLI in a 48 MB heap: every entry listed", async () => {
    const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, ["--max-old-space-size=48", join(ROOT, "agent/bin/pixelrts.mjs"), "catalog", "--json", "--source", "servers"], {
        env: { ...process.env, PIXELRTS_CONFIG_DIR: work, PIXELRTS_CACHE_DIR: join(work, "cache-cli"), PIXELRTS_CATALOG_TIMEOUT_MS: "60000" },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d) => (stdout += d));
      child.stderr.on("data", (d) => (stderr += d));
      child.on("close", (code) => resolve({ code, stdout, stderr }));
    });
    expect(r.code, r.stderr.slice(-2000)).toBe(0);
    const view = JSON.parse(r.stdout);
    expect(view.rows).toHaveLength(ENTRIES);
    expect(view.rows[199]).toMatchObject({ id: "c000000000199", name: "fat-199", source: "orig" });
    expect(view.servers).toMatchObject([{ server: "orig", status: "ok", entries: ENTRIES }]);
  }, 60_000);

  it("through serve: every entry with its source and position, thumbnails kept within the budget", async () => {
    const t: TestAgent = await makeTestAgent({ retries: 0, catalogTimeoutMs: 60_000 });
    try {
      await t.agent.servers.add({ url, name: "orig", color: "#aa5500" });
      const s = await startServe({ agent: t.agent, port: 0, bootDefaults: parseBootFlags({ kvm: "off" }), warn: () => {} });
      try {
        const body = (await (await fetch(`${s.url}/api/v1/catalog`)).json()) as { entries: { id: string; thumbnail: string; source: { id: string; color: string }; position: { x: number; y: number }; path: string }[]; sources: { id: string; thumbnails: { kept: number; dropped: number } | null }[] };
        expect(body.entries).toHaveLength(ENTRIES);
        const kept = Math.floor(SERVE_THUMBNAIL_BUDGET / THUMB_CHARS);
        expect(body.entries.filter((e) => e.thumbnail.length === THUMB_CHARS)).toHaveLength(kept);
        expect(body.entries.slice(kept).every((e) => e.thumbnail === "")).toBe(true);
        expect(body.sources.find((x) => x.id === "orig")!.thumbnails).toEqual({ kept, dropped: ENTRIES - kept });
        expect(body.entries[150]).toMatchObject({ id: "c000000000150", source: { id: "orig", color: "#aa5500" }, path: "/var/lib/pixelrts/fat-150.rts.png" });
        expect(new Set(body.entries.map((e) => `${e.position.x},${e.position.y}`)).size).toBe(ENTRIES);
        // an original server lists files on its own disk and serves no bytes: booting one says so
        const boot = (await (await fetch(`${s.url}/api/v1/catalog/c000000000001/boot`, { method: "POST" })).json()) as Record<string, unknown>;
        expect(boot).toMatchObject({ success: false, entry_id: "c000000000001", pid: null, error_code: "E_NO_BYTES" });
        expect(boot.error_message).toMatch(/orig/);
        // the saved copy holds what was kept, not the 50 MB
        const { size } = await import("node:fs/promises").then((fs) => fs.stat(t.agent.cache.layout.catalog("orig")));
        expect(size).toBeLessThan(SERVE_THUMBNAIL_BUDGET + 200_000);
      } finally {
        await s.close();
      }
    } finally {
      await t.cleanup();
    }
    // the CLI's listing, serve's, and the boot's lookup (a name is always asked for again)
    expect(served).toBe(3);
  }, 60_000);
});
