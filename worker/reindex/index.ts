/**
 * Rebuilding and repairing the D1 catalog index from R2 (the source of truth), in bounded steps:
 * `POST /api/v1/admin/reindex` (one step per request; `npm run reindex` loops) and the cron
 * (`scheduled`, a few steps per run, resuming from the cursor kept in D1 `meta`).
 *
 * A step lists at most `maxKeys` R2 keys after the cursor and compares them with the index rows of
 * the same key range (one D1 read):
 *   phase "pointers"    containers/<name>: a live pointer whose row is missing or mirrors another
 *                       version (pointer ETag) is written (guarded by seq, like every index write);
 *                       its inline thumbnail read when the row lacks it; a tombstone marks the row
 *                       deleted; a layout-1 pointer is migrated to layout 2 (migrate.ts, at most
 *                       `maxMigrations` per step); rows of the range with no pointer in R2 (checked
 *                       once more by name) are dropped, only if still the version that was seen.
 *   phase "signatures"  signatures/<hex>/<keyid>: summaries written or dropped the same way.
 *   phase "uploads"     uploads/<hex>/<gen>/signature: envelopes of multipart uploads never
 *                       completed or aborted are deleted once older than PENDING_MAX_AGE_MS (R2
 *                       expires incomplete multipart uploads 7 days after they start, by default,
 *                       so such an upload cannot complete any more).
 * Each step's index writes are one D1 batch. Storage calls per step are bounded by maxKeys.
 */
import { toBase64 } from "../../shared/bytes";
import { MAX_THUMBNAIL_BYTES, smallThumbnail } from "../catalog/small-thumbnail";
import { recordColumns } from "../db/rows";
import { BUMP_VERSION, MIRRORED, pointerStatement, signatureStatement } from "../db/write";
import type { ContainerRecord } from "../storage/record";
import { PREFIX, pointerKey, thumbnailKey } from "../storage/layout";
import { pointerRecord, seqOf, type Storage } from "../storage/store";
import { legacyRecord, migrateLegacy, type MigrateOutcome } from "./migrate";

export interface ReindexState {
  phase: "pointers" | "signatures" | "uploads" | "done";
  /** Last R2 key handled in this phase (exclusive start of the next step), or null from the start. */
  after: string | null;
}

export interface ReindexStats {
  listed: number;
  written: number;
  unchanged: number;
  tombstones: number;
  removed: number;
  thumbnails: number;
  migrated: number;
  migrationsLeft: number;
  migrationProblems: { name: string; outcome: MigrateOutcome }[];
  signatures: number;
  signaturesRemoved: number;
  /** Envelopes of abandoned multipart uploads deleted. */
  pendingSwept: number;
}

export interface StepOptions {
  maxKeys?: number;
  maxMigrations?: number;
  /** The time the step runs at (ms since the epoch; default: now): what "older than" is measured from. */
  now?: number;
}

/**
 * Age past which a multipart upload's pending envelope is swept: R2's default lifecycle rule
 * expires incomplete multipart uploads 7 days after initiation (within about a day), so past 8
 * days the upload can no longer be completed and its envelope is garbage.
 */
export const PENDING_MAX_AGE_MS = 8 * 24 * 3600 * 1000;
const PENDING_KEY_RE = /^uploads\/[0-9a-f]{64}\/[0-9a-f]{32}\/signature$/;

export const START: ReindexState = { phase: "pointers", after: null };

const emptyStats = (): ReindexStats => ({
  listed: 0,
  written: 0,
  unchanged: 0,
  tombstones: 0,
  removed: 0,
  thumbnails: 0,
  migrated: 0,
  migrationsLeft: 0,
  migrationProblems: [],
  signatures: 0,
  signaturesRemoved: 0,
  pendingSwept: 0,
});

interface RowState extends Record<string, unknown> {
  name: string;
  live: number;
  seq: number;
  pointer_etag: string | null;
  thumb: string | null;
  has_inline: number;
}

/** Does the row hold exactly what the pointer record says (every mirrored column)? */
function rowMatches(row: RowState, name: string, rec: ContainerRecord, seq: number, etag: string): boolean {
  if (row.live !== 1 || row.seq !== seq || row.pointer_etag !== etag) return false;
  const want = recordColumns(name, rec) as Record<string, unknown>;
  return Object.entries(want).every(([k, v]) => (row[k] ?? null) === (v ?? null));
}

async function inlineThumb(s: Storage, name: string, tid: string): Promise<string | null> {
  const obj = await s.bucket.get(thumbnailKey(name, tid));
  if (!obj) return null;
  if (obj.size > MAX_THUMBNAIL_BYTES) {
    await obj.body.cancel();
    return null;
  }
  const small = await smallThumbnail(new Uint8Array(await obj.arrayBuffer()));
  return small ? toBase64(small) : null;
}

