/**
 * Signature envelopes in R2, under the digest of the blob they sign (never a name):
 *
 *   signatures/<hex>/<keyid>   body = the envelope (that key id's signature only, as validated);
 *                              customMetadata = {signed_at, name}
 *
 * At most MAX_KEYIDS key ids per blob. Writes are conditional like every write of layout 2: a
 * new key id is a create-only put; a newer `signed_at` from the same key id replaces the stored
 * one by compare-and-swap on the ETag read (never an older over a newer; an equal `signed_at`
 * with other bytes keeps the stored one). Deleting happens only in the collector, after the
 * blob is dead (storage/store.ts `collect`), and in `storeSignature`'s own undo when the blob
 * died while it wrote (docs/WORKER.md, "Signatures").
 */
import { type SignatureRow, writeSignatures } from "../db/write";
import { httpFail } from "../errors";
import { CAS_ATTEMPTS, conflict, createOnly, etagOf } from "../storage/cas";
import { pendingSignatureKey, signatureKey, signaturePrefix } from "../storage/layout";
import type { VerifiedSignature } from "./validate";

/** Most key ids kept per blob. */
export const MAX_KEYIDS = 16;

export type StoreOutcome = "created" | "replaced" | "unchanged" | "kept-newer";

export interface SignatureSummary {
  keyid: string;
  name: string;
  signed_at: string;
}

const keyidOf = (key: string) => key.slice(key.lastIndexOf("/") + 1);

/**
 * Stores one verified signature for blob `hex`, written in the register's life `life` (see
 * storage/store.ts `Register`). Outcomes: created (new key id), replaced (newer signed_at),
 * unchanged (identical bytes already stored), kept-newer (the stored one is as new or newer).
 * A stored signature from an earlier life is stamped with this one (its bytes kept unless ours
 * is newer), so the collector of that earlier life leaves it. 409 E_SIGNATURES_FULL when the
 * blob already has MAX_KEYIDS other key ids.
 */
export async function storeSignature(bucket: R2Bucket, hex: string, sig: VerifiedSignature, life: number): Promise<{ outcome: StoreOutcome; stored: SignatureRow }> {
  const key = signatureKey(hex, sig.keyid);
  const meta = { signed_at: sig.statement.signed_at, name: sig.statement.name, life: String(life) };
  const ours = await etagOf(sig.body); // equal ETag, equal bytes (R2's ETag of a single-part object is its MD5)
  const row = (m: Record<string, string>): SignatureRow => ({ sha256: hex, keyid: sig.keyid, name: m.name ?? "", signed_at: m.signed_at ?? meta.signed_at, life: Number(m.life ?? 0) });
  const put = (body: string, m: Record<string, string>, etag: string) => bucket.put(key, body, { onlyIf: { etagMatches: etag }, customMetadata: m, httpMetadata: { contentType: "application/json" } });
  for (let i = 0; i < CAS_ATTEMPTS; i++) {
    const cur = await bucket.get(key);
    if (!cur) {
      const others = await bucket.list({ prefix: signaturePrefix(hex), limit: MAX_KEYIDS });
      if (others.objects.length >= MAX_KEYIDS) httpFail("E_SIGNATURES_FULL", `blob ${hex} already carries signatures by ${MAX_KEYIDS} keys`);
      if (await createOnly(bucket, key, sig.body, { customMetadata: meta, httpMetadata: { contentType: "application/json" } })) {
        await trimOverflow(bucket, hex, sig.keyid);
        return { outcome: "created", stored: row(meta) };
      }
      continue; // another writer created it first: compare with theirs
    }
    const curBody = await cur.text();
    const curMeta = cur.customMetadata ?? {};
    const curLife = Number(curMeta.life ?? 0);
    const stored = Date.parse(curMeta.signed_at ?? "");
    const newer = !Number.isFinite(stored) || stored < Date.parse(meta.signed_at);
    if (newer && cur.etag !== ours) {
      if (await put(sig.body, meta, cur.etag)) return { outcome: "replaced", stored: row(meta) };
      continue;
    }
    const outcome: StoreOutcome = cur.etag === ours ? "unchanged" : "kept-newer";
    if (curLife >= life) return { outcome, stored: row(curMeta) };
    const restamped = { ...curMeta, life: String(life) };
    if (await put(curBody, restamped, cur.etag)) return { outcome, stored: row(restamped) };
  }
  conflict(`signature ${sig.keyid} of ${hex}`);
}

