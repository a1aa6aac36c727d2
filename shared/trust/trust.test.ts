/**
 * The signature core (DSSE, keys, statements, verdicts) in Node; worker/trust.test.ts runs the
 * same round trip inside workerd. Keys are made with node:crypto the way the agent stores them
 * (PKCS#8), so signing here is what `pixelrts sign` does.
 */
import { generateKeyPairSync, sign as nodeSign, type KeyObject } from "node:crypto";
import { describe, expect, it } from "vitest";
import { fromBase64, toBase64 } from "../bytes.js";
import { pae, parseEnvelope, signEnvelope, type DsseEnvelope } from "./dsse.js";
import { keyIdOf, parsePublicKey, publicKeyFromRaw, type PublicKey } from "./keys.js";
import { encodeStatement, PAYLOAD_TYPE } from "./statement.js";
import { judgeSignatures, type Subject } from "./verify.js";

const SHA = "ab".repeat(32);
const OTHER = "cd".repeat(32);
const subject: Subject = { sha256: SHA, size: 1234, name: "demo" };

async function newKey(): Promise<{ key: PublicKey; priv: KeyObject }> {
  const { publicKey, privateKey } = generateKeyPairSync("ed25519");
  const raw = Buffer.from(publicKey.export({ format: "jwk" }).x!, "base64url");
  return { key: await publicKeyFromRaw(new Uint8Array(raw)), priv: privateKey };
}

async function signed(k: { key: PublicKey; priv: KeyObject }, over: Partial<{ name: string; sha256: string; size: number; signed_at: string }> = {}): Promise<DsseEnvelope> {
  const body = encodeStatement({ name: "demo", version: "1.0", sha256: SHA, size: 1234, data_hash: null, signed_at: "2026-12-03T08:00:00Z", ...over });
  return signEnvelope(PAYLOAD_TYPE, body, k.key, async (m) => new Uint8Array(nodeSign(null, m, k.priv)));
}

const clone = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;

describe("DSSE", () => {
  it("PAE matches the DSSE specification's example", () => {
    const out = pae("http://example.com/HelloWorld", new TextEncoder().encode("hello world"));
    expect(new TextDecoder().decode(out)).toBe("DSSEv1 29 http://example.com/HelloWorld 11 hello world");
  });

  it("keys: ed25519:<base64> round trip, key id = first 16 hex of SHA-256(raw)", async () => {
    const { key } = await newKey();
    const again = await parsePublicKey(key.text);
    expect(again.keyid).toBe(key.keyid);
    expect(key.keyid).toBe(await keyIdOf(key.raw));
    expect(key.keyid).toMatch(/^[0-9a-f]{16}$/);
    await expect(parsePublicKey("ed25519:" + toBase64(new Uint8Array(31)))).rejects.toMatchObject({ code: "E_BAD_KEY" });
    await expect(parsePublicKey("rsa:AAAA")).rejects.toMatchObject({ code: "E_BAD_KEY" });
  });

  it("base64 is canonical only: URL-safe, unpadded or whitespace spellings are refused", () => {
    expect(fromBase64("AAEC")).toEqual(new Uint8Array([0, 1, 2]));
    for (const bad of ["AAE", "AA-C", "AA C", "AAF=", "AAE=="]) expect(fromBase64(bad)).toBeUndefined();
  });

  it("parseEnvelope refuses what is not an envelope of ours", async () => {
    const env = await signed(await newKey());
    expect(parseEnvelope(JSON.stringify(env))).toEqual(env);
    for (const bad of [null, [], { ...env, signatures: [] }, { ...env, payload: "not base64!" }, { ...env, signatures: [{ keyid: "xyz", sig: env.signatures[0]!.sig }] }, "x".repeat(20_000)]) {
      expect(() => parseEnvelope(bad)).toThrow(expect.objectContaining({ code: "E_SIGNATURE_INVALID" }));
    }
  });
});

describe("judging signatures", () => {
  it("a trusted key's signature over this file is trusted", async () => {
    const k = await newKey();
    const r = await judgeSignatures([await signed(k)], subject, [{ key: k.key, name: "alice" }]);
    expect(r.state).toBe("trusted");
    expect(r.trusted).toMatchObject({ keyid: k.key.keyid, key_name: "alice", statement: { name: "demo", sha256: SHA } });
  });

  it("a tampered payload, statement, signature or key id is invalid", async () => {
    const k = await newKey();
    const trusted = [{ key: k.key, name: "alice" }];
    const env = await signed(k);
    const flippedSig = clone(env);
    const sig = fromBase64(flippedSig.signatures[0]!.sig)!;
    sig[5] = sig[5]! ^ 1;
    flippedSig.signatures[0]!.sig = toBase64(sig);
    const otherStatement = clone(env);
    otherStatement.payload = toBase64(encodeStatement({ name: "demo", version: "1.0", sha256: SHA, size: 1234, data_hash: null, signed_at: "2027-01-01T00:00:00Z" }));
    const garbledPayload = clone(env);
    garbledPayload.payload = toBase64(new TextEncoder().encode('{"type":"nope"}'));
    const wrongKeyId = clone(env);
    wrongKeyId.signatures[0]!.keyid = "0".repeat(16);
    const wrongType = clone(env);
    wrongType.payloadType = "application/vnd.in-toto+json";
    for (const bad of [flippedSig, otherStatement, garbledPayload, wrongKeyId, wrongType]) {
      const r = await judgeSignatures([bad], subject, trusted);
      expect(r.state).toBe("invalid");
    }
  });

  it("a valid envelope for another file, size or name is a mismatch", async () => {
    const k = await newKey();
    const trusted = [{ key: k.key, name: "alice" }];
    for (const over of [{ sha256: OTHER }, { size: 99 }, { name: "other" }]) {
      const r = await judgeSignatures([await signed(k, over)], subject, trusted);
      expect(r.state).toBe("mismatch");
      expect(r.verdicts[0]).toMatchObject({ state: "mismatch", reason: expect.any(String) });
    }
    // a file, URL or digest ref has no resolved name: the name is not compared
    expect((await judgeSignatures([await signed(k, { name: "other" })], { sha256: SHA, size: 1234 }, trusted)).state).toBe("trusted");
  });

  it("an unknown key is untrusted; no envelope is unsigned; garbage never cancels a trusted signature", async () => {
    const alice = await newKey();
    const mallory = await newKey();
    const byMallory = await signed(mallory);
    const r = await judgeSignatures([byMallory], subject, [{ key: alice.key, name: "alice" }]);
    expect(r).toMatchObject({ state: "untrusted", keyids: [mallory.key.keyid] });
    expect((await judgeSignatures([], subject, [])).state).toBe("unsigned");
    const mixed = await judgeSignatures([{ junk: true }, byMallory, await signed(alice)], subject, [{ key: alice.key, name: "alice" }]);
    expect(mixed.state).toBe("trusted");
    expect(mixed.keyids.sort()).toEqual([alice.key.keyid, mallory.key.keyid].sort());
  });

  it("the newest trusted statement is the one reported (rollback checks read its signed_at)", async () => {
    const k = await newKey();
    const old = await signed(k, { signed_at: "2026-01-01T00:00:00Z" });
    const recent = await signed(k, { signed_at: "2026-12-01T00:00:00.5Z" });
    const r = await judgeSignatures([old, recent], subject, [{ key: k.key, name: "alice" }]);
    expect(r.trusted?.statement.signed_at).toBe("2026-12-01T00:00:00.5Z");
  });
});
