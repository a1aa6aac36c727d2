/**
 * Events a pull emits, printed as NDJSON by `--json` (one object per line, `event` first).
 * Stable: add fields, never rename. Sizes in bytes, speeds in bytes/s, times in ms unless named *_s.
 */
export type PullEvent =
  | { event: "start"; ref: string; url: string; size: number; sha256: string | null; resume_from: number }
  | { event: "progress"; ref: string; bytes: number; total: number; speed?: number; eta_s?: number }
  | { event: "retry"; ref: string; attempt: number; of: number; delay_ms: number; code: string; reason: string }
  | { event: "note"; ref: string; message: string }
  | { event: "verified"; ref: string; sha256: string; size: number }
  | { event: "done"; ref: string; sha256: string; size: number; path: string; from_cache: boolean; stale?: boolean; signature?: SignatureState; output?: string }
  | { event: "error"; ref: string; code: string; message: string };

export type PullEventSink = (ev: PullEvent) => void;

/** What the signature policy found, as `done` carries it (docs/TRUST.md). */
export interface SignatureState {
  policy: string;
  state: string;
  keyid?: string;
  key_name?: string;
  signed_at?: string;
  keyids: string[];
}
