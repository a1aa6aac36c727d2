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
 */
import { getConfig } from "../config";
import { CAS_ATTEMPTS, conflict, createOnly, readVersion, swap, type Version } from "./cas";
import { deleteSignatures } from "../trust/store";
import { blobKey, isId, newId, pointerKey, PREFIX, refKey, refPrefix, registerKey, thumbnailKey } from "./layout";
import { type ContainerRecord, decodeRecord, encodeRecord } from "./record";

const EMPTY = new Uint8Array(0);
/** A detached register keeps its life: signatures written during that life die with it. */
const dead = (life: number) => ({ v: "1", state: "dead", life: String(life) });
const TOMBSTONE = { v: "1", state: "deleted" };

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

/**
 * Compare-and-swap loop on a pointer: `next` maps the current pointer (null: none or tombstone)
 * to the new record, TOMBSTONE, or null to leave it alone ("stopped").
 */
async function updatePointer(bucket: R2Bucket, name: string, next: (cur: Pointer | null) => ContainerRecord | typeof TOMBSTONE | null): Promise<Swapped | "stopped" | "conflict"> {
  for (let i = 0; i < CAS_ATTEMPTS; i++) {
    const v = await readVersion(bucket, pointerKey(name));
    const cur = pointerOf(name, v);
    const want = next(cur);
    if (!want) return "stopped";
    const record = want === TOMBSTONE ? null : (want as ContainerRecord);
    if (await swap(bucket, v, record ? encodeRecord(record) : TOMBSTONE)) return { before: cur, written: record };
  }
  return "conflict";
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
async function dropRef(bucket: R2Bucket, t: BlobRef, link: string): Promise<void> {
  await bucket.delete(refKey(t.sha256, t.gen, link));
  await collect(bucket, t);
}

/**
 * Deletes a generation's object once nothing links it: no refs, detached from the register
 * (by this call's CAS or earlier), and still no refs after that. Leaves it when unsure.
 */
async function collect(bucket: R2Bucket, t: { sha256: string; gen: string }): Promise<void> {
  if (await hasRefs(bucket, t.sha256, t.gen)) return;
  for (let i = 0; ; i++) {
    const reg = await readRegister(bucket, t.sha256);
    if (reg.live?.gen !== t.gen) break; // detached: no new link can start using it
    if (i >= CAS_ATTEMPTS) return; // a leak at worst, never a loss
    if (await swap(bucket, reg.version, dead(reg.life))) break;
  }
  if (await hasRefs(bucket, t.sha256, t.gen)) return; // a link in flight: if it fails, it collects again
  await bucket.delete(blobKey(t.sha256, t.gen));
  await collectSignatures(bucket, t.sha256);
}

/**
 * Signatures live under the digest, shared by every generation of it: they go once the blob is
 * dead (no live generation in the register, no generation object left), those of this life and
 * earlier ones only: a publish of the same bytes that attached since writes in a later life. A
 * signature written meanwhile by PUT …/signatures is undone by its writer (it checks the blob
 * after writing).
 */
async function collectSignatures(bucket: R2Bucket, hex: string): Promise<void> {
  const reg = await readRegister(bucket, hex);
  if (reg.live || !reg.version.etag) return;
  if ((await bucket.list({ prefix: `${PREFIX.blobs}${hex}/`, limit: 1 })).objects.length) return;
  await deleteSignatures(bucket, hex, reg.life);
}

/** What a replaced or deleted pointer version held: its ref, and its thumbnail unless carried over. */
async function release(bucket: R2Bucket, old: Pointer, keepThumb: boolean): Promise<void> {
  if (!keepThumb && old.record.thumb) await bucket.delete(thumbnailKey(old.name, old.record.thumb));
  await dropRef(bucket, old.target, old.link);
}

// ---- linking names ----

/** Swaps `name`'s pointer to `target` under `link` (whose ref exists) and releases the old version. */
async function installPointer(bucket: R2Bucket, name: string, target: BlobRef, record: ContainerRecord, link: string): Promise<Linked> {
  const published_at = new Date().toISOString();
  const r = await updatePointer(bucket, name, (cur) => ({ ...record, name, published_at, gen: target.gen, blob_etag: target.blobEtag, link, thumb: cur?.record.thumb, head: undefined }));
  if (r === "conflict" || r === "stopped") {
    await dropRef(bucket, target, link);
    conflict(`container ${name}`);
  }
  if (r.before) await release(bucket, r.before, true);
  return { record: r.written!, created: !r.before };
}

/** Links `name` to a live generation; "detached" (and nothing changed) when it is live no more. */
async function linkTo(bucket: R2Bucket, name: string, target: BlobRef, record: ContainerRecord, before?: BeforeInstall): Promise<Linked | "detached"> {
  const link = newId();
  await addRef(bucket, target, link, name);
  // A collector detaches before its last ref check: seen live now, our ref stops it.
  if ((await readRegister(bucket, target.sha256)).live?.gen !== target.gen) {
    await dropRef(bucket, target, link);
    return "detached";
  }
  await runBefore(bucket, target, link, before);
  return installPointer(bucket, name, target, record, link);
}

async function runBefore(bucket: R2Bucket, target: BlobRef, link: string, before?: BeforeInstall): Promise<void> {
  if (!before) return;
  try {
    await before(target);
  } catch (e) {
    await dropRef(bucket, target, link);
    throw e;
  }
}

/**
 * Publishing bytes the bucket already holds verified (same SHA-256 and size): links `name` to
 * them. Null when there is no such blob (the caller uploads). `fields` picks the catalog fields
 * from the stored record (this request's overrides).
 */
export async function linkExisting(bucket: R2Bucket, name: string, sha: string, size: number, fields: (stored: ContainerRecord) => ContainerRecord, before?: BeforeInstall): Promise<Linked | null> {
  for (let i = 0; i < CAS_ATTEMPTS; i++) {
    const live = await liveBlob(bucket, sha);
    if (!live || live.record.size !== size) return null;
    const linked = await linkTo(bucket, name, live, fields(live.record), before);
    if (linked !== "detached") return linked;
  }
  return null;
}

/**
 * Publishes a freshly stored and verified object (a new generation no one else knows): makes it
 * the live generation, or links to the one that became live first and drops it; then points
 * `name` at the result.
 */
export async function publishObject(bucket: R2Bucket, name: string, target: BlobRef, record: ContainerRecord, before?: BeforeInstall): Promise<Linked> {
  const link = newId();
  await addRef(bucket, target, link, name); // from here on no collector deletes it
  for (let i = 0; i < CAS_ATTEMPTS; i++) {
    const reg = await readRegister(bucket, target.sha256);
    if (reg.live) {
      let linked: Linked | "detached";
      try {
        linked = await linkTo(bucket, name, reg.live, record, before);
      } catch (e) {
        await dropRef(bucket, target, link);
        throw e;
      }
      if (linked === "detached") continue;
      await dropRef(bucket, target, link); // never live, so this deletes our copy
      return linked;
    }
    if (await swap(bucket, reg.version, encodeRecord({ ...record, gen: target.gen, blob_etag: target.blobEtag, life: reg.life + 1 }))) {
      await runBefore(bucket, { ...target, life: reg.life + 1 }, link, before);
      return installPointer(bucket, name, target, record, link);
    }
  }
  await dropRef(bucket, target, link);
  conflict(`blob ${target.sha256}`);
}

/** Removes a catalog entry (pointer → tombstone), then its thumbnail, ref and unused blob. Null when absent. */
export async function unlinkName(bucket: R2Bucket, name: string): Promise<ContainerRecord | null> {
  const r = await updatePointer(bucket, name, (cur) => (cur ? TOMBSTONE : null));
  if (r === "stopped") return null;
  if (r === "conflict") conflict(`container ${name}`);
  await release(bucket, r.before!, false);
  return r.before!.record;
}

/** Records thumbnail `tid` (already stored) in `name`'s pointer; false when the name is gone. */
export async function setThumbnail(bucket: R2Bucket, name: string, tid: string): Promise<boolean> {
  const r = await updatePointer(bucket, name, (cur) => (cur ? { ...cur.record, thumb: tid } : null));
  if (r === "stopped" || r === "conflict") {
    await bucket.delete(thumbnailKey(name, tid));
    if (r === "conflict") conflict(`container ${name}`);
    return false;
  }
  const old = r.before!.record.thumb;
  if (old && old !== tid) await bucket.delete(thumbnailKey(name, old));
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
