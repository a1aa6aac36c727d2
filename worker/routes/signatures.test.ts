/**
 * Signatures through the real Worker in workerd (local R2): envelopes signed here with WebCrypto
 * Ed25519, validated by the Worker with the shared trust core, stored under the blob's digest,
 * listed back, verified again with the same core; PUBLISH_KEYS; replacement by a newer
 * signed_at only; and a signature write racing a DELETE (every interleaving).
 */
import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { fromBase64, toBase64 } from "../../shared/bytes";
import type { CatalogEntry, CatalogResponse } from "../../shared/catalog";
import { encodeStatement } from "../../shared/trust/statement";
import { judgeSignatures } from "../../shared/trust/verify";
import app from "../index";
import { allKeys, bearer, call, errorCode, type Fixture, makeContainer, ORIGIN, publish, sha256Hex } from "../test/helpers";
import { everyInterleaving, putContainer, send } from "../test/interleave";
import { clone, envelope, newKey, signatureHeader, type TestKey } from "../test/signing";

let seed = 5000;
const fixture = (label: string, size = 700) => makeContainer(size + (seed % 13), { type: "kernel", name: label }, seed++);

/** A request with extra Worker settings (e.g. PUBLISH_KEYS). */
function callWith(vars: Record<string, string>, path: string, init?: RequestInit): Promise<Response> {
  return Promise.resolve(app.fetch(new Request(ORIGIN + path, init), { ...env, ...vars }, createExecutionContext()));
}

const putSig = (name: string, body: unknown, vars: Record<string, string> = {}) =>
  callWith(vars, `/api/v1/containers/${name}/signatures`, { method: "PUT", body: typeof body === "string" ? body : JSON.stringify(body), headers: bearer });

const keysOf = (...ks: TestKey[]) => ({ PUBLISH_KEYS: JSON.stringify(ks.map((k) => k.key.text)) });

async function signedFor(k: TestKey, name: string, f: Fixture, over: { signed_at?: string; sha256?: string; size?: number; name?: string } = {}) {
  return envelope(k, { name: over.name ?? name, sha256: over.sha256 ?? f.sha256, size: over.size ?? f.bytes.length, signed_at: over.signed_at });
}

async function listed(path: string): Promise<{ sha256: string; signatures: unknown[] }> {
  const res = await call(path);
  expect(res.status).toBe(200);
  return res.json();
}

