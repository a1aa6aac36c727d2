/**
 * Catalog writes on the layout in layout.ts, safe under any interleaving of requests (the
 * argument is in docs/WORKER.md, "Concurrency"). Registers and pointers change only by
 * compare-and-swap (cas.ts); refs and blob objects are created once at keys no one else writes
 * and deleted only by their owner. The rules:
 *
 * - link: create the ref `refs/<hex>/<gen>/<link>` first, then check that <gen> is still the
 *   live generation in the register, then swap the pointer (retrying on a lost race), then
 *   release what the replaced pointer held (its ref; its thumbnail unless carried over).
 * - collect (after any ref is deleted): no refs → detach the generation (register live → dead by
 *   CAS; never re-attached) → still no refs → delete its object. A link whose ref was visible
 *   before the detach keeps the object; one that checks after it fails and collects again.
 * - unlink: swap the pointer to a tombstone, then release. Tombstones and dead registers stay.
 * - index: every pointer compare-and-swap that succeeded is mirrored into the D1 catalog index
 *   (db/write.ts, guarded by the pointer's `seq`) before the old version is released, so the index
 *   moves off a generation before its bytes can be collected.
 */
import { getConfig } from "../config";
import { deleteSignatureRows, type PointerWrite, writePointer } from "../db/write";
import { CAS_ATTEMPTS, conflict, createOnly, etagOf, readVersion, swap, type Version } from "./cas";
import { deleteSignatures } from "../trust/store";
import { blobKey, isId, newId, pointerKey, PREFIX, refKey, refPrefix, registerKey, signaturePrefix, thumbnailKey } from "./layout";
import { type ContainerRecord, decodeRecord, encodeRecord } from "./record";

const EMPTY = new Uint8Array(0);
/** A detached register keeps its life: signatures written during that life die with it. */
const dead = (life: number) => ({ v: "1", state: "dead", life: String(life) });
const TOMBSTONE = { v: "1", state: "deleted" } as const;

/** The storage one request writes through: R2 (the truth) and the D1 index that mirrors it. */
export interface Storage {
  bucket: R2Bucket;
  db: D1Database;
}

export const storageOf = (env: { BUCKET: R2Bucket; DB: D1Database }): Storage => ({ bucket: env.BUCKET, db: env.DB });

/**
 * Mirrors a pointer write into the index. A failure is logged, not thrown: R2 already changed and
 * the request's flow must still release what it replaced. The index then lags until the next
 * write of that name or the reindex cron; byte routes resolve names through R2 pointers, never
 * the index, so they serve only the verified bytes meanwhile.
 */
async function indexPointer(s: Storage, w: PointerWrite): Promise<void> {
  try {
    await writePointer(s.db, w);
  } catch (e) {
    console.error(`index: could not record ${w.name} (seq ${w.seq}); the reindex cron repairs it`, e);
  }
}

/** One verified blob object: the bytes of `sha256` at `blobs/sha256/<sha256>/<gen>` with ETag `blobEtag`. */
export interface BlobRef {
  sha256: string;
  gen: string;
  /** HTTP ETag (quoted) of the object that was verified. */
  blobEtag: string;
  /** The register's life this generation is (or was) live in, when known. */
  life?: number;
}

export interface Pointer {
  name: string;
  record: ContainerRecord;
  target: BlobRef;
  link: string;
  uploaded: Date;
}

export interface Linked {
  record: ContainerRecord;
  created: boolean;
  /** Only with ExpectPointer: the pointer was no longer the expected version, nothing changed. */
  skipped?: boolean;
}

/**
 * Reindex's migration of a layout-1 pointer: install only over exactly the version read (its
 * ETag), never over a publish that came meanwhile, with the thumbnail already copied.
 */
export interface ExpectPointer {
  etag: string;
  thumb: string | undefined;
  thumbInline: string | null;
  /** Keep the original publication time. */
  publishedAt?: string;
}

/**
 * Runs once the bytes are secured for this link (verified, the register names their generation
 * live, and this link's ref exists, so no collector can delete them) and before the pointer
 * moves: publishing with a signature stores the envelope here, so a pointer never names bytes
 * whose signature write failed. If it throws, the link is undone and the pointer left as it was.
 */
export type BeforeInstall = (target: BlobRef) => Promise<void>;

// ---- the blob register (verified/<hex>) ----

