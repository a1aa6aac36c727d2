import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { PixelRtsError } from "../../shared/errors.js";
import type { Env } from "./paths.js";

/**
 * Tunables, each with its default, its config.json key and its env override.
 * Defaults follow the v1.2 client (pixelrts-v2.md §7.2) unless noted.
 */
export interface Settings {
  /** Retries after the first attempt (v1.2: 3, at 1 s, 2 s, 4 s). Env PIXELRTS_RETRIES. */
  retries: number;
  /** First backoff delay; doubles per retry. Env PIXELRTS_RETRY_BASE_MS. */
  retryBaseMs: number;
  /** Upper bound of one delay, Retry-After included. Env PIXELRTS_RETRY_MAX_MS. */
  retryMaxMs: number;
  /** Random 0..N ms added to each delay. Env PIXELRTS_RETRY_JITTER_MS. */
  retryJitterMs: number;
  /** Time to response headers (v1.2: 120 s). Env PIXELRTS_HEADERS_TIMEOUT_MS. */
  headersTimeoutMs: number;
  /** Longest silence between two body chunks (ours; v1.2 has none). Env PIXELRTS_BODY_TIMEOUT_MS. */
  bodyTimeoutMs: number;
  /** Per-server catalog fetch timeout (v1.2: 10 s). Env PIXELRTS_CATALOG_TIMEOUT_MS. */
  catalogTimeoutMs: number;
  /** Catalog responses younger than this are used without a request (v1.2: 60 s). */
  catalogFreshMs: number;
  /** A cached container reached by id is revalidated after this (v1.2: 7 days). */
  containerFreshMs: number;
  /** LRU budget of the content cache (ours: 10 GiB). Env PIXELRTS_CACHE_MAX_BYTES (accepts 500MiB, 10GiB). */
  cacheMaxBytes: number;
  /** Where SHA-256 runs during a pull: auto (measured), inline, worker. Env PIXELRTS_HASH_MODE. */
  hashMode: "auto" | "inline" | "worker";
  /**
   * Longest a second process waits for another one's download of the same object, however it
   * progresses (it takes over sooner when the holder dies or stalls). Env PIXELRTS_LOCK_WAIT_MS.
   */
  lockWaitMs: number;
  /**
   * Overall deadline of one pull (or of the pull a boot does), waiting for another process's
   * download and retries included; then E_PULL_TIMEOUT (ours: 4 h). Env PIXELRTS_PULL_TIMEOUT_MS,
   * `pull --timeout SECONDS`. 0 disables it.
   */
  pullTimeoutMs: number;
  /**
   * Low-speed limit, like curl's --speed-limit/--speed-time: a download that receives fewer than
   * lowSpeedBytes per second on average over lowSpeedMs fails with E_TOO_SLOW (ours: 1 KiB/s
   * for 60 s), and a process waiting on another's download takes it over when the holder's
   * file grows slower than that. Env PIXELRTS_LOW_SPEED_BYTES (accepts 1KiB), PIXELRTS_LOW_SPEED_MS.
   * Either at 0 disables it.
   */
  lowSpeedBytes: number;
  lowSpeedMs: number;
  /**
   * Signature policy (docs/TRUST.md): off (no check), warn (show the state, boot anyway) or
   * require (only containers a trusted key signed). A server's own policy (`servers add
   * --signatures`) can only make it stricter. Env PIXELRTS_SIGNATURES.
   */
  signatures: SignaturePolicy;
}

export type SignaturePolicy = "off" | "warn" | "require";
export const SIGNATURE_POLICIES: readonly SignaturePolicy[] = ["off", "warn", "require"];

/** The stricter of two policies. */
export function stricterPolicy(a: SignaturePolicy, b: SignaturePolicy | undefined): SignaturePolicy {
  return b !== undefined && SIGNATURE_POLICIES.indexOf(b) > SIGNATURE_POLICIES.indexOf(a) ? b : a;
}

export const DEFAULT_SETTINGS: Readonly<Settings> = Object.freeze({
  retries: 3,
  retryBaseMs: 1000,
  retryMaxMs: 10_000,
  retryJitterMs: 500,
  headersTimeoutMs: 120_000,
  bodyTimeoutMs: 60_000,
  catalogTimeoutMs: 10_000,
  catalogFreshMs: 60_000,
  containerFreshMs: 7 * 24 * 3600_000,
  cacheMaxBytes: 10 * 1024 ** 3,
  hashMode: "auto",
  lockWaitMs: 6 * 3600_000,
  // 10 GiB (the default cache budget) at 1 MB/s takes ~3 h: the deadline must not end a slow but
  // honest pull. Stalls and drips are ended far sooner by the body timeout and the low-speed
  // limit; this only bounds what keeps "progressing" for ever (e.g. resets every few bytes).
  pullTimeoutMs: 4 * 3600_000,
  lowSpeedBytes: 1024,
  lowSpeedMs: 60_000,
  signatures: "warn",
});