describe("signing and verifying", () => {
  it("round trip: a publish with X-PixelRTS-Signature stores the envelope; both list routes serve it; the shared core verifies it as trusted", async () => {
    const k = await newKey();
    const f = await fixture("rt");
    const env1 = await signedFor(k, "sig-rt", f);
    const res = await publish("sig-rt", f, signatureHeader(env1));
    expect(res.status).toBe(201);
    const entry = await res.json<CatalogEntry>();
    expect(entry.signatures).toEqual([{ keyid: k.key.keyid, name: "sig-rt", signed_at: "2026-12-03T08:00:00Z" }]);
    expect(await env.BUCKET.head(`signatures/${f.sha256}/${k.key.keyid}`)).not.toBeNull();

    const byBlob = await listed(`/blobs/sha256/${f.sha256}/signatures`);
    const byName = await listed("/api/v1/containers/sig-rt/signatures");
    expect(byName).toEqual(byBlob);
    expect(byBlob.sha256).toBe(f.sha256);
    expect(byBlob.signatures).toEqual([env1]);
    const verdict = await judgeSignatures(byBlob.signatures, { sha256: f.sha256, size: f.bytes.length, name: "sig-rt" }, [{ key: k.key, name: "alice" }]);
    expect(verdict.state).toBe("trusted");

    // catalog entries carry the summary
    const cat = await (await call("/api/v1/catalog?q=sig-rt&thumbnails=0")).json<CatalogResponse>();
    expect(cat.entries.find((e) => e.id === "sig-rt")?.signatures).toEqual([{ keyid: k.key.keyid, name: "sig-rt", signed_at: "2026-12-03T08:00:00Z" }]);
    const one = await (await call("/api/v1/catalog/sig-rt")).json<CatalogEntry>();
    expect(one.signatures?.map((s) => s.keyid)).toEqual([k.key.keyid]);
  });

  it("lists: ETag + 304 (also on HEAD), short Cache-Control, 404 for unknown blobs/names, [] when unsigned", async () => {
    const f = await fixture("plain");
    expect((await publish("sig-plain", f)).status).toBe(201);
    const res = await call("/api/v1/containers/sig-plain/signatures");
    expect(res.headers.get("cache-control")).toMatch(/max-age=\d{1,3},/);
    expect(await res.json()).toEqual({ sha256: f.sha256, signatures: [] });
    const etag = res.headers.get("etag")!;
    expect(etag).toMatch(/^"s[0-9a-f]{32}"$/);
    expect((await call("/api/v1/containers/sig-plain/signatures", { headers: { "if-none-match": etag } })).status).toBe(304);
    const head = await call(`/blobs/sha256/${f.sha256}/signatures`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("etag")).toBe(etag);
    // a new signature changes the ETag
    const k = await newKey();
    expect((await putSig("sig-plain", await signedFor(k, "sig-plain", f))).status).toBe(201);
    const after = await call("/api/v1/containers/sig-plain/signatures", { headers: { "if-none-match": etag } });
    expect(after.status).toBe(200);
    expect((await after.json<{ signatures: unknown[] }>()).signatures).toHaveLength(1);
    for (const path of ["/api/v1/containers/no-such-name/signatures", `/blobs/sha256/${"0".repeat(64)}/signatures`, "/blobs/sha256/xyz/signatures"]) {
      const r = await call(path);
      expect(r.status).toBe(404);
      expect(await errorCode(r)).toBe("E_NOT_FOUND");
    }
  });

  it("a tampered payload, statement, signature or key id is 400 E_SIGNATURE_INVALID, and nothing is stored", async () => {
    const k = await newKey();
    const f = await fixture("tamper");
    expect((await publish("sig-tamper", f)).status).toBe(201);
    const good = await signedFor(k, "sig-tamper", f);
    const flippedSig = clone(good);
    const sig = fromBase64(flippedSig.signatures[0]!.sig)!;
    sig[3] = sig[3]! ^ 1;
    flippedSig.signatures[0]!.sig = toBase64(sig);
    const otherStatement = clone(good); // same file, another signed_at: the signature no longer covers it
    otherStatement.payload = toBase64(encodeStatement({ name: "sig-tamper", version: "1.0", sha256: f.sha256, size: f.bytes.length, data_hash: null, signed_at: "2027-01-01T00:00:00Z" }));
    const garbledPayload = clone(good);
    garbledPayload.payload = toBase64(new TextEncoder().encode('{"type":"nope"}'));
    const wrongKeyId = clone(good);
    wrongKeyId.signatures[0]!.keyid = "0123456789abcdef";
    const wrongType = clone(good);
    wrongType.payloadType = "application/vnd.in-toto+json";
    const before = await allKeys(env.BUCKET);
    for (const bad of [flippedSig, otherStatement, garbledPayload, wrongKeyId, wrongType, "not json", { payloadType: "x" }]) {
      const res = await putSig("sig-tamper", bad);
      expect(res.status).toBe(400);
      expect(await errorCode(res)).toBe("E_SIGNATURE_INVALID");
    }
    // the same on publish, through the header (checked before a byte is stored)
    const g = await fixture("tamper2");
    const viaHeader = await publish("sig-tamper2", g, signatureHeader(await signedFor(k, "sig-tamper2", g).then((e) => ({ ...e, signatures: [{ ...e.signatures[0]!, sig: flippedSig.signatures[0]!.sig }] }))));
    expect(await errorCode(viaHeader)).toBe("E_SIGNATURE_INVALID");
    const notBase64 = await publish("sig-tamper2", g, { "x-pixelrts-signature": "{not base64}" });
    expect(await errorCode(notBase64)).toBe("E_SIGNATURE_INVALID");
    expect(await allKeys(env.BUCKET)).toEqual(before);
  });

  it("an envelope for another file, size or name is 400 E_SIGNATURE_MISMATCH (publish stores nothing)", async () => {
    const k = await newKey();
    const f = await fixture("mismatch");
    const before = await allKeys(env.BUCKET);
    for (const over of [{ sha256: "ab".repeat(32) }, { size: 99 }, { name: "someone-else" }]) {
      const res = await publish("sig-mm", f, signatureHeader(await signedFor(k, "sig-mm", f, over)));
      expect(res.status).toBe(400);
      expect(await errorCode(res)).toBe("E_SIGNATURE_MISMATCH");
    }
    expect(await allKeys(env.BUCKET)).toEqual(before);
    expect((await publish("sig-mm", f)).status).toBe(201);
    const res = await putSig("sig-mm", await signedFor(k, "sig-mm", f, { name: "sig-other" }));
    expect(await errorCode(res)).toBe("E_SIGNATURE_MISMATCH");
  });

  it("replacement by a newer signed_at only: older or equal keeps the stored one (409 E_SIGNATURE_STALE), identical is 200", async () => {
    const k = await newKey();
    const f = await fixture("newer");
    expect((await publish("sig-newer", f)).status).toBe(201);
    const t1 = await signedFor(k, "sig-newer", f, { signed_at: "2026-01-01T00:00:00Z" });
    const t2 = await signedFor(k, "sig-newer", f, { signed_at: "2026-06-01T00:00:00Z" });
    const t0 = await signedFor(k, "sig-newer", f, { signed_at: "2025-06-01T00:00:00Z" });
    const stored = async () => (await listed("/api/v1/containers/sig-newer/signatures")).signatures;
    const r1 = await putSig("sig-newer", t1);
    expect(r1.status).toBe(201);
    expect(await r1.json()).toMatchObject({ signatures: [{ keyid: k.key.keyid, stored: "created" }] });
    const r2 = await putSig("sig-newer", t2);
    expect(r2.status).toBe(201);
    expect(await r2.json()).toMatchObject({ signatures: [{ stored: "replaced" }] });
    expect(await stored()).toEqual([t2]);
    const r0 = await putSig("sig-newer", t0);
    expect(r0.status).toBe(409);
    expect(await errorCode(r0)).toBe("E_SIGNATURE_STALE");
    expect(await stored()).toEqual([t2]);
    const same = await putSig("sig-newer", t2);
    expect(same.status).toBe(200);
    expect(await same.json()).toMatchObject({ signatures: [{ stored: "unchanged" }] });
    // another key adds its own envelope beside it
    const k2 = await newKey();
    expect((await putSig("sig-newer", await signedFor(k2, "sig-newer", f))).status).toBe(201);
    expect((await stored()).length).toBe(2);
  });

  it("PUT …/signatures: auth, a body over 16 KiB is 413 as it streams, an unknown name is 404", async () => {
    const k = await newKey();
    const f = await fixture("caps");
    expect((await publish("sig-caps", f)).status).toBe(201);
    const good = await signedFor(k, "sig-caps", f);
    const noAuth = await call("/api/v1/containers/sig-caps/signatures", { method: "PUT", body: JSON.stringify(good) });
    expect(noAuth.status).toBe(401);
    await noAuth.arrayBuffer();
    const big = await putSig("sig-caps", JSON.stringify(good) + " ".repeat(17 * 1024));
    expect(big.status).toBe(413);
    expect(await errorCode(big)).toBe("E_TOO_LARGE");
    const unknown = await putSig("sig-nobody", await signedFor(k, "sig-nobody", f));
    expect(unknown.status).toBe(404);
    await unknown.arrayBuffer();
  });

  it("deleting the last name deletes the blob's signatures after the blob; a second name keeps them", async () => {
    const k = await newKey();
    const f = await fixture("gc");
    expect((await publish("sig-gc-a", f, signatureHeader(await signedFor(k, "sig-gc-a", f)))).status).toBe(201);
    expect((await publish("sig-gc-b", f)).status).toBe(201);
    expect((await call("/api/v1/containers/sig-gc-a", { method: "DELETE", headers: bearer })).status).toBe(200);
    expect((await listed(`/blobs/sha256/${f.sha256}/signatures`)).signatures).toHaveLength(1);
    expect((await call("/api/v1/containers/sig-gc-b", { method: "DELETE", headers: bearer })).status).toBe(200);
    expect((await env.BUCKET.list({ prefix: `signatures/${f.sha256}/` })).objects).toEqual([]);
    expect((await call(`/blobs/sha256/${f.sha256}/signatures`)).status).toBe(404);
  });
});