interface Register {
  version: Version;
  live: (BlobRef & { record: ContainerRecord }) | null;
  /**
   * Attachments so far (0: never attached). Every attach starts a new life (n + 1); a detach
   * keeps n. Signatures record the life they were written in, and the collector of life n
   * deletes only those of lives ≤ n, never one written for bytes published again since.
   */
  life: number;
}

export async function readRegister(bucket: R2Bucket, hex: string): Promise<Register> {
  const version = await readVersion(bucket, registerKey(hex));
  const r = decodeRecord(version.meta ?? undefined);
  const lifeOf = Number(/^\d{1,15}$/.test(version.meta?.life ?? "") ? version.meta!.life : version.etag ? 1 : 0);
  const live = r && r.sha256 === hex && isId(r.gen) && r.blob_etag ? { sha256: hex, gen: r.gen, blobEtag: r.blob_etag, record: r, life: lifeOf } : null;
  return { version, live, life: lifeOf };
}

/** The verified blob new links of `hex` use, if any. */
export async function liveBlob(bucket: R2Bucket, hex: string): Promise<(BlobRef & { record: ContainerRecord }) | null> {
  return (await readRegister(bucket, hex)).live;
}

// ---- pointers (containers/<name>) ----

/** The record of a live pointer; null for a tombstone or anything else (e.g. a layout-1 pointer). */
export function pointerRecord(meta: Record<string, string> | undefined): (ContainerRecord & { gen: string; link: string; blob_etag: string }) | null {
  const r = decodeRecord(meta);
  return r && isId(r.gen) && isId(r.link) && r.blob_etag ? { ...r, gen: r.gen, link: r.link, blob_etag: r.blob_etag } : null;
}

function pointerOf(name: string, v: Version): Pointer | null {
  const record = pointerRecord(v.meta ?? undefined);
  if (!record || !v.uploaded) return null;
  return { name, record, target: { sha256: record.sha256, gen: record.gen, blobEtag: record.blob_etag }, link: record.link, uploaded: v.uploaded };
}

export async function readPointer(bucket: R2Bucket, name: string): Promise<Pointer | null> {
  return pointerOf(name, await readVersion(bucket, pointerKey(name)));
}

type Swapped = { before: Pointer | null; written: ContainerRecord | null };

/** A pointer version's number: +1 per compare-and-swap (tombstones included); 0 before layout 2's seq. */
export function seqOf(meta: Record<string, string> | null | undefined): number {
  const v = meta?.seq;
  return v && /^\d{1,15}$/.test(v) ? Number(v) : 0;
}

/**
 * Compare-and-swap loop on a pointer: `next` maps the current pointer (null: none or tombstone)
 * and the version read to the new record, TOMBSTONE, or null to leave it alone ("stopped").
 * The version written gets seq + 1 and is mirrored into the index before anything is released.
 *
 * A put answered with null normally lost the race, but a write R2 retried may have landed all
 * the same. So the next read first checks whether the pointer is the version this loop wrote (its
 * ETag is the MD5 of the body sent): then the write is done (swapping again would make `before`
 * this very version and release what it holds). Otherwise the write lost, or landed and was
 * replaced at once; in the second case no one released the version it replaced, so that version
 * is released here once the pointer has moved off its link (settleLost). `onLost` then runs
 * before the retry (false ends the loop with "gone").
 */
async function updatePointer(
  s: Storage,
  name: string,
  next: (cur: Pointer | null, v: Version) => ContainerRecord | typeof TOMBSTONE | null,
  thumbInline?: string | null,
  onLost?: (lostBefore: Pointer | null, cur: Pointer | null) => Promise<boolean>,
): Promise<Swapped | "stopped" | "conflict" | "gone"> {
  let sent: { etag: string; before: Pointer | null; record: ContainerRecord | null; seq: number } | null = null;
  for (let i = 0; ; i++) {
    const v = await readVersion(s.bucket, pointerKey(name));
    if (sent && v.etag === sent.etag) {
      await indexPointer(s, { name, seq: sent.seq, pointerEtag: sent.etag, record: sent.record, ...(thumbInline !== undefined ? { thumbInline } : {}) });
      return { before: sent.before, written: sent.record };
    }
    const cur = pointerOf(name, v);
    if (sent) {
      await settleLost(s, name, sent.before, v, cur);
      if (onLost && !(await onLost(sent.before, cur))) return "gone";
    }
    if (i >= CAS_ATTEMPTS) return "conflict";
    const want = next(cur, v);
    if (!want) return "stopped";
    const seq = seqOf(v.meta) + 1;
    const record = want === TOMBSTONE ? null : { ...(want as ContainerRecord), seq };
    const body = newId();
    const written = await swap(s.bucket, v, record ? encodeRecord(record) : { ...TOMBSTONE, seq: String(seq) }, body);
    if (written) {
      await indexPointer(s, { name, seq, pointerEtag: written.etag, record, ...(thumbInline !== undefined ? { thumbInline } : {}) });
      return { before: cur, written: record };
    }
    sent = { etag: await etagOf(body), before: cur, record, seq };
  }
}

