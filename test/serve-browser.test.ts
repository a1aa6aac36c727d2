/**
 * The console in real Chromium (Debian's /usr/bin/chromium driven by playwright-core; no
 * browser is downloaded) against `pixelrts serve` booting the real test kernel under QEMU (TCG):
 * search narrows the tiles, a dragged tile keeps its place across a reload, Pull shows progress
 * up to 100 %, Boot brings a VM to `running` with the guest's marker in the serial pane, Stop
 * brings it to `stopped`; no console errors, no serious accessibility violations (axe-core).
 * The same boot is the real-QEMU run of the status sequence booting → running → stopped.
 *
 * The guest is booted with `acpi=off`: the test kernel's init prints its marker and powers off,
 * which without ACPI halts the CPU instead, so the VM stays up until Stop (a guest without
 * ACPI power-button handling: serve asks, waits --stop-timeout, then terminates QEMU).
 *
 * Screenshots: test-artifacts/serve/*.png (git-ignored).
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NODE_CODEC } from "../agent/codec/node-platform.js";
import { parseBootFlags } from "../agent/boot/settings.js";
import { startServe, type Serve } from "../agent/serve/index.js";
import { makeTestAgent, type TestAgent } from "../agent/testing/harness.js";
import { bundleMetadata, layoutBundle } from "../shared/container/bundle.js";
import { collectBytes, encodeContainer } from "../shared/container/encode.js";
import { MARKER, requireOrExplain, ROOT, testImage } from "./e2e/system.js";
import { bundle, catalogServer, readSse, sha, type CatalogServer, type SseReader } from "./helpers/serve-fixtures.js";

const CHROMIUM = "/usr/bin/chromium";
function chromiumOrExplain(): boolean {
  if (existsSync(CHROMIUM)) return true;
  if (process.env.CI) throw new Error("serve browser test: CI must provide Debian's chromium (scripts/setup-system.sh)");
  console.warn("serve browser test: NOT RUN on this machine: install chromium (apt-get install chromium)");
  return false;
}
const ready = requireOrExplain("serve browser test") && chromiumOrExplain();
const SHOTS = join(ROOT, "test-artifacts/serve");

let t: TestAgent;
let cat: CatalogServer;
let serve: Serve;
let sse: SseReader;
let context: BrowserContext;
let page: Page;
let profile: string;
let linux: Uint8Array;
const problems: string[] = [];

/** The test kernel and its initramfs as a boot bundle, made by the real encoder, and the catalog facts about it. */
async function testLinux(): Promise<{ bytes: Uint8Array; facts: Record<string, unknown> }> {
  const img = testImage();
  const input = {
    segments: [
      { name: "kernel", type: "kernel", data: new Uint8Array(readFileSync(img.kernel)) },
      { name: "initrd", type: "initrd", data: new Uint8Array(readFileSync(img.initrd)) },
    ],
    boot: { cmdline: "console=ttyS0 panic=-1 quiet", arch: "x86_64" as const, memory: "256M" },
    name: "testlinux",
    description: "Debian's cloud kernel and a busybox initramfs that prints PIXELRTS-BOOT-OK",
  };
  const layout = await layoutBundle(input, NODE_CODEC.sha256);
  const enc = await encodeContainer(layout.payload, bundleMetadata(layout, input), NODE_CODEC);
  const facts = { data_hash: enc.dataHash, data_size: layout.payload.length, grid_size: enc.gridSize, segments: layout.segments };
  return { bytes: await collectBytes(enc.png), facts };
}

