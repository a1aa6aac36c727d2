/** Keys, the trust store and rollback memory on real files in a temp config dir. */
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { pae, signEnvelope } from "../../shared/trust/dsse.js";
import { encodeStatement, PAYLOAD_TYPE } from "../../shared/trust/statement.js";
import { judgeSignatures } from "../../shared/trust/verify.js";
import { Keyring } from "./keyring.js";
import { AcceptedSignatures, TrustStore } from "./store.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "pixelrts-trust-"));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

describe("keyring", () => {
  it("generates an Ed25519 PKCS#8 key with mode 0600, never overwrites one, signs verifiably", async () => {
    const ring = new Keyring(dir);
    const pub = await ring.generate("release");
    expect(pub.text).toMatch(/^ed25519:[A-Za-z0-9+/]{43}=$/);
    const pem = join(dir, "keys", "release.pem");
    expect((await stat(pem)).mode & 0o777).toBe(0o600);
    expect(await readFile(pem, "utf8")).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    await expect(ring.generate("release")).rejects.toMatchObject({ code: "E_KEY_EXISTS" });
    expect((await ring.list()).map((k) => [k.name, k.key.keyid])).toEqual([["release", pub.keyid]]);
    const signer = await ring.load("release");
    const body = encodeStatement({ name: "demo", version: null, sha256: "ab".repeat(32), size: 10, data_hash: null, signed_at: "2026-12-03T00:00:00Z" });
    const env = await signEnvelope(PAYLOAD_TYPE, body, signer.key, signer.sign);
    expect(env.signatures[0]!.keyid).toBe(pub.keyid);
    expect(pae(env.payloadType, body).length).toBeGreaterThan(body.length);
    const verdict = await judgeSignatures([env], { sha256: "ab".repeat(32), size: 10 }, [{ key: pub, name: "release" }]);
    expect(verdict.state).toBe("trusted");
    await expect(ring.load("nope")).rejects.toMatchObject({ code: "E_KEY_UNKNOWN", message: expect.stringContaining("release") });
    await expect(ring.generate("../evil")).rejects.toMatchObject({ code: "E_USAGE" });
  });
});

describe("trust store", () => {
  it("adds keys globally or per server, lists, removes by name or key id", async () => {
    const ring = new Keyring(dir);
    const a = await ring.generate("a");
    const b = await ring.generate("b");
    const store = new TrustStore(dir);
    await store.add({ key: a.text, name: "alice" });
    await store.add({ key: b.text, server: "lab" });
    expect((await store.trustedFor("lab")).map((t) => t.name).sort()).toEqual(["alice", b.keyid].sort());
    expect((await store.trustedFor("edge")).map((t) => t.name)).toEqual(["alice"]);
    expect((await store.trustedFor(undefined)).map((t) => t.name)).toEqual(["alice"]);
    await expect(store.add({ key: b.text, name: "alice" })).rejects.toMatchObject({ code: "E_TRUST_EXISTS" });
    await expect(store.add({ key: "ed25519:nope" })).rejects.toMatchObject({ code: "E_BAD_KEY" });
    // trusting a server-scoped key everywhere widens it
    await store.add({ key: b.text });
    expect((await store.trustedFor("edge")).length).toBe(2);
    expect((await store.remove(b.keyid)).name).toBe(b.keyid);
    expect((await store.remove("alice")).keyid).toBe(a.keyid);
    expect(await store.list()).toEqual([]);
    await expect(store.remove("alice")).rejects.toMatchObject({ code: "E_KEY_UNKNOWN" });
  });
});

describe("rollback memory", () => {
  it("refuses an older signature for a server and name unless a downgrade is allowed; only moves forward", async () => {
    const acc = new AcceptedSignatures(dir);
    await acc.check("edge", "demo", "2026-01-01T00:00:00Z", false);
    await acc.record("edge", "demo", "2026-06-01T00:00:00Z");
    await acc.record("edge", "demo", "2026-02-01T00:00:00Z"); // older: ignored
    expect(await acc.newest("edge", "demo")).toBe("2026-06-01T00:00:00Z");
    await expect(acc.check("edge", "demo", "2026-05-31T23:59:59Z", false)).rejects.toMatchObject({ code: "E_ROLLBACK" });
    await acc.check("edge", "demo", "2026-05-31T23:59:59Z", true);
    await acc.check("edge", "demo", "2026-06-01T00:00:00Z", false); // the same signature again is fine
    await acc.check("lab", "demo", "2020-01-01T00:00:00Z", false); // per server
  });
});

describe("renaming a server", () => {
  it("carries its scoped keys and its rollback memory to the new name (regression: a rename turned both off)", async () => {
    const b = await new Keyring(dir).generate("b");
    const store = new TrustStore(dir);
    await store.add({ key: b.text, name: "lab-key", server: "lab" });
    const acc = new AcceptedSignatures(dir);
    await acc.record("lab", "demo", "2026-06-01T00:00:00Z");
    await acc.record("edge", "demo", "2026-01-01T00:00:00Z");
    await store.renameServer("lab", "lab2");
    await acc.renameServer("lab", "lab2");
    expect((await store.trustedFor("lab2")).map((t) => t.name)).toEqual(["lab-key"]);
    expect(await store.trustedFor("lab")).toEqual([]);
    await expect(acc.check("lab2", "demo", "2026-05-01T00:00:00Z", false)).rejects.toMatchObject({ code: "E_ROLLBACK" });
    expect(await acc.newest("lab", "demo")).toBeUndefined();
    expect(await acc.newest("edge", "demo")).toBe("2026-01-01T00:00:00Z");
  });
});