/**
 * After a write answered with null that was not found in place: `lost` (the version it was to
 * replace) was replaced either by another writer, who released it, or by that write, which
 * landed and was replaced at once, and then no one released it. When the pointer (`v`) no longer
 * uses lost's link, nothing ever will again (only thumbnail writes carry a link over, from the
 * current version): its ref is deleted and its generation collected, and its thumbnail when the
 * pointer no longer names it either; a second release of an already released version is
 * harmless. Before that, `v` is mirrored into the index (seq-guarded like every index write), so
 * the index has moved off lost's generation before it can be collected.
 */
async function settleLost(s: Storage, name: string, lost: Pointer | null, v: Version, cur: Pointer | null): Promise<void> {
  if (!lost || cur?.link === lost.link) return;
  const tombstone = v.meta?.state === TOMBSTONE.state;
  if (!cur && !tombstone) return; // not a layout-2 version (a layout-1 pointer): leave it all
  if (v.etag) await indexPointer(s, { name, seq: seqOf(v.meta), pointerEtag: v.etag, record: cur ? cur.record : null });
  await release(s, lost, cur?.record.thumb === lost.record.thumb);
}

// ---- refs and collection ----

async function addRef(bucket: R2Bucket, t: BlobRef, link: string, name: string): Promise<void> {
  const ok = await createOnly(bucket, refKey(t.sha256, t.gen, link), EMPTY, { customMetadata: { name, blob_etag: t.blobEtag } });
  if (!ok) conflict(`ref ${link}`); // a fresh random id: cannot exist
}

async function hasRefs(bucket: R2Bucket, hex: string, gen: string): Promise<boolean> {
  return (await bucket.list({ prefix: refPrefix(hex, gen), limit: 1 })).objects.length > 0;
}

/** Ends one link: deletes its ref, then collects the generation. */
async function dropRef(s: Storage, t: BlobRef, link: string): Promise<void> {
  await s.bucket.delete(refKey(t.sha256, t.gen, link));
  await collect(s, t);
}

/**
 * Deletes a generation's object once nothing links it: no refs, detached from the register
 * (by this call's CAS or earlier), and still no refs after that. Leaves it when unsure.
 */
async function collect(s: Storage, t: { sha256: string; gen: string }): Promise<void> {
  const bucket = s.bucket;
  if (await hasRefs(bucket, t.sha256, t.gen)) return;
  for (let i = 0; ; i++) {
    const reg = await readRegister(bucket, t.sha256);
    if (reg.live?.gen !== t.gen) break; // detached: no new link can start using it
    if (i >= CAS_ATTEMPTS) return; // a leak at worst, never a loss
    if (await swap(bucket, reg.version, dead(reg.life))) break;
  }
  if (await hasRefs(bucket, t.sha256, t.gen)) return; // a link in flight: if it fails, it collects again
  await bucket.delete(blobKey(t.sha256, t.gen));
  await collectSignatures(s, t.sha256);
}

/**
 * Signatures live under the digest, shared by every generation of it: they go once the blob is
 * dead (no live generation in the register, no generation object left), those of this life and
 * earlier ones only: a publish of the same bytes that attached since writes in a later life. A
 * signature written meanwhile by PUT …/signatures is undone by its writer (it checks the blob
 * after writing).
 */
async function collectSignatures(s: Storage, hex: string): Promise<void> {
  // most blobs are unsigned: one listing, and nothing else to do
  if (!(await s.bucket.list({ prefix: signaturePrefix(hex), limit: 1 })).objects.length) return;
  const reg = await readRegister(s.bucket, hex);
  if (reg.live || !reg.version.etag) return;
  if ((await s.bucket.list({ prefix: `${PREFIX.blobs}${hex}/`, limit: 1 })).objects.length) return;
  if ((await deleteSignatures(s.bucket, hex, reg.life)).length) await deleteSignatureRows(s.db, hex, reg.life).catch((e) => console.error("index: signature rows not dropped", e));
}

