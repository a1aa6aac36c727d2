/**
 * What signature checks cost a cached boot (issue 9 asks for under 10 ms): the verification
 * itself in-process (read the envelopes saved with the blob, parse, Ed25519-verify, judge against
 * the trust store), and `pixelrts boot NAME --dry-run --offline` of a cached, signed container with
 * `signatures: off` against `require`, medians of 31 interleaved runs each, in the same run
 * (process start-up varies by ±10 ms; the in-process figure is the cost itself). Prints figures;
 * asserts nothing.
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CacheLayout } from "../agent/cache/layout.js";
import { judge, loadEnvelopes } from "../agent/trust/policy.js";

const ROOT = join(import.meta.dirname, "..");
const CLI = join(ROOT, "agent/bin/pixelrts.mjs");
const work = mkdtempSync(join(tmpdir(), "pixelrts-trustbench-"));
const env = { ...process.env, PIXELRTS_CACHE_DIR: join(work, "cache"), PIXELRTS_CONFIG_DIR: join(work, "config"), PIXELRTS_RETRIES: "0" };
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
/** Runs the CLI without blocking this process (its catalog server answers from here). */
const cli = (args: string[], extra: Record<string, string> = {}): Promise<{ ms: number; out: string }> =>
  new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [CLI, ...args], { cwd: work, env: { ...env, ...extra }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
    child.on("close", (code) => (code === 0 ? resolve({ ms: performance.now() - t0, out }) : reject(new Error(`pixelrts ${args.join(" ")} failed: ${err}`))));
  });

const server = createServer();
try {
  // a bootable container (synthetic 12 MB kernel: the size of the real one), signed
  writeFileSync(join(work, "vmlinuz"), Buffer.alloc(12_000_000, 1));
  await cli(["pack", "--kernel", join(work, "vmlinuz"), "--name", "demo", "-o", "demo.rts.png"]);
  const key = JSON.parse((await cli(["key", "generate", "bench", "--json"])).out) as { public_key: string };
  await cli(["trust", "add", key.public_key, "--name", "bench"]);
  await cli(["sign", "demo.rts.png", "--key", "bench", "--name", "demo"]);
  const file = readFileSync(join(work, "demo.rts.png"));
  const sha = createHash("sha256").update(file).digest("hex");
  const envelope = JSON.parse(readFileSync(join(work, "demo.sig.json"), "utf8"));

  server.on("request", (req, res) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    if (path === "/api/v1/catalog") {
      res.writeHead(200, { "content-type": "application/json" });
      return res.end(JSON.stringify({ entries: [{ id: "demo", name: "demo", size: file.length, sha256: sha, blob_url: `${base}/blobs/sha256/${sha}` }] }));
    }
    if (path.endsWith("/signatures")) {
      res.writeHead(200, { "content-type": "application/json" });
      return res.end(JSON.stringify({ signatures: [envelope] }));
    }
    res.writeHead(200, { "content-type": "image/png", "content-length": String(file.length), "x-pixelrts-sha256": sha });
    res.end(file);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  await cli(["servers", "add", base, "--name", "bench", "--no-check"]);
  await cli(["pull", "demo"], { PIXELRTS_SIGNATURES: "require" });

  // 1. the verification alone, in-process
  const layout = new CacheLayout(env.PIXELRTS_CACHE_DIR);
  const inProcess: number[] = [];
  for (let i = 0; i < 50; i++) {
    const t0 = performance.now();
    const envelopes = await loadEnvelopes(layout, sha);
    const { summary } = await judge(env.PIXELRTS_CONFIG_DIR, envelopes, { sha256: sha, size: file.length, name: "demo" }, { policy: "require", server: "bench", name: "demo" });
    if (summary.state !== "trusted") throw new Error(`not trusted: ${summary.state}`);
    inProcess.push(performance.now() - t0);
  }

  // 2. a cached boot (dry run, offline) with and without the check, interleaved
  const off: number[] = [];
  const req: number[] = [];
  for (let i = 0; i < 31; i++) {
    off.push((await cli(["boot", "demo", "--dry-run", "--kvm", "off", "--offline"], { PIXELRTS_SIGNATURES: "off" })).ms);
    req.push((await cli(["boot", "demo", "--dry-run", "--kvm", "off", "--offline"], { PIXELRTS_SIGNATURES: "require" })).ms);
  }
  console.log("signature verification on a cached boot (one envelope, Ed25519, trust store on disk)");
  console.log(`  verification alone, in-process, median of 50 (first: ${inProcess[0]!.toFixed(2)} ms)   ${median(inProcess.slice(1)).toFixed(2)} ms`);
  console.log(`  boot NAME --dry-run --offline, signatures: off       ${median(off).toFixed(0)} ms (median of 31)`);
  console.log(`  boot NAME --dry-run --offline, signatures: require   ${median(req).toFixed(0)} ms (median of 31)`);
  console.log(`  difference                                           ${(median(req) - median(off)).toFixed(1)} ms`);
} finally {
  server.close();
  rmSync(work, { recursive: true, force: true });
}