async function pointerStep(s: Storage, state: ReindexState, o: Required<StepOptions>, stats: ReindexStats): Promise<ReindexState> {
  const page = await s.bucket.list({ prefix: PREFIX.containers, limit: o.maxKeys, include: ["customMetadata"], ...(state.after ? { startAfter: state.after } : {}) });
  const objects = page.objects;
  stats.listed += objects.length;
  const from = state.after ? state.after.slice(PREFIX.containers.length) : "";
  const last = objects.length ? objects[objects.length - 1]!.key.slice(PREFIX.containers.length) : null;
  const to = page.truncated && last !== null ? last : null; // null: to the end of the names
  const { results: rows } = await s.db
    .prepare(`SELECT ${MIRRORED}, live, seq, pointer_etag, thumb_inline IS NOT NULL AS has_inline FROM entries WHERE name > ?1 ${to !== null ? "AND name <= ?2" : ""}`)
    .bind(...(to !== null ? [from, to] : [from]))
    .all<RowState>();
  const byName = new Map(rows.map((r) => [r.name, r]));
  const writes: D1PreparedStatement[] = [];
  const seen = new Set<string>();
  let migrations = 0;
  let stoppedAfter: string | null = null; // the last key fully handled when the migration budget ran out
  let prevKey = state.after;
  for (const obj of objects) {
    const name = obj.key.slice(PREFIX.containers.length);
    if (stoppedAfter === null && legacyRecord(obj.customMetadata) && migrations >= o.maxMigrations) {
      stoppedAfter = prevKey ?? "";
      stats.migrationsLeft++;
      continue;
    }
    if (stoppedAfter !== null) {
      if (legacyRecord(obj.customMetadata)) stats.migrationsLeft++;
      continue;
    }
    prevKey = obj.key;
    seen.add(name);
    const meta = obj.customMetadata ?? {};
    const row = byName.get(name);
    const rec = pointerRecord(meta);
    if (rec) {
      const thumbMissing = !!rec.thumb && (!row || row.thumb !== rec.thumb || !row.has_inline);
      if (row && rowMatches(row, name, rec, seqOf(meta), obj.etag) && !thumbMissing) {
        stats.unchanged++;
        continue;
      }
      let thumbInline: string | null | undefined;
      if (rec.thumb && thumbMissing) {
        thumbInline = await inlineThumb(s, name, rec.thumb);
        stats.thumbnails++;
      }
      writes.push(pointerStatement(s.db, { name, seq: seqOf(meta), pointerEtag: obj.etag, record: rec, ...(thumbInline !== undefined ? { thumbInline } : {}) }));
      stats.written++;
    } else if (meta.state === "deleted") {
      if (row && row.live === 0) continue;
      writes.push(pointerStatement(s.db, { name, seq: seqOf(meta), pointerEtag: obj.etag, record: null }));
      stats.tombstones++;
    } else if (legacyRecord(meta)) {
      migrations++;
      const outcome = await migrateLegacy(s, name, obj.etag, meta); // writes its own index row
      if (outcome === "migrated") stats.migrated++;
      else if (outcome !== "skipped") stats.migrationProblems.push({ name, outcome });
    }
  }
  // rows of this key range whose pointer R2 does not list: gone (checked once more by name)
  const handledTo = stoppedAfter !== null ? stoppedAfter.slice(PREFIX.containers.length) : null;
  for (const row of rows) {
    if (seen.has(row.name) || row.live === 0) continue;
    if (handledTo !== null && row.name > handledTo) continue; // not reached in this step
    if (await s.bucket.head(pointerKey(row.name))) continue; // created since the listing
    writes.push(s.db.prepare("DELETE FROM entries WHERE name = ?1 AND seq = ?2 AND pointer_etag IS ?3").bind(row.name, row.seq, row.pointer_etag));
    stats.removed++;
  }
  if (writes.length) await s.db.batch([...writes, s.db.prepare(BUMP_VERSION)]);
  if (stoppedAfter !== null) return { phase: "pointers", after: stoppedAfter || null }; // on from the first migration not done
  return to !== null ? { phase: "pointers", after: objects[objects.length - 1]!.key } : { phase: "signatures", after: null };
}