describe("PUBLISH_KEYS", () => {
  it("refuses unsigned publishes (PUT, multipart create, dedupe link) with 403 E_SIGNATURE_REQUIRED, storing nothing", async () => {
    const k = await newKey();
    const vars = keysOf(k);
    const f = await fixture("pk-unsigned");
    expect((await publish("pk-existing", f)).status).toBe(201); // so the next PUT would be a dedupe link
    const g = await fixture("pk-new");
    const before = await allKeys(env.BUCKET);
    const put = (name: string, x: Fixture, headers: Record<string, string> = {}) =>
      callWith(vars, `/api/v1/containers/${name}`, { method: "PUT", body: x.bytes, headers: { ...bearer, "x-pixelrts-sha256": x.sha256, "content-length": String(x.bytes.length), ...headers } });
    const create = (name: string, x: Fixture, headers: Record<string, string> = {}) =>
      callWith(vars, `/api/v1/containers/${name}/uploads`, { method: "POST", body: x.bytes.slice(0, 4096), headers: { ...bearer, "x-pixelrts-sha256": x.sha256, "x-pixelrts-size": String(x.bytes.length), ...headers } });
    for (const res of [await put("pk-a", g), await put("pk-dedupe", f), await create("pk-mp", g), await create("pk-mp-dedupe", f)]) {
      expect(res.status).toBe(403);
      expect(await errorCode(res)).toBe("E_SIGNATURE_REQUIRED");
    }
    // a valid envelope by a key that is not in PUBLISH_KEYS is refused the same way
    const mallory = await newKey();
    const byMallory = await put("pk-a", g, signatureHeader(await signedFor(mallory, "pk-a", g)));
    expect(byMallory.status).toBe(403);
    expect(await errorCode(byMallory)).toBe("E_SIGNATURE_REQUIRED");
    expect(await allKeys(env.BUCKET)).toEqual(before);
    expect((await call("/api/v1/containers/pk-dedupe")).status).toBe(404);

    // signed by a listed key: accepted on every path (invalid entries in the list are skipped)
    const mixed = { PUBLISH_KEYS: JSON.stringify(["ed25519:not-a-key", 42, k.key.text]) };
    const ok = await callWith(mixed, "/api/v1/containers/pk-a", {
      method: "PUT",
      body: g.bytes,
      headers: { ...bearer, "x-pixelrts-sha256": g.sha256, "content-length": String(g.bytes.length), ...signatureHeader(await signedFor(k, "pk-a", g)) },
    });
    expect(ok.status).toBe(201);
    expect((await put("pk-dedupe", f, signatureHeader(await signedFor(k, "pk-dedupe", f)))).status).toBe(201);
    expect((await listed("/api/v1/containers/pk-dedupe/signatures")).signatures).toHaveLength(1);
  });

  it("multipart: the envelope sent at create is stored at complete; an upload created unsigned cannot complete once keys are required", async () => {
    const k = await newKey();
    const vars = keysOf(k);
    const f = await fixture("pk-mp-ok", 3000);
    const upload = async (name: string, headers: Record<string, string>, completeVars: Record<string, string>) => {
      const created = await callWith(vars.PUBLISH_KEYS && headers["x-pixelrts-signature"] ? vars : {}, `/api/v1/containers/${name}/uploads`, {
        method: "POST",
        body: f.bytes.slice(0, 4096),
        headers: { ...bearer, "x-pixelrts-sha256": f.sha256, "x-pixelrts-size": String(f.bytes.length), ...headers },
      });
      expect(created.status).toBe(201);
      const { upload_id } = await created.json<{ upload_id: string }>();
      const part = await call(`/api/v1/containers/${name}/uploads/${upload_id}/parts/1`, { method: "PUT", body: f.bytes, headers: { ...bearer, "content-length": String(f.bytes.length) } });
      const parts = [await part.json<{ part_number: number; etag: string }>()];
      return callWith(completeVars, `/api/v1/containers/${name}/uploads/${upload_id}/complete`, { method: "POST", body: JSON.stringify({ parts }), headers: bearer });
    };
    const unsigned = await upload("pk-mp-late", {}, vars);
    expect(unsigned.status).toBe(403);
    expect(await errorCode(unsigned)).toBe("E_SIGNATURE_REQUIRED");
    expect((await call("/api/v1/containers/pk-mp-late")).status).toBe(404);
    const done = await upload("pk-mp-ok", signatureHeader(await signedFor(k, "pk-mp-ok", f)), vars);
    expect(done.status).toBe(201);
    expect((await done.json<CatalogEntry>()).signatures?.map((s) => s.keyid)).toEqual([k.key.keyid]);
    expect((await env.BUCKET.list({ prefix: `uploads/${f.sha256}/` })).objects).toEqual([]); // the pending envelope is gone
    const verdict = await judgeSignatures((await listed("/api/v1/containers/pk-mp-ok/signatures")).signatures, { sha256: f.sha256, size: f.bytes.length, name: "pk-mp-ok" }, [{ key: k.key, name: "k" }]);
    expect(verdict.state).toBe("trusted");
  });
});