/** What a replaced or deleted pointer version held: its ref, and its thumbnail unless carried over. */
async function release(s: Storage, old: Pointer, keepThumb: boolean): Promise<void> {
  if (!keepThumb && old.record.thumb) await s.bucket.delete(thumbnailKey(old.name, old.record.thumb));
  await dropRef(s, old.target, old.link);
}

// ---- linking names ----

/** Cleanup that must not hide the error that caused it: a failure is logged (a leak at worst). */
async function cleanup(what: string, p: Promise<void>): Promise<void> {
  await p.catch((e) => console.error(`cleanup: ${what} failed; left for the collector of a later request`, e));
}

/**
 * Swaps `name`'s pointer to `target` under `link` (whose ref exists) and releases the old version.
 * Owns `link` from the call: on any failure its ref is dropped (and the generation collected).
 * "detached" when the generation stopped being live while a retry re-checked it.
 *
 * A put R2 answers with null may have landed and been replaced at once; whoever replaced it then
 * ends its link (deletes the ref). So every retry goes on under a fresh link whose ref exists
 * before the generation is seen live again (the linker's rule), never under an ended one.
 */
async function installPointer(s: Storage, name: string, target: BlobRef, record: ContainerRecord, link: string, expect?: ExpectPointer): Promise<Linked | "detached"> {
  const published_at = expect?.publishedAt ?? new Date().toISOString();
  const links = [link]; // every link tried; the last one is current
  const current = () => links[links.length - 1]!;
  let r: Swapped | "stopped" | "conflict" | "gone";
  try {
    r = await updatePointer(
      s,
      name,
      (cur, v) => (expect && v.etag !== expect.etag ? null : { ...record, name, published_at, gen: target.gen, blob_etag: target.blobEtag, link: current(), thumb: expect ? expect.thumb : cur?.record.thumb, head: undefined, life: undefined }),
      expect?.thumbInline,
      async (): Promise<boolean> => {
        const fresh = newId();
        links.push(fresh);
        await addRef(s.bucket, target, fresh, name);
        return (await readRegister(s.bucket, target.sha256)).live?.gen === target.gen;
      },
    );
  } catch (e) {
    await cleanup(`links of ${name}`, dropRefs(s, target, links));
    throw e;
  }
  if (typeof r === "string") {
    await dropRefs(s, target, links);
    if (r === "stopped") return { record, created: false, skipped: true };
    if (r === "gone") return "detached";
    conflict(`container ${name}`);
  }
  // links tried before the current one: never installed, or installed and already ended
  if (links.length > 1) await s.bucket.delete(links.slice(0, -1).map((l) => refKey(target.sha256, target.gen, l)));
  if (r.before) await release(s, r.before, true);
  return { record: r.written!, created: !r.before };
}

/** Ends several links of one generation: deletes their refs, then collects it once. */
async function dropRefs(s: Storage, t: BlobRef, links: string[]): Promise<void> {
  await s.bucket.delete(links.map((l) => refKey(t.sha256, t.gen, l)));
  await collect(s, t);
}

/** Links `name` to a live generation; "detached" (and nothing changed) when it is live no more. */
async function linkTo(s: Storage, name: string, target: BlobRef, record: ContainerRecord, before?: BeforeInstall, expect?: ExpectPointer): Promise<Linked | "detached"> {
  const link = newId();
  let owned = true; // our ref, to drop unless installPointer took it over
  try {
    await addRef(s.bucket, target, link, name);
    // A collector detaches before its last ref check: seen live now, our ref stops it.
    if ((await readRegister(s.bucket, target.sha256)).live?.gen !== target.gen) return "detached";
    if (before) await before(target);
    owned = false;
    return await installPointer(s, name, target, record, link, expect);
  } finally {
    if (owned) await cleanup(`link ${link} of ${name}`, dropRef(s, target, link));
  }
}

/**
 * Publishing bytes the bucket already holds verified (same SHA-256 and size): links `name` to
 * them. Null when there is no such blob (the caller uploads). `fields` picks the catalog fields
 * from the stored record (this request's overrides).
 */
