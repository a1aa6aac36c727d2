/**
 * Writes to the D1 catalog index, each in one batch (one D1 call, one transaction) that also
 * bumps the index version (catalog ETags, page caches). Every write is guarded so that writes
 * arriving out of order cannot go back in time: an `entries` row changes only to a pointer
 * version with a higher or equal `seq`; a signature row only to a later (signed_at, life).
 * Called by the storage flows right after their R2 compare-and-swap succeeded and before they
 * release what the old version held (storage/store.ts), and by reindex.
 */
import type { ContainerRecord } from "../storage/record";
import { recordColumns } from "./rows";

export const BUMP_VERSION = "UPDATE meta SET value = value + 1 WHERE key = 'version'";

const COLS = [
  "name", "sha256", "size", "data_hash", "data_size", "grid_size", "type", "distro", "arch", "arch_norm", "kernel_version",
  "description", "content_version", "segments", "gen", "blob_etag", "link", "published_at", "published_ms", "thumb",
] as const;

/** The mirrored columns, for reading rows back (reindex compares them with R2). */
export const MIRRORED = COLS.join(", ");

/** What a pointer compare-and-swap wrote: the record (null for a tombstone), its seq and new ETag. */
export interface PointerWrite {
  name: string;
  seq: number;
  pointerEtag: string;
  record: ContainerRecord | null;
  /**
   * Inline thumbnail (base64, ≤ 32 KiB) for `record.thumb`: a string or null when the writer
   * knows it (thumbnail upload, reindex); undefined to keep the row's when its thumb id is the same.
   */
  thumbInline?: string | null;
}

export function pointerStatement(db: D1Database, w: PointerWrite): D1PreparedStatement {
  if (!w.record) {
    const cleared = COLS.filter((c) => c !== "name").map((c) => `${c} = NULL`).join(", ");
    return db
      .prepare(`INSERT INTO entries (name, live, seq, pointer_etag) VALUES (?1, 0, ?2, ?3)
        ON CONFLICT (name) DO UPDATE SET live = 0, seq = excluded.seq, pointer_etag = excluded.pointer_etag, ${cleared}, thumb_inline = NULL
        WHERE excluded.seq >= entries.seq`)
      .bind(w.name, w.seq, w.pointerEtag);
  }
  const v = recordColumns(w.name, w.record);
  const values = COLS.map((c) => v[c] ?? null);
  const n = COLS.length;
  const given = w.thumbInline !== undefined ? 1 : 0;
  const sets = COLS.filter((c) => c !== "name").map((c) => `${c} = excluded.${c}`).join(", ");
  return db
    .prepare(`INSERT INTO entries (${COLS.join(", ")}, live, seq, pointer_etag, thumb_inline)
      VALUES (${COLS.map((_, i) => `?${i + 1}`).join(", ")}, 1, ?${n + 1}, ?${n + 2}, ?${n + 3})
      ON CONFLICT (name) DO UPDATE SET ${sets}, live = 1, seq = excluded.seq, pointer_etag = excluded.pointer_etag,
        thumb_inline = CASE WHEN ?${n + 4} = 1 THEN excluded.thumb_inline WHEN entries.thumb IS excluded.thumb THEN entries.thumb_inline ELSE NULL END
      WHERE excluded.seq >= entries.seq`)
    .bind(...values, w.seq, w.pointerEtag, w.thumbInline ?? null, given);
}

/**
 * The row write of a pointer swap. An inline thumbnail belongs to its thumbnail id (fresh per
 * upload), not to one pointer version: it is also set on the row if that row names the id by now,
 * even when the row already moved past this write's seq (a republish that carried the thumbnail
 * over and was indexed first), so the catalog never loses it to the order of two index writes.
 */
export async function writePointer(db: D1Database, w: PointerWrite): Promise<void> {
  const stmts = [pointerStatement(db, w)];
  if (w.record?.thumb && typeof w.thumbInline === "string") {
    stmts.push(db.prepare("UPDATE entries SET thumb_inline = ?1 WHERE name = ?2 AND live = 1 AND thumb = ?3").bind(w.thumbInline, w.name, w.record.thumb));
  }
  await db.batch([...stmts, db.prepare(BUMP_VERSION)]);
}

export interface SignatureRow {
  sha256: string;
  keyid: string;
  name: string;
  signed_at: string;
  life: number;
}

export function signatureStatement(db: D1Database, s: SignatureRow): D1PreparedStatement {
  return db
    .prepare(`INSERT INTO signatures (sha256, keyid, name, signed_at, signed_ms, life) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
      ON CONFLICT (sha256, keyid) DO UPDATE SET name = excluded.name, signed_at = excluded.signed_at, signed_ms = excluded.signed_ms, life = excluded.life
      WHERE (excluded.signed_ms, excluded.life) >= (signatures.signed_ms, signatures.life)`)
    .bind(s.sha256, s.keyid, s.name, s.signed_at, Date.parse(s.signed_at), s.life);
}

export async function writeSignatures(db: D1Database, rows: readonly SignatureRow[]): Promise<void> {
  if (rows.length) await db.batch([...rows.map((r) => signatureStatement(db, r)), db.prepare(BUMP_VERSION)]);
}

/** Drops the summaries of `hex` written in lives up to `maxLife` (all without it). */
export async function deleteSignatureRows(db: D1Database, hex: string, maxLife = Number.MAX_SAFE_INTEGER): Promise<void> {
  await db.batch([db.prepare("DELETE FROM signatures WHERE sha256 = ?1 AND life <= ?2").bind(hex, maxLife), db.prepare(BUMP_VERSION)]);
}