describe("interleavings (every hold point, both orders)", () => {
  it("(e) a signature write racing the DELETE of the blob's only name: a dead blob keeps no signature, a live one keeps it", async () => {
    const k = await newKey();
    const runs = await everyInterleaving("e", async (name, run) => {
      const f = await fixture(`e-${run}`);
      const first = await putContainer({ BUCKET: env.BUCKET }, name, f);
      expect(first.status).toBe(201);
      await first.arrayBuffer();
      const env1 = await signedFor(k, name, f);
      const sigs = () => env.BUCKET.list({ prefix: `signatures/${f.sha256}/` });
      return {
        a: (b) => send(b, `/api/v1/containers/${name}/signatures`, { method: "PUT", body: JSON.stringify(env1), headers: bearer }),
        b: (b) => send(b, `/api/v1/containers/${name}`, { method: "DELETE", headers: bearer }),
        names: [name],
        shas: [f.sha256],
        async check() {
          // a blob nothing serves any more carries no signature
          const served = await call(`/blobs/sha256/${f.sha256}`);
          await served.arrayBuffer();
          if (served.status === 404) expect((await sigs()).objects).toEqual([]);
        },
        async after(sig, del) {
          expect(del.status).toBe(200);
          expect([201, 404]).toContain(sig.status);
          expect((await sigs()).objects).toEqual([]);
          expect((await call(`/blobs/sha256/${f.sha256}/signatures`)).status).toBe(404);
        },
      };
    });
    expect(runs).toBeGreaterThan(10);
  }, 120_000);

  it("(f) a signed publish racing a DELETE of another name of the same bytes: the signed name keeps its bytes and its signature", async () => {
    const k = await newKey();
    const runs = await everyInterleaving("f", async (name, run) => {
      const f = await fixture(`f-${run}`);
      const first = await putContainer({ BUCKET: env.BUCKET }, `${name}-old`, f);
      expect(first.status).toBe(201);
      await first.arrayBuffer();
      const header = signatureHeader(await signedFor(k, `${name}-new`, f));
      return {
        a: (b) => send(b, `/api/v1/containers/${name}-old`, { method: "DELETE", headers: bearer }),
        b: (b) => putContainer(b, `${name}-new`, f, header),
        names: [`${name}-old`, `${name}-new`],
        shas: [f.sha256],
        async after(del, pub) {
          expect(del.status).toBe(200);
          expect(pub.status).toBe(201);
          const list = await call(`/api/v1/containers/${name}-new/signatures`);
          expect(list.status).toBe(200);
          expect((await list.json<{ signatures: unknown[] }>()).signatures).toHaveLength(1);
          expect(await sha256Hex(await (await call(`/api/v1/containers/${name}-new`)).arrayBuffer())).toBe(f.sha256);
        },
      };
    });
    expect(runs).toBeGreaterThan(10);
  }, 120_000);
});