export async function linkExisting(s: Storage, name: string, sha: string, size: number, fields: (stored: ContainerRecord) => ContainerRecord, before?: BeforeInstall, expect?: ExpectPointer): Promise<Linked | null> {
  for (let i = 0; i < CAS_ATTEMPTS; i++) {
    const live = await liveBlob(s.bucket, sha);
    if (!live || live.record.size !== size) return null;
    const linked = await linkTo(s, name, live, fields(live.record), before, expect);
    if (linked !== "detached") return linked;
  }
  return null;
}

/**
 * Publishes a freshly stored and verified object (a new generation no one else knows): makes it
 * the live generation, or links to the one that became live first and drops it; then points
 * `name` at the result. Whatever happens (a lost race, a failed signature write, an R2 error),
 * the new generation's own ref is dropped unless the pointer names it, and the object is collected
 * once nothing links it.
 */
export async function publishObject(s: Storage, name: string, target: BlobRef, record: ContainerRecord, before?: BeforeInstall, expect?: ExpectPointer): Promise<Linked> {
  const link = newId();
  let owned = true; // our ref, to drop unless installPointer took it over
  try {
    await addRef(s.bucket, target, link, name); // from here on no collector deletes it
    for (let i = 0; i < CAS_ATTEMPTS; i++) {
      const reg = await readRegister(s.bucket, target.sha256);
      if (reg.live) {
        const linked = await linkTo(s, name, reg.live, record, before, expect);
        if (linked === "detached") continue;
        return linked; // ours was never live: dropping our ref deletes our copy
      }
      if (await swap(s.bucket, reg.version, encodeRecord({ ...record, gen: target.gen, blob_etag: target.blobEtag, life: reg.life + 1 }))) {
        if (before) await before({ ...target, life: reg.life + 1 });
        owned = false;
        const linked = await installPointer(s, name, target, record, link, expect);
        if (linked === "detached") conflict(`container ${name}`); // our generation was collected meanwhile: retry the upload
        return linked;
      }
    }
    return conflict(`blob ${target.sha256}`);
  } finally {
    if (owned) await cleanup(`new generation ${target.gen} of ${name}`, dropRef(s, target, link));
  }
}

/** Removes a catalog entry (pointer → tombstone), then its thumbnail, ref and unused blob. Null when absent. */
export async function unlinkName(s: Storage, name: string): Promise<ContainerRecord | null> {
  const r = await updatePointer(s, name, (cur) => (cur ? TOMBSTONE : null));
  if (r === "conflict") conflict(`container ${name}`);
  if (typeof r === "string") return null; // stopped: no live pointer
  await release(s, r.before!, false);
  return r.before!.record;
}

/**
 * Records thumbnail `tid` (already stored) in `name`'s pointer, with its inline copy for the
 * index (base64 ≤ 32 KiB, or null); false when the name is gone.
 */
export async function setThumbnail(s: Storage, name: string, tid: string, inline: string | null): Promise<boolean> {
  const r = await updatePointer(
    s,
    name,
    (cur) => (cur ? { ...cur.record, thumb: tid } : null),
    inline,
    // Another thumbnail came in between: ours may have been installed and deleted by it, so
    // naming it again could name a deleted object. Give up (503, the client uploads again).
    async (lost, cur) => !cur || cur.record.thumb === lost?.record.thumb || cur.record.thumb === tid,
  );
  if (typeof r === "string") {
    await s.bucket.delete(thumbnailKey(name, tid));
    if (r === "conflict" || r === "gone") conflict(`container ${name}`);
    return false;
  }
  const old = r.before!.record.thumb;
  if (old && old !== tid) await s.bucket.delete(thumbnailKey(name, old));
  return true;
}

/**
 * The verified object to serve at `/blobs/sha256/<hex>`: the live generation, else one a name
 * still links (a generation detached by a racing delete stays until its last link goes).
 */
export async function blobTarget(bucket: R2Bucket, hex: string): Promise<BlobRef | null> {
  const live = await liveBlob(bucket, hex);
  if (live) return live;
  const refs = await bucket.list({ prefix: refPrefix(hex), limit: 20, include: ["customMetadata"] });
  for (const o of refs.objects) {
    const gen = o.key.split("/")[2];
    const blobEtag = o.customMetadata?.blob_etag;
    if (isId(gen) && blobEtag && (await bucket.head(blobKey(hex, gen)))) return { sha256: hex, gen, blobEtag };
  }
  return null;
}

/** The local catalog as a source, with the request's origin as its URL. */
export function localSource(env: Env, origin: string) {
  const { local } = getConfig(env);
  return { ...local, url: origin };
}
