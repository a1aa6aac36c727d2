/**
 * The fault suite: the agent pulls a container from the real Worker (Miniflare) through a
 * fault-injecting proxy. Whatever goes wrong, it must end with either the correct, verified file
 * or a clear error, and the cache must never hold a bad entry ("lost" stays 0). Prints a table.
 */
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isPixelRtsError } from "../shared/errors.js";
import { verify } from "../agent/cache/index.js";
import { retryPolicyFrom } from "../agent/config/settings.js";
import { decodeFile } from "../agent/codec/files.js";
import { pack } from "../agent/commands/pack.js";
import { publishContainer } from "../agent/publish/publish.js";
import { ensureCached } from "../agent/pull/ensure.js";
import { makeTestAgent, type TestAgent } from "../agent/testing/harness.js";
import { startFaultProxy, type FaultProxy, type ProxyFault } from "./helpers/fault-proxy.js";
import { startTestWorker, type TestWorker } from "./helpers/miniflare-worker.js";

const TOKEN = "fault-token";
let worker: TestWorker;
let proxy: FaultProxy;
let setup: TestAgent;
let expected = "";
let size = 0;
const rows: { fault: string; outcome: "recovered" | "refused" | "LOST"; detail: string; requests: number }[] = [];

beforeAll(async () => {
  worker = await startTestWorker({ PUBLISH_TOKEN: TOKEN });
  proxy = await startFaultProxy(worker.url);
  setup = await makeTestAgent();
  const payload = Buffer.alloc(3_000_000);
  let x = 99;
  for (let i = 0; i < payload.length; i++) payload[i] = (x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 24;
  writeFileSync(join(setup.dir, "payload.bin"), payload);
  const out = join(setup.dir, "c.rts.png");
  await pack({ values: { output: out, type: "kernel", name: "kernel", level: "1" }, positionals: [join(setup.dir, "payload.bin")], out: () => {}, err: () => {}, json: false, verbose: false, stdoutIsTTY: false, signal: new AbortController().signal });
  const bytes = readFileSync(out);
  expected = createHash("sha256").update(bytes).digest("hex");
  size = bytes.length;
  await publishContainer(setup.agent.http, out, { serverUrl: worker.url, token: TOKEN, name: "victim", thumbnail: false, retry: retryPolicyFrom(setup.agent.settings) });
}, 60_000);

afterAll(async () => {
  await proxy?.close();
  await worker?.dispose();
  await setup?.cleanup();
  const lost = rows.filter((r) => r.outcome === "LOST").length;
  const table = [
    "fault                                   outcome    requests  detail",
    ...rows.map((r) => `${r.fault.padEnd(40)}${r.outcome.padEnd(11)}${String(r.requests).padEnd(10)}${r.detail}`),
    `faults tried ${rows.length} / recovered ${rows.filter((r) => r.outcome === "recovered").length} / refused ${rows.filter((r) => r.outcome === "refused").length} / lost ${lost}`,
  ];
  console.log(table.join("\n"));
});

/**
 * Pulls through the proxy with `faults` queued and classifies the end state. Cache integrity is
 * checked every time: `cache verify` must find nothing to remove.
 */
async function attempt(name: string, faults: ProxyFault[], via = "url"): Promise<{ outcome: string; code?: string }> {
  const t = await makeTestAgent({ bodyTimeoutMs: 400, retryBaseMs: 20, retryMaxMs: 3000, retryJitterMs: 5, retries: 3 });
  proxy.plan(faults);
  const before = proxy.log.length;
  let outcome: "recovered" | "refused" | "LOST";
  let detail: string;
  let code: string | undefined;
  try {
    const got = await ensureCached(t.agent, via === "url" ? `${proxy.url}/api/v1/containers/victim` : via);
    const actual = createHash("sha256").update(readFileSync(got.path)).digest("hex");
    if (actual === expected) {
      outcome = "recovered";
      detail = `verified ${size} bytes`;
    } else {
      // The transport could not tell (a consistent liar): the container's own data_hash must.
      try {
        await decodeFile(got.path, { sidecar: false });
        outcome = "LOST";
        detail = `accepted wrong bytes ${actual.slice(0, 12)}`;
      } catch (e) {
        code = isPixelRtsError(e) ? e.code : "E_INTERNAL";
        outcome = "refused";
        detail = `pull accepted the liar's digest; decode refused: ${code}`;
      }
    }
  } catch (e) {
    code = isPixelRtsError(e) ? e.code : "E_INTERNAL";
    outcome = "refused";
    detail = `${code}: ${(e as Error).message.split("\n")[0]!.slice(0, 90)}`;
  }
  const report = await verify(t.agent.cache);
  expect(report.removed, `${name}: cache verify found bad entries`).toEqual([]);
  for (const e of await t.agent.cache.list()) if (e.sha256 !== expected) expect(outcome, `${name}: a foreign entry is cached`).toBe("refused");
  rows.push({ fault: name, outcome, detail, requests: proxy.log.length - before });
  await t.cleanup();
  return { outcome, ...(code ? { code } : {}) };
}

describe("pull through a faulty network path", () => {
  it.each([
    ["connection reset at 10%", [{ kind: "reset", at: 300_000 }]],
    ["resets at 3 offsets in a row", [{ kind: "reset", at: 100_000 }, { kind: "reset", at: 50_000 }, { kind: "reset", at: 1_000_000 }]],
    ["stall past the body timeout", [{ kind: "stall", at: 1_500_000, ms: 2_000 }]],
    ["slow drip (16 KiB / 10 ms)", [{ kind: "drip", chunk: 16_384, everyMs: 10 }]],
    ["truncated body, full Content-Length", [{ kind: "truncate", at: 2_000_000 }]],
    ["503 burst (x2) with Retry-After: 1", [{ kind: "503", retryAfter: 1 }, { kind: "503", retryAfter: 1 }]],
  ] as [string, ProxyFault[]][])("%s → recovered, verified", async (name, faults) => {
    expect((await attempt(name, faults)).outcome).toBe("recovered");
  });

  it.each([
    ["flipped byte (digest mismatch)", [{ kind: "flip", at: 1_234_567 }], ["E_DIGEST_MISMATCH"]],
    ["flipped byte, digest headers rewritten", [{ kind: "flip", at: 1_234_567, rewriteDigest: true }], ["E_HASH_MISMATCH", "E_PNG_CRC"]],
    ["503 on every try (x5)", Array.from({ length: 5 }, () => ({ kind: "503", retryAfter: 0 })), ["E_SERVER", "E_HTTP"]],
  ] as [string, ProxyFault[], string[]][])("%s → refused with a clear error", async (name, faults, codes) => {
    const r = await attempt(name, faults);
    expect(r.outcome).toBe("refused");
    expect(codes).toContain(r.code);
  });

  it("server down → refused, nothing cached", async () => {
    const r = await attempt("server unreachable", [], "http://127.0.0.1:9/api/v1/containers/victim");
    expect(r.outcome).toBe("refused");
    expect(["E_NETWORK", "E_OFFLINE"]).toContain(r.code);
  });

  it("lost nothing", () => {
    expect(rows.length).toBeGreaterThanOrEqual(10);
    expect(rows.filter((r) => r.outcome === "LOST")).toEqual([]);
  });
});
