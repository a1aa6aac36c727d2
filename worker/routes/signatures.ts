/**
 * Signature envelopes of blobs (docs/WORKER.md, "Signatures"):
 *
 *   PUT      /api/v1/containers/{name}/signatures   (auth) body = one DSSE envelope (≤ 16 KiB) for
 *            the blob the name points at now → 201 stored, 200 identical already stored,
 *            409 E_SIGNATURE_STALE when the key's stored signature is as new or newer
 *   GET|HEAD /blobs/sha256/{hex}/signatures
 *   GET|HEAD /api/v1/containers/{name}/signatures  → {"sha256", "signatures": [envelope, …]}
 *            with ETag (from the stored objects' ETags: a 304 reads no envelope) and a short
 *            Cache-Control; 404 when the blob or name does not exist; [] when unsigned.
 */
import { type Context, Hono } from "hono";
import { toHex } from "../../shared/bytes";
import { MAX_ENVELOPE_BYTES } from "../../shared/trust/dsse";
import { requirePublisher } from "../auth";
import { publishKeys } from "../config";
import { httpFail } from "../errors";
import { readCapped } from "../http/body";
import { evaluateConditionals } from "../http/conditionals";
import { idFromUrl, isHex64, isValidName, parseName } from "../storage/layout";
import { deleteSignatureRows } from "../db/write";
import { blobTarget, readPointer, readRegister, storageOf } from "../storage/store";
import { deleteSignatures, listSignatureObjects, storeEnvelope } from "../trust/store";
import { validateEnvelope } from "../trust/validate";

export const signatureRoutes = new Hono<{ Bindings: Env }>();

export const CACHE_SIGNATURES = "public, max-age=30, must-revalidate";

async function listResponse(c: Context<{ Bindings: Env }>, hex: string): Promise<Response> {
  const bucket = c.env.BUCKET;
  const objects = await listSignatureObjects(bucket, hex);
  const tag = objects.map((o) => `${o.key}\u0000${o.etag}`).join("\n");
  const digest = toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(`${hex}\n${tag}`))));
  const headers = { ETag: `"s${digest.slice(0, 32)}"`, "Cache-Control": CACHE_SIGNATURES, Vary: "Accept-Encoding" };
  const outcome = evaluateConditionals(c.req.raw.headers, { etag: headers.ETag }, c.req.method);
  if (outcome === "not-modified") return new Response(null, { status: 304, headers });
  if (outcome === "precondition-failed") httpFail("E_PRECONDITION_FAILED", "precondition failed", { headers });
  const signatures: unknown[] = [];
  for (const o of objects) {
    const obj = await bucket.get(o.key);
    if (!obj) continue; // deleted since the listing (its blob died)
    try {
      signatures.push(JSON.parse(await obj.text()));
    } catch {
      // only validated envelopes are ever written; an unreadable object is skipped, not served
    }
  }
  const body = JSON.stringify({ sha256: hex, signatures });
  return new Response(c.req.method === "HEAD" ? null : body, {
    headers: { ...headers, "Content-Type": "application/json; charset=utf-8", "Content-Length": String(new TextEncoder().encode(body).length) },
  });
}

signatureRoutes.get("/blobs/sha256/:hex/signatures", async (c) => {
  const hex = c.req.param("hex").toLowerCase();
  if (!isHex64(hex)) httpFail("E_NOT_FOUND", "blob URLs are /blobs/sha256/<64 hex digits>");
  if (!(await blobTarget(c.env.BUCKET, hex))) httpFail("E_NOT_FOUND", `blob ${hex} not found`);
  return listResponse(c, hex);
});

signatureRoutes.get("/api/v1/containers/:name/signatures", async (c) => {
  const id = idFromUrl(c.req.param("name"));
  const pointer = isValidName(id) ? await readPointer(c.env.BUCKET, id) : null;
  if (!pointer) httpFail("E_NOT_FOUND", `container ${id.slice(0, 200)} not found`);
  return listResponse(c, pointer.target.sha256);
});

signatureRoutes.put("/api/v1/containers/:name/signatures", requirePublisher, async (c) => {
  const name = parseName(c.req.param("name"));
  const bucket = c.env.BUCKET;
  const body = await readCapped(c.req.raw, MAX_ENVELOPE_BYTES, "a signature envelope");
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(body);
  } catch {
    httpFail("E_SIGNATURE_INVALID", "the envelope is not UTF-8 JSON");
  }
  const pointer = await readPointer(bucket, name);
  if (!pointer) httpFail("E_NOT_FOUND", `container ${name} not found: publish it before signing it`);
  const hex = pointer.target.sha256;
  const validated = await validateEnvelope(text, { sha256: hex, size: pointer.record.size, name }, await publishKeys(c.env));
  const life = (await readRegister(bucket, hex)).life;
  const stored = await storeEnvelope(storageOf(c.env), hex, validated.signatures, life);
  const wrote = stored.some((s) => s.outcome === "created" || s.outcome === "replaced");
  // The blob may have died while we wrote (its collector deletes signatures after the bytes):
  // seen alive now, the collector's deletion comes later and takes ours too; seen dead, undo —
  // only what this life wrote: a republish of the same bytes since then signs a later life.
  if (wrote && !(await blobTarget(bucket, hex))) {
    await deleteSignatures(bucket, hex, life);
    await deleteSignatureRows(c.env.DB, hex, life).catch((e) => console.error("index: signature rows not dropped", e));
    httpFail("E_NOT_FOUND", `container ${name} was deleted during the request`);
  }
  if (stored.every((s) => s.outcome === "kept-newer")) {
    httpFail("E_SIGNATURE_STALE", "this key has already signed this blob with the same or a newer signed_at; the stored signature is kept", {
      details: { keyids: stored.map((s) => s.keyid) },
    });
  }
  return c.json({ name, sha256: hex, signatures: stored.map((s) => ({ keyid: s.keyid, stored: s.outcome })) }, wrote ? 201 : 200);
});