const shot = (name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
const tile = (id: string) => page.locator(`.tile[data-id="${id}"]`);
const visibleTiles = () => page.locator(".tile:not([hidden])").count();

beforeAll(async () => {
  if (!ready) return;
  mkdirSync(SHOTS, { recursive: true });
  t = await makeTestAgent({ retries: 0 });
  const made = await testLinux();
  linux = made.bytes;
  cat = await catalogServer([
    { id: "alpine-tiny", bytes: await bundle(1), extra: { distro: "alpine", description: "a tiny Alpine-shaped bundle" } },
    { id: "debian-mini", bytes: await bundle(3), extra: { distro: "debian", description: "a small Debian-shaped bundle" } },
    { id: "fedora-small", bytes: await bundle(5), extra: { distro: "fedora", architecture: "aarch64", description: "a Fedora-shaped bundle for arm64" } },
    { id: "testlinux", bytes: linux, extra: { distro: "debian", kernel_version: testImage().version, description: "Debian's cloud kernel and a busybox initramfs", ...made.facts } },
  ]);
  await t.agent.servers.add({ url: cat.url, name: "edge", color: "#4f8cff" });
  serve = await startServe({ agent: t.agent, port: 0, bootDefaults: parseBootFlags({ kvm: "off", net: "none" }), stopTimeoutMs: 1000, killTimeoutMs: 5000, warn: () => {} });
  sse = await readSse(`${serve.url}/api/v1/events`);
  profile = mkdtempSync(join(tmpdir(), "pixelrts-chromium-"));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
    viewport: { width: 1400, height: 1000 },
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`console: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
}, 120_000);

afterAll(async () => {
  await page?.close().catch(() => {});
  await context?.close();
  sse?.close();
  await serve?.close();
  await cat?.close();
  await t?.cleanup();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

describe.runIf(ready)("the console in Chromium, booting the test kernel", () => {
  it("lists the tiles, search and filters narrow them, a dragged tile keeps its place after a reload", async () => {
    await page.goto(`${serve.url}/`);
    await page.locator(".tile").first().waitFor();
    expect(await page.locator(".tile").count()).toBe(4);
    await shot("01-console");

    await page.fill("#q", "fedora");
    expect(await visibleTiles()).toBe(1);
    expect(await tile("fedora-small").isVisible()).toBe(true);
    expect(await page.textContent("#count")).toBe("1 of 4 containers");
    await page.fill("#q", "");
    await page.selectOption("#f-distro", "debian");
    expect(await visibleTiles()).toBe(2);
    await page.selectOption("#f-distro", "");
    expect(await visibleTiles()).toBe(4);

    const [cw, ch] = await page.evaluate(() => ["--cell-w", "--cell-h"].map((v) => parseFloat(getComputedStyle(document.documentElement).getPropertyValue(v))));
    const from = (await tile("alpine-tiny").boundingBox())!;
    const grid = (await page.locator("#grid").boundingBox())!;
    const target = { x: 5, y: 2 };
    const moved = page.waitForResponse((r) => r.url().endsWith("/api/v1/catalog/layout") && r.request().method() === "POST");
    await page.mouse.move(from.x + from.width / 2, from.y + 20);
    await page.mouse.down();
    await page.mouse.move(grid.x + (target.x + 0.5) * cw!, grid.y + (target.y + 0.5) * ch!, { steps: 12 });
    await page.mouse.up();
    expect((await (await moved).json()).position).toEqual(target);
    await page.reload();
    await tile("alpine-tiny").waitFor();
    expect(await tile("alpine-tiny").evaluate((el: HTMLElement) => [el.dataset.x, el.dataset.y, el.style.left])).toEqual(["5", "2", `${5 * cw!}px`]);
    await shot("02-dragged-and-reloaded");
  });

  it("Pull shows the progress up to 100 %, then the tile is cached and verified", async () => {
    await tile("testlinux").locator(".tile-button").click();
    await page.locator('.entry[data-id="testlinux"]').waitFor();
    const pulled = sse.next((e) => e.event === "pull" && e.data.entry_id === "testlinux" && e.data.event === "done");
    await page.click(".entry [data-action=pull]");
    await page.waitForFunction(() => document.querySelector(".entry .progress")?.getAttribute("aria-valuenow") === "100" && /Pulled and verified/.test(document.querySelector(".entry .pull-status")?.textContent ?? ""));
    const done = await pulled;
    expect(done.data).toMatchObject({ sha256: sha(linux), from_cache: false });
    const mine = sse.events.filter((e) => e.event === "pull" && e.data.pull_id === done.data.pull_id);
    expect(mine.filter((e) => e.data.event === "progress").at(-1)!.data).toMatchObject({ bytes: linux.length, total: linux.length });
    await page.waitForFunction(() => document.querySelector('.tile[data-id="testlinux"] .badge.verified') !== null);
    expect(await page.textContent(".entry .pull-status")).toMatch(/^Pulled and verified: [\d.]+ MB, sha256 [0-9a-f]{16}…$/);
    // the tile now shows the container's own pixels (made here from the cached file)
    await page.waitForFunction(() => [...document.querySelectorAll<HTMLImageElement>('.tile[data-id="testlinux"] img, .entry-head img')].every((i) => i.complete && i.naturalWidth > 0) && document.querySelectorAll('.entry-head img').length === 1);
    await shot("03-pulled");
  });

  it("Boot (TCG) reaches running with the marker in the serial pane; Stop brings it to stopped", async () => {
    await page.fill(".entry input[name=memory]", "256M");
    await page.fill(".entry input[name=cpus]", "1");
    await page.fill(".entry input[name=cmdline]", "acpi=off");
    await page.click(".entry form.boot button[type=submit]");
    const card = page.locator('.vm[data-entry="testlinux"]');
    await card.waitFor();
    const vmId = (await card.getAttribute("data-vm"))!;
    await page.waitForFunction((id) => document.querySelector(`.vm[data-vm="${id}"]`)?.getAttribute("data-status") === "running", vmId);
    await page.waitForFunction(([id, marker]) => document.querySelector(`.vm[data-vm="${id}"] .serial`)?.textContent?.includes(marker!) ?? false, [vmId, MARKER] as const, { timeout: 90_000 });
    expect(await card.locator("[data-field=vnc]").textContent()).toMatch(/^127\.0\.0\.1:59\d\d$/);
    expect(await card.locator("[data-field=guest]").textContent()).toBe("256M, 1 CPU, TCG");
    expect(await card.locator(".serial").textContent()).toMatch(new RegExp(`${MARKER} kernel=\\S+`));
    expect(await tile("testlinux").getAttribute("data-status")).toBe("running");
    await shot("04-running");

    await card.locator("[data-action=stop]").click();
    await page.waitForFunction((id) => document.querySelector(`.vm[data-vm="${id}"]`)?.getAttribute("data-status") === "stopped", vmId, { timeout: 30_000 });
    await page.waitForFunction(() => document.querySelector('.tile[data-id="testlinux"]')?.getAttribute("data-status") !== "running" && !document.querySelector(".entry-head .badge.live"));
    await shot("05-stopped");

    // The same boot, as the API saw it: the real process's states, in order (this test's own
    // event stream may be a moment behind the page's).
    await sse.next((e) => e.event === "vm" && e.data.vm_id === vmId && e.data.status === "stopped");
    const states = sse.events.filter((e) => e.event === "vm" && e.data.vm_id === vmId).map((e) => e.data.status);
    expect(states.filter((s, i) => s !== states[i - 1])).toEqual(["booting", "running", "stopped"]);
    const status = (await (await fetch(`${serve.url}/api/v1/catalog/testlinux/status`)).json()) as Record<string, unknown>;
    expect(status).toMatchObject({ status: "stopped", pid: null, vnc_port: null, error_message: null });
    expect(serve.state.vms.get(vmId)).toMatchObject({ stopped_by: "sigterm", accel: "tcg", memory: "256M" });
  }, 150_000);

  it("has no console errors and no serious accessibility violations", async () => {
    // Evaluated over DevTools, not as a script tag: the page's CSP (rightly) refuses inline scripts.
    await page.evaluate(readFileSync(join(ROOT, "node_modules/axe-core/axe.min.js"), "utf8"));
    const violations = await page.evaluate(async () => {
      const r = await (window as unknown as { axe: { run(o: unknown): Promise<{ violations: { id: string; impact: string; nodes: unknown[] }[] }> } }).axe.run({ runOnly: ["wcag2a", "wcag2aa"] });
      return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length }));
    });
    expect(violations.filter((v) => v.impact === "serious" || v.impact === "critical")).toEqual([]);
    expect(problems).toEqual([]);
  });
});
