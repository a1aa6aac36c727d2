/**
 * The Worker's catalog page in real Chromium (Debian's /usr/bin/chromium driven by
 * playwright-core, a fresh profile; no browser is downloaded) against the real Worker in
 * Miniflare (workerd, local R2 and D1), which federates a second Worker ("Lab server") through
 * Miniflare's outbound hook: search and filters narrow the list, the detail page shows both
 * digests, copy buttons copy (read back from the clipboard), a 400 px viewport has no horizontal
 * scroll, the page works without JavaScript, no console errors, and axe-core reports no serious
 * or critical accessibility violations.
 *
 * Screenshots: test-artifacts/page/*.png (git-ignored).
 */
import { generateKeyPairSync, sign as nodeSign } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { Miniflare } from "miniflare";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NODE_CODEC } from "../agent/codec/node-platform.js";
import { makeThumbnail } from "../agent/publish/thumbnail.js";
import { toBase64 } from "../shared/bytes.js";
import { bundleMetadata, layoutBundle } from "../shared/container/bundle.js";
import { collectBytes, encodeContainer } from "../shared/container/encode.js";
import { buildMetadata } from "../shared/container/metadata.js";
import type { PyDict } from "../shared/pyjson.js";
import { signEnvelope } from "../shared/trust/dsse.js";
import { publicKeyFromRaw } from "../shared/trust/keys.js";
import { encodeStatement, PAYLOAD_TYPE } from "../shared/trust/statement.js";
import { applyMigrations } from "../scripts/lib/d1-migrations.mjs";
import { startTestWorker, type TestWorker } from "./helpers/miniflare-worker.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const CHROMIUM = "/usr/bin/chromium";
const SHOTS = join(ROOT, "test-artifacts/page");
const TOKEN = "page-token";
const LAB_HOST = "lab.test";
const LAB_COLOR = "#e4572e";

function chromiumOrExplain(): boolean {
  if (existsSync(CHROMIUM)) return true;
  if (process.env.CI) throw new Error("page test: CI must provide Debian's chromium (scripts/setup-system.sh)");
  console.warn("page test: NOT RUN on this machine: install chromium (apt-get install chromium)");
  return false;
}
const ready = chromiumOrExplain();

let lab: TestWorker;
let edge: Miniflare;
let base: string;
let work: string;
let browser: Browser;
let context: BrowserContext;
let page: Page;
const problems: string[] = [];
const published: Record<string, { sha256: string; dataHash: string }> = {};
let keyid = "";

const sha = (b: Uint8Array) => NODE_CODEC.sha256(b) as string;

function payload(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) out[i] = (x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 24;
  return out;
}

async function plainContainer(seed: number, caller: Record<string, string>): Promise<{ bytes: Uint8Array; dataHash: string }> {
  const enc = await encodeContainer(payload(30_000, seed), (ctx) => buildMetadata({ gridSize: ctx.gridSize, caller: new Map(Object.entries(caller)) as unknown as PyDict, dataHash: ctx.dataHash, dataSize: ctx.dataSize }), NODE_CODEC);
  return { bytes: await collectBytes(enc.png), dataHash: enc.dataHash };
}

async function bundleContainer(seed: number, name: string, description: string): Promise<{ bytes: Uint8Array; dataHash: string }> {
  const input = {
    segments: [
      { name: "kernel", type: "kernel", data: payload(40_000, seed) },
      { name: "initrd", type: "initrd", data: payload(20_000, seed + 1) },
    ],
    boot: { cmdline: "console=ttyS0", arch: "x86_64" as const, memory: "256M" },
    name,
    description,
  };
  const layout = await layoutBundle(input, NODE_CODEC.sha256);
  const enc = await encodeContainer(layout.payload, bundleMetadata(layout, input), NODE_CODEC);
  return { bytes: await collectBytes(enc.png), dataHash: enc.dataHash };
}

