/**
 * `pixelrts publish` against the real Worker (Miniflare, local R2): single PUT and multipart,
 * the thumbnail, deduplication, and every refusal (token, damaged file, bad name) leaving the
 * catalog as it was.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseIhdr } from "../shared/png/ihdr.js";
import { retryPolicyFrom } from "../agent/config/settings.js";
import { publishContainer } from "../agent/publish/publish.js";
import { ensureCached } from "../agent/pull/ensure.js";
import { makeTestAgent, type TestAgent } from "../agent/testing/harness.js";
import { startTestWorker, type TestWorker } from "./helpers/miniflare-worker.js";

const ROOT = join(import.meta.dirname, "..");
const TOKEN = "publish-test-token";
let worker: TestWorker;
let t: TestAgent;

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
function cli(args: string[], extraEnv: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [join(ROOT, "agent/bin/pixelrts.mjs"), ...args], { cwd: t.dir, encoding: "utf8", env: { ...process.env, ...t.env, PIXELRTS_TOKEN: TOKEN, ...extraEnv } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
function randomFile(path: string, n: number, seed: number) {
  const b = Buffer.alloc(n);
  let x = seed;
  for (let i = 0; i < n; i++) b[i] = (x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 24;
  writeFileSync(path, b);
}
async function catalogNames(): Promise<string[]> {
  const res = await request(`${worker.url}/api/v1/catalog?thumbnails=0`);
  return ((await res.body.json()) as { entries: { name: string }[] }).entries.map((e) => e.name).sort();
}

beforeAll(async () => {
  worker = await startTestWorker({ PUBLISH_TOKEN: TOKEN });
  t = await makeTestAgent();
  randomFile(join(t.dir, "vmlinuz"), 300_000, 1);
  expect(cli(["pack", "vmlinuz", "--name", "kernel", "--type", "kernel", "-o", "k.rts.png"]).code).toBe(0);
  expect(cli(["servers", "add", worker.url, "--name", "edge"]).code).toBe(0);
}, 60_000);

afterAll(async () => {
  await t?.cleanup();
  await worker?.dispose();
  expect(worker.outbound).toEqual([]);
});

describe("pixelrts publish", () => {
  it("uploads a container with its SHA-256 and a thumbnail, and prints the catalog URL", async () => {
    const r = cli(["publish", "k.rts.png", "--server", "edge", "--name", "kern", "--distro", "demo", "--arch", "x86_64"]);
    expect(r.code, r.stderr).toBe(0);
    const fileSha = sha(readFileSync(join(t.dir, "k.rts.png")));
    expect(r.stdout).toContain(`sha256 ${fileSha}`);
    expect(r.stdout).toContain(`${worker.url}/api/v1/catalog/kern`);
    const entry = (await (await request(`${worker.url}/api/v1/catalog/kern`)).body.json()) as { hash: string; sha256: string; distro: string; architecture: string };
    expect(entry).toMatchObject({ hash: fileSha, sha256: fileSha, distro: "demo", architecture: "x86_64" });
    const thumb = await request(`${worker.url}/api/v1/containers/kern/thumbnail`);
    expect(thumb.statusCode).toBe(200);
    const png = new Uint8Array(await thumb.body.arrayBuffer());
    const ihdr = parseIhdr(png.subarray(16, 29));
    expect([ihdr.width, ihdr.height]).toEqual([256, 256]);
  });

  it("says so when the server already has the bytes", () => {
    const r = cli(["publish", "k.rts.png", "--server", "edge", "--name", "kern", "--json", "--no-thumbnail"]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ event: "published", deduplicated: true, thumbnail: false });
  });

  it("refuses without the right token (exit 4), and publishes nothing", async () => {
    const before = await catalogNames();
    const wrong = cli(["publish", "k.rts.png", "--server", "edge", "--name", "nope"], { PIXELRTS_TOKEN: "wrong" });
    expect(wrong.code).toBe(4);
    expect(wrong.stderr).toMatch(/^pixelrts: E_AUTH: .*refused the token \(403/);
    const none = cli(["publish", "k.rts.png", "--server", "edge", "--name", "nope"], { PIXELRTS_TOKEN: "" });
    expect(none.code).toBe(4);
    expect(none.stderr).toMatch(/E_AUTH: no publish token: set PIXELRTS_TOKEN/);
    expect(await catalogNames()).toEqual(before);
  });

  it("never uploads a damaged container or a bad name", async () => {
    const before = await catalogNames();
    copyFileSync(join(ROOT, "test/fixtures/vectors/corrupt_pixelflip_nonpow_1000003.rts.png"), join(t.dir, "bad.rts.png"));
    const bad = cli(["publish", "bad.rts.png", "--server", "edge"]);
    expect(bad.code).toBe(3);
    expect(bad.stderr).toMatch(/E_HASH_MISMATCH/);
    const name = cli(["publish", "k.rts.png", "--server", "edge", "--name", "../etc"]);
    expect(name.code).toBe(2);
    expect(name.stderr).toMatch(/E_BAD_NAME/);
    expect(await catalogNames()).toEqual(before);
  });

  it("uses multipart upload above the single-request limit, and the pulled bytes match", async () => {
    randomFile(join(t.dir, "big.bin"), 12_000_000, 7);
    expect(cli(["pack", "big.bin", "--type", "os", "--level", "1", "-o", "big.rts.png"]).code).toBe(0);
    const file = join(t.dir, "big.rts.png");
    const steps: string[] = [];
    const r = await publishContainer(t.agent.http, file, { serverUrl: worker.url, token: TOKEN, name: "big", singlePutMax: 1, partSize: 5 * 1024 * 1024, thumbnail: false, retry: retryPolicyFrom(t.agent.settings), onStep: (s) => steps.push(s) });
    expect(r.multipart).toBe(true);
    expect(steps.filter((s) => s.startsWith("uploading part"))).toEqual(["uploading part 1/3", "uploading part 2/3", "uploading part 3/3"]);
    const got = await ensureCached(t.agent, `${worker.url}/api/v1/containers/big`);
    expect(got.sha256).toBe(sha(readFileSync(file)));
  });
});