const ENV_KEYS: Record<string, keyof Settings> = {
  PIXELRTS_RETRIES: "retries",
  PIXELRTS_RETRY_BASE_MS: "retryBaseMs",
  PIXELRTS_RETRY_MAX_MS: "retryMaxMs",
  PIXELRTS_RETRY_JITTER_MS: "retryJitterMs",
  PIXELRTS_HEADERS_TIMEOUT_MS: "headersTimeoutMs",
  PIXELRTS_BODY_TIMEOUT_MS: "bodyTimeoutMs",
  PIXELRTS_CATALOG_TIMEOUT_MS: "catalogTimeoutMs",
  PIXELRTS_CACHE_MAX_BYTES: "cacheMaxBytes",
  PIXELRTS_HASH_MODE: "hashMode",
  PIXELRTS_LOCK_WAIT_MS: "lockWaitMs",
  PIXELRTS_PULL_TIMEOUT_MS: "pullTimeoutMs",
  PIXELRTS_LOW_SPEED_BYTES: "lowSpeedBytes",
  PIXELRTS_LOW_SPEED_MS: "lowSpeedMs",
  PIXELRTS_SIGNATURES: "signatures",
};

const UNITS: Record<string, number> = { "": 1, b: 1, k: 1e3, kb: 1e3, m: 1e6, mb: 1e6, g: 1e9, gb: 1e9, t: 1e12, tb: 1e12, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, tib: 1024 ** 4 };

/** "10GiB" → 10737418240; plain numbers are bytes. */
export function parseBytes(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new PixelRtsError("E_CONFIG", `not a byte size: '${text}' (use e.g. 500MiB, 10GiB)`);
  return Math.floor(Number(m[1]) * unit);
}

function coerce(key: keyof Settings, raw: unknown, where: string): Settings[keyof Settings] {
  if (key === "hashMode") {
    if (raw === "auto" || raw === "inline" || raw === "worker") return raw;
    throw new PixelRtsError("E_CONFIG", `${where}: hashMode must be auto, inline or worker, not '${String(raw)}'`);
  }
  if (key === "signatures") {
    if ((SIGNATURE_POLICIES as readonly unknown[]).includes(raw)) return raw as SignaturePolicy;
    throw new PixelRtsError("E_CONFIG", `${where}: signatures must be off, warn or require, not '${String(raw)}'`);
  }
  const n = (key === "cacheMaxBytes" || key === "lowSpeedBytes") && typeof raw === "string" ? parseBytes(raw) : Number(raw);
  if (!Number.isFinite(n) || n < 0 || (typeof raw === "string" && raw.trim() === "")) {
    throw new PixelRtsError("E_CONFIG", `${where}: ${key} must be a non-negative number, not '${String(raw)}'`);
  }
  return n;
}

/** Defaults, then config.json in the config dir, then env, then explicit overrides (flags, tests). */
export async function loadSettings(configDir: string, env: Env = process.env, overrides: Partial<Settings> = {}): Promise<Settings> {
  const s: Settings = { ...DEFAULT_SETTINGS };
  const file = join(configDir, "config.json");
  let text: string | undefined;
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw new PixelRtsError("E_CONFIG", `cannot read ${file}: ${(e as Error).message}`);
  }
  if (text !== undefined) {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new PixelRtsError("E_CONFIG", `${file} is not valid JSON: ${(e as Error).message}`);
    }
    if (typeof json !== "object" || json === null || Array.isArray(json)) throw new PixelRtsError("E_CONFIG", `${file} must hold a JSON object`);
    for (const [k, v] of Object.entries(json)) {
      if (!(k in DEFAULT_SETTINGS)) throw new PixelRtsError("E_CONFIG", `${file}: unknown setting '${k}' (known: ${Object.keys(DEFAULT_SETTINGS).join(", ")})`);
      (s as unknown as Record<string, unknown>)[k] = coerce(k as keyof Settings, v, file);
    }
  }
  for (const [name, key] of Object.entries(ENV_KEYS)) {
    const v = env[name];
    if (v !== undefined && v !== "") (s as unknown as Record<string, unknown>)[key] = coerce(key, v, name);
  }
  return { ...s, ...overrides };
}

/** The retry policy these settings describe (agent/http/retry.ts applies it). */
export function retryPolicyFrom(s: Settings): { retries: number; baseMs: number; maxMs: number; jitterMs: number } {
  return { retries: s.retries, baseMs: s.retryBaseMs, maxMs: s.retryMaxMs, jitterMs: s.retryJitterMs };
}