async function publishTo(url: string, name: string, c: { bytes: Uint8Array; dataHash: string }, headers: Record<string, string> = {}): Promise<void> {
  const s = sha(c.bytes);
  const res = await request(`${url}/api/v1/containers/${name}`, { method: "PUT", body: c.bytes, headers: { authorization: `Bearer ${TOKEN}`, "x-pixelrts-sha256": s, "content-length": String(c.bytes.length), ...headers } });
  const text = await res.body.text();
  if (res.statusCode >= 300) throw new Error(`publish ${name}: ${res.statusCode} ${text}`);
  // the thumbnail the agent would upload: the container's own pixels, 256x256 at most
  const file = join(work, `${name}.rts.png`);
  writeFileSync(file, c.bytes);
  const thumb = await makeThumbnail(file);
  const t = await request(`${url}/api/v1/containers/${name}/thumbnail`, { method: "PUT", body: thumb, headers: { authorization: `Bearer ${TOKEN}` } });
  await t.body.text();
  if (t.statusCode !== 201) throw new Error(`thumbnail ${name}: ${t.statusCode}`);
  published[name] = { sha256: s, dataHash: c.dataHash };
}

async function signatureHeader(name: string, c: { bytes: Uint8Array; dataHash: string }): Promise<Record<string, string>> {
  const { publicKey, privateKey } = generateKeyPairSync("ed25519");
  const key = await publicKeyFromRaw(new Uint8Array(Buffer.from(publicKey.export({ format: "jwk" }).x!, "base64url")));
  keyid = key.keyid;
  const body = encodeStatement({ name, version: "3.19", sha256: sha(c.bytes), size: c.bytes.length, data_hash: c.dataHash, signed_at: "2026-12-03T08:00:00Z" });
  const env = await signEnvelope(PAYLOAD_TYPE, body, key, async (m) => new Uint8Array(nodeSign(null, m, privateKey)));
  return { "x-pixelrts-signature": toBase64(new TextEncoder().encode(JSON.stringify(env))) };
}