async function signatureStep(s: Storage, state: ReindexState, o: Required<StepOptions>, stats: ReindexStats): Promise<ReindexState> {
  const page = await s.bucket.list({ prefix: PREFIX.signatures, limit: o.maxKeys, include: ["customMetadata"], ...(state.after ? { startAfter: state.after } : {}) });
  stats.listed += page.objects.length;
  const keyOf = (k: string) => k.slice(PREFIX.signatures.length);
  const from = state.after ? keyOf(state.after) : "";
  const to = page.truncated && page.objects.length ? keyOf(page.objects[page.objects.length - 1]!.key) : null;
  // (sha256, keyid) row values, not the joined key, so the primary key's index serves the range
  // (the order is the same: sha256 is 64 hex digits)
  const split = (k: string) => [k.slice(0, 64), k.slice(65)];
  const { results: rows } = await s.db
    .prepare(`SELECT sha256, keyid, signed_at, life FROM signatures WHERE (sha256, keyid) > (?1, ?2) ${to !== null ? "AND (sha256, keyid) <= (?3, ?4)" : ""}`)
    .bind(...split(from), ...(to !== null ? split(to) : []))
    .all<{ sha256: string; keyid: string; signed_at: string; life: number }>();
  const byKey = new Map(rows.map((r) => [`${r.sha256}/${r.keyid}`, r]));
  const writes: D1PreparedStatement[] = [];
  const seen = new Set<string>();
  for (const obj of page.objects) {
    const k = keyOf(obj.key);
    const [sha256 = "", keyid = ""] = k.split("/");
    seen.add(k);
    const m = obj.customMetadata ?? {};
    if (!m.signed_at || !Number.isFinite(Date.parse(m.signed_at))) continue;
    const life = Number(m.life ?? 0);
    const row = byKey.get(k);
    if (row && row.signed_at === m.signed_at && row.life === life) continue;
    writes.push(signatureStatement(s.db, { sha256, keyid, name: m.name ?? "", signed_at: m.signed_at, life }));
    stats.signatures++;
  }
  for (const row of rows) {
    const k = `${row.sha256}/${row.keyid}`;
    if (seen.has(k)) continue;
    if (await s.bucket.head(`${PREFIX.signatures}${k}`)) continue;
    writes.push(s.db.prepare("DELETE FROM signatures WHERE sha256 = ?1 AND keyid = ?2 AND signed_at = ?3 AND life = ?4").bind(row.sha256, row.keyid, row.signed_at, row.life));
    stats.signaturesRemoved++;
  }
  if (writes.length) await s.db.batch([...writes, s.db.prepare(BUMP_VERSION)]);
  return to !== null ? { phase: "signatures", after: page.objects[page.objects.length - 1]!.key } : { phase: "uploads", after: null };
}

async function uploadsStep(s: Storage, state: ReindexState, o: Required<StepOptions>, stats: ReindexStats): Promise<ReindexState> {
  const page = await s.bucket.list({ prefix: PREFIX.uploads, limit: o.maxKeys, ...(state.after ? { startAfter: state.after } : {}) });
  stats.listed += page.objects.length;
  const stale = page.objects.filter((obj) => PENDING_KEY_RE.test(obj.key) && o.now - obj.uploaded.getTime() > PENDING_MAX_AGE_MS).map((obj) => obj.key);
  if (stale.length) await s.bucket.delete(stale);
  stats.pendingSwept += stale.length;
  const last = page.objects[page.objects.length - 1];
  return page.truncated && last ? { phase: "uploads", after: last.key } : { phase: "done", after: null };
}

/** One bounded step from `state`; returns the next state ("done" at the end) and what it did. */
export async function reindexStep(s: Storage, state: ReindexState, opts: StepOptions = {}): Promise<{ state: ReindexState; stats: ReindexStats }> {
  const o = { maxKeys: Math.max(1, opts.maxKeys ?? 200), maxMigrations: Math.max(1, opts.maxMigrations ?? 4), now: opts.now ?? Date.now() };
  const stats = emptyStats();
  if (state.phase === "done") return { state, stats };
  const step = { pointers: pointerStep, signatures: signatureStep, uploads: uploadsStep }[state.phase];
  const next = await step(s, state, o, stats);
  return { state: next, stats };
}

const STATE_KEY = "reindex";

export function parseState(text: unknown): ReindexState {
  try {
    const v = typeof text === "string" ? (JSON.parse(text) as ReindexState) : null;
    if (v && (v.phase === "pointers" || v.phase === "signatures" || v.phase === "uploads" || v.phase === "done") && (v.after === null || (typeof v.after === "string" && v.after.length < 1200))) return v;
  } catch {
    // start over
  }
  return START;
}

/**
 * The cron: continues the cycle from the cursor saved in D1, `steps` bounded steps per run (a
 * finished cycle starts over on the next run), and saves where it stopped.
 */
export async function cronReindex(s: Storage, steps = 4, opts: StepOptions = {}): Promise<{ state: ReindexState; stats: ReindexStats[] }> {
  const row = await s.db.prepare("SELECT text FROM meta WHERE key = ?1").bind(STATE_KEY).first<{ text: string | null }>();
  let state = parseState(row?.text);
  if (state.phase === "done") state = START;
  const all: ReindexStats[] = [];
  for (let i = 0; i < steps && state.phase !== "done"; i++) {
    const r = await reindexStep(s, state, opts);
    all.push(r.stats);
    state = r.state;
  }
  await s.db.prepare("INSERT INTO meta (key, value, text) VALUES (?1, 0, ?2) ON CONFLICT (key) DO UPDATE SET text = excluded.text").bind(STATE_KEY, JSON.stringify(state)).run();
  return { state, stats: all };
}