/**
 * Two writers of new key ids can both pass the count check: whoever sorts past the first
 * MAX_KEYIDS removes its own key again, so the bound holds once both are done.
 */
async function trimOverflow(bucket: R2Bucket, hex: string, keyid: string): Promise<void> {
  const page = await bucket.list({ prefix: signaturePrefix(hex), limit: MAX_KEYIDS + 1 });
  if (page.objects.length <= MAX_KEYIDS) return;
  const keep = new Set(page.objects.slice(0, MAX_KEYIDS).map((o) => keyidOf(o.key)));
  if (!keep.has(keyid)) {
    await bucket.delete(signatureKey(hex, keyid));
    httpFail("E_SIGNATURES_FULL", `blob ${hex} already carries signatures by ${MAX_KEYIDS} keys`);
  }
}

/** The signature objects of a blob (at most MAX_KEYIDS, key id order), with their metadata. */
export async function listSignatureObjects(bucket: R2Bucket, hex: string): Promise<R2Object[]> {
  const page = await bucket.list({ prefix: signaturePrefix(hex), limit: MAX_KEYIDS, include: ["customMetadata"] });
  return page.objects;
}

export function summaryOf(o: R2Object): SignatureSummary {
  return { keyid: keyidOf(o.key), name: o.customMetadata?.name ?? "", signed_at: o.customMetadata?.signed_at ?? "" };
}

/**
 * Deletes the signatures of `hex` written in lives up to `maxLife` (all without it): the
 * collector calls this once the blob is dead, with the life that just ended.
 */
export async function deleteSignatures(bucket: R2Bucket, hex: string, maxLife = Infinity): Promise<string[]> {
  const page = await bucket.list({ prefix: signaturePrefix(hex), limit: 1000, include: ["customMetadata"] });
  const keys = page.objects.filter((o) => Number(o.customMetadata?.life ?? 0) <= maxLife).map((o) => o.key);
  if (keys.length) await bucket.delete(keys);
  return keys.map(keyidOf);
}

// ---- the envelope sent with a multipart create, kept until complete ----

export async function putPendingSignature(bucket: R2Bucket, hex: string, gen: string, envelope: string, name: string): Promise<void> {
  if (!(await createOnly(bucket, pendingSignatureKey(hex, gen), envelope, { customMetadata: { name } }))) conflict(`upload ${gen}`);
}

export async function readPendingSignature(bucket: R2Bucket, hex: string, gen: string): Promise<string | null> {
  const obj = await bucket.get(pendingSignatureKey(hex, gen));
  return obj ? obj.text() : null;
}

export async function deletePendingSignature(bucket: R2Bucket, hex: string, gen: string): Promise<void> {
  await bucket.delete(pendingSignatureKey(hex, gen));
}

/**
 * Stores every verified signature of one validated envelope for blob `hex`, then mirrors what R2
 * now holds into the index's signature summaries (a failure there is logged: reindex repairs it).
 */
export async function storeEnvelope(s: { bucket: R2Bucket; db: D1Database }, hex: string, sigs: readonly VerifiedSignature[], life: number): Promise<{ keyid: string; outcome: StoreOutcome }[]> {
  const out: { keyid: string; outcome: StoreOutcome }[] = [];
  const rows: SignatureRow[] = [];
  for (const sig of sigs) {
    const r = await storeSignature(s.bucket, hex, sig, life);
    out.push({ keyid: sig.keyid, outcome: r.outcome });
    rows.push(r.stored);
  }
  await writeSignatures(s.db, rows).catch((e) => console.error(`index: signature summaries of ${hex} not recorded`, e));
  return out;
}