const shot = (name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
const tileNames = () => page.locator(".tile-name").allTextContents();
const noHorizontalScroll = () => page.evaluate(() => document.documentElement.scrollWidth <= document.documentElement.clientWidth);

async function axeSeriousViolations(): Promise<string[]> {
  await page.addScriptTag({ path: join(ROOT, "node_modules/axe-core/axe.min.js") });
  const r = await page.evaluate(() => (window as unknown as { axe: { run(o: unknown): Promise<{ violations: { id: string; impact: string; nodes: unknown[] }[] }> } }).axe.run({ runOnly: ["wcag2a", "wcag2aa", "best-practice"] }));
  return r.violations.filter((v) => v.impact === "serious" || v.impact === "critical").map((v) => `${v.id} (${v.impact}, ${v.nodes.length} nodes)`);
}

beforeAll(async () => {
  if (!ready) return;
  mkdirSync(SHOTS, { recursive: true });
  work = mkdtempSync(join(tmpdir(), "pixelrts-page-"));
  lab = await startTestWorker({ PUBLISH_TOKEN: TOKEN, CATALOG_ID: "lab", CATALOG_NAME: "Lab server" });
  const script = (await build({ entryPoints: [`${ROOT}worker/index.ts`], bundle: true, format: "esm", platform: "neutral", target: "es2022", write: false, conditions: ["workerd", "worker", "browser"], mainFields: ["module", "main"], logLevel: "silent" })).outputFiles[0]!.text;
  edge = new Miniflare({
    modules: true,
    script,
    compatibilityDate: "2026-05-03",
    r2Buckets: { BUCKET: "page-bucket" },
    d1Databases: { DB: "page-index" },
    bindings: { PUBLISH_TOKEN: TOKEN, CATALOG_NAME: "PixelRTS Edge (page test)", REMOTE_SERVERS: JSON.stringify([{ id: "lab", name: "Lab server", url: `http://${LAB_HOST}`, color: LAB_COLOR }]) },
    cf: false,
    port: 0,
    host: "127.0.0.1",
    // edge's only way out: its remote's catalog, forwarded to the lab Worker on loopback
    outboundService: async (req) => {
      const u = new URL(req.url);
      if (u.host !== LAB_HOST) return new Response("blocked by test", { status: 599 });
      const res = await request(`${lab.url}${u.pathname}${u.search}`, { headers: { accept: "application/json" } });
      return new Response(new Uint8Array(await res.body.arrayBuffer()), { status: res.statusCode, headers: { "content-type": "application/json" } });
    },
  });
  base = (await edge.ready).toString().replace(/\/$/, "");
  await applyMigrations(await edge.getD1Database("DB"));

  const alpine = await bundleContainer(11, "alpine", "Alpine Linux 3.19: a tiny boot bundle with its kernel and initramfs");
  await publishTo(base, "alpine-3.19", alpine, { "x-pixelrts-distro": "alpine", "x-pixelrts-arch": "x86_64", "x-pixelrts-kernel-version": "6.6.14", ...(await signatureHeader("alpine-3.19", alpine)) });
  await publishTo(base, "debian-kernel", await plainContainer(12, { type: "kernel", name: "vmlinuz", description: "Debian's cloud kernel" }), { "x-pixelrts-distro": "debian", "x-pixelrts-arch": "x86_64", "x-pixelrts-kernel-version": "6.1.0" });
  await publishTo(base, "notes-data", await plainContainer(13, { type: "data", name: "notes", description: "Release notes packed as pixels (not bootable)" }));
  for (let i = 0; i < 24; i++) {
    await publishTo(base, `fleet-${String(i).padStart(2, "0")}`, await plainContainer(100 + i, { type: "os", name: `fleet${i}`, description: `Fleet image ${i}` }), { "x-pixelrts-distro": "fedora", "x-pixelrts-arch": i % 2 ? "aarch64" : "x86_64" });
  }
  await publishTo(lab.url, "lab-riscv", await plainContainer(14, { type: "kernel", name: "lab", description: "A RISC-V kernel on the lab server" }), { "x-pixelrts-distro": "debian", "x-pixelrts-arch": "riscv64" });

  // one browser for the file; the no-JavaScript test opens a second context in it
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
  context = await browser.newContext({ viewport: { width: 1280, height: 900 }, permissions: ["clipboard-read", "clipboard-write"] });
  page = await context.newPage();
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`console: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
}, 180_000);

afterAll(async () => {
  await context?.close();
  await browser?.close();
  await edge?.dispose();
  await lab?.dispose();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe.runIf(ready)("the catalog page in Chromium", () => {
  it("lists the merged catalog with its sources' colours; search and filters narrow it; pages", async () => {
    await page.goto(`${base}/`);
    expect(await tileNames()).toHaveLength(24);
    expect(await page.locator(".summary").textContent()).toBe("1–24 of 28 containers");
    // the lab server's entry, in its colour, on the second page
    const labSource = page.locator(".sources li", { hasText: "Lab server" });
    expect(await labSource.locator(".swatch").evaluate((el) => getComputedStyle(el).backgroundColor)).toBe("rgb(228, 87, 46)");
    await shot("catalog");

    await page.fill("#f-q", "alpine");
    await Promise.all([page.waitForURL(/\?q=alpine/), page.press("#f-q", "Enter")]);
    expect(await tileNames()).toEqual(["alpine-3.19"]);
    await page.fill("#f-q", "");
    await page.selectOption("#f-distro", "debian");
    await Promise.all([page.waitForURL(/distro=debian/), page.click("form.search button[type=submit]")]);
    expect(await tileNames()).toEqual(["debian-kernel", "lab-riscv"]);
    const remoteTile = page.locator(".tile", { hasText: "lab-riscv" });
    expect(await remoteTile.evaluate((el) => getComputedStyle(el).borderTopColor)).toBe("rgb(228, 87, 46)");
    expect(await remoteTile.locator(".source-tag").textContent()).toBe("Lab server");

    await page.goto(`${base}/?distro=fedora&sort=date`);
    expect((await tileNames())[0]).toBe("fleet-23");
    await page.goto(`${base}/`);
    await Promise.all([page.waitForURL(/page=2/), page.click("nav.pages a[rel=next]")]);
    expect(await tileNames()).toEqual(["fleet-22", "fleet-23", "notes-data", "lab-riscv"]); // ours, then the lab's
    expect(await page.locator(".summary").textContent()).toBe("25–28 of 28 containers");
  });

  it("the detail page shows both digests, signer key ids and segments; copy buttons copy", async () => {
    await page.goto(`${base}/`);
    await Promise.all([page.waitForURL(/\/containers\/alpine-3\.19$/), page.click(".tile-link:has-text('alpine-3.19')")]);
    const fact = (label: string) => page.locator(`dl.facts dt:text-is("${label}") + dd`).textContent();
    expect(await fact("file sha256")).toBe(published["alpine-3.19"]!.sha256);
    expect(await fact("payload sha256")).toBe(published["alpine-3.19"]!.dataHash);
    expect(await fact("signer key ids")).toContain(keyid);
    expect(await page.locator("table.segments tbody tr").count()).toBe(2);
    expect(await page.locator("img.thumb").evaluate((img: HTMLImageElement) => [img.complete && img.naturalWidth > 0, getComputedStyle(img).imageRendering])).toEqual([true, "pixelated"]);
    await shot("detail");

    for (const [id, command] of [
      ["cmd-servers-add", `pixelrts servers add ${base}`],
      ["cmd-pull", "pixelrts pull alpine-3.19"],
      ["cmd-boot", "pixelrts boot alpine-3.19"],
    ] as const) {
      const button = page.locator(`#${id} + button.copy`);
      expect(await button.isVisible()).toBe(true);
      await button.click();
      await page.waitForFunction((b) => b?.getAttribute("data-copied") !== null, await button.elementHandle());
      expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(command);
      expect(await page.locator(`#${id}`).textContent()).toBe(command);
    }

    await page.goto(`${base}/containers/notes-data`);
    expect(await page.locator("#cmd-pull").textContent()).toBe("pixelrts pull notes-data");
    expect(await page.locator("#cmd-boot").count()).toBe(0);
    expect(await page.locator("p.note").textContent()).toContain("Not bootable");

    await page.goto(`${base}/sources/lab/lab-riscv`);
    expect(await page.locator("#cmd-servers-add").textContent()).toBe(`pixelrts servers add http://${LAB_HOST}`);
    expect(await page.locator("dl.facts").textContent()).toContain("Lab server");
  });

  it("a 400 px viewport has no horizontal scroll (catalog and detail pages)", async () => {
    await page.setViewportSize({ width: 400, height: 800 });
    await page.goto(`${base}/`);
    expect(await noHorizontalScroll()).toBe(true);
    await shot("catalog-400px");
    await page.goto(`${base}/containers/alpine-3.19`);
    expect(await noHorizontalScroll()).toBe(true);
    await shot("detail-400px");
    await page.emulateMedia({ colorScheme: "dark" });
    await page.goto(`${base}/`);
    expect(await page.evaluate(() => getComputedStyle(document.body).backgroundColor)).toBe("rgb(17, 20, 24)");
    await shot("catalog-400px-dark");
    await page.emulateMedia({ colorScheme: "light" });
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  it("works without JavaScript: the search form and links, commands shown as text", async () => {
    const noJs = await browser.newContext({ javaScriptEnabled: false });
    try {
      const p = await noJs.newPage();
      await p.goto(`${base}/`);
      await p.fill("#f-q", "cloud kernel");
      await Promise.all([p.waitForURL(/\?q=cloud/), p.press("#f-q", "Enter")]);
      expect(await p.locator(".tile-name").allTextContents()).toEqual(["debian-kernel"]);
      await Promise.all([p.waitForURL(/\/containers\/debian-kernel$/), p.click(".tile-link")]);
      expect(await p.locator("#cmd-boot").textContent()).toBe("pixelrts boot debian-kernel");
      expect(await p.locator("button.copy").first().isVisible()).toBe(false); // copying needs a script: hidden without one
    } finally {
      await noJs.close();
    }
  });

  it("has no console errors and no serious or critical accessibility violations", async () => {
    for (const path of ["/", "/?distro=debian", "/containers/alpine-3.19", "/sources/lab/lab-riscv"]) {
      await page.goto(`${base}${path}`);
      expect(await axeSeriousViolations(), path).toEqual([]);
    }
    await page.emulateMedia({ colorScheme: "dark" });
    for (const path of ["/", "/containers/alpine-3.19"]) {
      await page.goto(`${base}${path}`);
      expect(await axeSeriousViolations(), `${path} (dark)`).toEqual([]);
    }
    await page.emulateMedia({ colorScheme: "light" });
    expect(problems).toEqual([]);
  });
});
