/**
 * Signatures between the real Worker (Miniflare) and the agent: a container published with its
 * envelope, pulled by a boot host that requires signatures — directly, and through the fault
 * proxy as a man in the middle that flips a byte and rewrites the digest headers to match (the
 * fault suite's "consistent liar", which without signatures ends up cached under its own digest).
 * With a trusted signature that liar is refused at pull time and nothing reaches the cache.
 */
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { retryPolicyFrom } from "../agent/config/settings.js";
import { pack } from "../agent/commands/pack.js";
import { publishContainer } from "../agent/publish/publish.js";
import { ensureCached } from "../agent/pull/ensure.js";
import { makeTestAgent, type TestAgent } from "../agent/testing/harness.js";
import { Keyring } from "../agent/trust/keyring.js";
import { signSubject } from "../agent/trust/sign.js";
import { TrustStore } from "../agent/trust/store.js";
import { startFaultProxy, type FaultProxy } from "./helpers/fault-proxy.js";
import { startTestWorker, type TestWorker } from "./helpers/miniflare-worker.js";

const TOKEN = "trust-token";
let worker: TestWorker;
let proxy: FaultProxy;
let publisher: TestAgent;
let file = "";
let sha = "";

const codeOf = (p: Promise<unknown>) => p.then(() => "resolved", (e: { code?: string }) => e.code);

beforeAll(async () => {
  worker = await startTestWorker({ PUBLISH_TOKEN: TOKEN });
  proxy = await startFaultProxy(worker.url, { keepHost: true });
  publisher = await makeTestAgent({ retries: 0 });
  const payload = Buffer.alloc(600_000);
  let x = 5;
  for (let i = 0; i < payload.length; i++) payload[i] = (x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 24;
  writeFileSync(join(publisher.dir, "payload.bin"), payload);
  file = join(publisher.dir, "signed.rts.png");
  await pack({ values: { output: file, type: "kernel", name: "signed", level: "1" }, given: new Set(), positionals: [join(publisher.dir, "payload.bin")], out: () => {}, err: () => {}, json: false, verbose: false, stdoutIsTTY: false, signal: new AbortController().signal });
  sha = createHash("sha256").update(readFileSync(file)).digest("hex");
  const key = await new Keyring(publisher.agent.paths.configDir).generate("release");
  const signer = await new Keyring(publisher.agent.paths.configDir).load("release");
  expect(key.keyid).toBe(signer.key.keyid);
  await publishContainer(publisher.agent.http, file, { serverUrl: worker.url, token: TOKEN, name: "signed", thumbnail: false, retry: retryPolicyFrom(publisher.agent.settings), sign: async (s) => (await signSubject(s, signer)).envelope });
}, 60_000);

afterAll(async () => {
  await proxy?.close();
  await publisher?.cleanup();
  await worker?.dispose();
});

async function host(through: string): Promise<TestAgent> {
  const t = await makeTestAgent({ retries: 0, signatures: "require" });
  await t.agent.servers.add({ url: through, name: "edge" });
  const pub = (await new Keyring(publisher.agent.paths.configDir).list())[0]!.key;
  await new TrustStore(t.agent.paths.configDir).add({ key: pub.text, name: "release" });
  return t;
}

describe("signatures from the real Worker", () => {
  it("the Worker serves the envelope published with the container; a host that trusts its key pulls it", async () => {
    const list = (await (await fetch(`${worker.url}/blobs/sha256/${sha}/signatures`)).json()) as { signatures: unknown[] };
    expect(list.signatures).toHaveLength(1);
    const t = await host(worker.url);
    try {
      const r = await ensureCached(t.agent, "signed");
      expect(r).toMatchObject({ sha256: sha, fromCache: false, trust: { state: "trusted", key_name: "release" } });
    } finally {
      await t.cleanup();
    }
  });

  it("a man in the middle rewriting bytes, digests and the catalog is refused at pull time; nothing is cached", async () => {
    // A consistent liar: flipped bytes, digest headers and every catalog answer all name the
    // flipped file's SHA-256. Only the publisher's signature still names the real one.
    const flipped = readFileSync(file);
    flipped[300_000] = flipped[300_000]! ^ 0xff;
    const liar = createHash("sha256").update(flipped).digest("hex");
    const lie = () => {
      proxy.log.length = 0;
      proxy.substitute({ from: sha, to: liar });
      proxy.plan([{ kind: "flip", at: 300_000, rewriteDigest: true }], { repeat: true });
    };
    const off = await makeTestAgent({ retries: 0, signatures: "off" });
    const t = await host(proxy.url);
    try {
      // control: without signatures the lie is believed (the test's MITM is real)
      await off.agent.servers.add({ url: proxy.url, name: "edge" });
      lie();
      expect(await ensureCached(off.agent, "signed")).toMatchObject({ sha256: liar });
      expect(proxy.log).toContain("flip");
      lie();
      expect(await codeOf(ensureCached(t.agent, "signed", { emit: t.emit }))).toBe("E_SIGNATURE_MISMATCH");
      expect(await t.agent.cache.list()).toEqual([]);
    } finally {
      proxy.substitute(undefined);
      proxy.plan([]);
      await off.cleanup();
      await t.cleanup();
    }
  });

  it("by URL too: the envelope listed beside the bytes pins what a URL pull accepts", async () => {
    const t = await host(proxy.url);
    try {
      proxy.plan([{ kind: "flip", at: 300_000, rewriteDigest: true }]);
      expect(await codeOf(ensureCached(t.agent, `${proxy.url}/api/v1/containers/signed`))).toMatch(/^E_(DIGEST|SIGNATURE)_MISMATCH$/);
      expect(await t.agent.cache.list()).toEqual([]);
      proxy.plan([]);
      const ok = await ensureCached(t.agent, `${proxy.url}/api/v1/containers/signed`);
      expect(ok.trust).toMatchObject({ state: "trusted", key_name: "release" });
    } finally {
      await t.cleanup();
    }
  });
});
