/**
 * Typed view of the Worker's vars and secrets (declared and commented in wrangler.toml).
 * Parsed once per distinct env object; invalid values fall back to the defaults with a warning,
 * so a typo in config never takes the catalog down.
 */
import type { SourceInfo } from "../shared/catalog";
import { MAX_GRID_LIMIT, parseMaxGrid } from "../shared/container/head";
import { parsePublicKey, type PublicKey } from "../shared/trust/keys";

export interface WorkerConfig {
  /** This catalog as a source: id (`CATALOG_ID`), name (`CATALOG_NAME`), color (`CATALOG_COLOR`); url filled per request. */
  local: Omit<SourceInfo, "url">;
  /** Remote catalog servers (`REMOTE_SERVERS`, JSON array of {id,name,url,color}). */
  remotes: SourceInfo[];
  /** Problems found in `REMOTE_SERVERS` (reported, not fatal). */
  remoteConfigErrors: string[];
  /** Per-remote timeout, ms (`REMOTE_TIMEOUT_MS`, default 10000 like the v1.2 client). */
  remoteTimeoutMs: number;
  /** Most bytes read from one remote catalog answer (`REMOTE_MAX_BYTES`, default 64 MiB); parsed incrementally, so memory does not grow with it. */
  remoteMaxBytes: number;
  /** Characters of inline thumbnails kept per remote source (`REMOTE_THUMBNAIL_BUDGET`, default 2 MiB); past it entries keep `thumbnail: ""`. */
  remoteThumbnailBudget: number;
  /** Most entries kept per remote source (`REMOTE_MAX_ENTRIES`, default 10000). */
  remoteMaxEntries: number;
  /** A remote answer is fresh this long, s (`REMOTE_FRESH_SECONDS`, default 60 like v1.2). */
  remoteFreshSeconds: number;
  /** A stale remote answer may be served while revalidating this long, s (`REMOTE_STALE_SECONDS`, default 3600). */
  remoteStaleSeconds: number;
  /** Largest single-request PUT body, bytes (`MAX_UPLOAD_BYTES`, default 100 MB = the Free/Pro request limit); also the most of a request body the drain reads (index.ts). */
  maxUploadBytes: number;
  /** Largest grid side a publish may have (`MAX_GRID`: a power of two from 8192 to 32768, default 32768 = 4 GiB payloads). */
  maxGrid: number;
  /** Bearer token for publishing (secret `PUBLISH_TOKEN`); empty = publishing disabled. */
  publishToken: string;
  /**
   * Publisher keys (`PUBLISH_KEYS`, JSON list of `ed25519:<base64>`): when set, every publish needs
   * a valid signature envelope by one of them. Raw texts here; `publishKeys()` parses them.
   */
  publishKeyTexts: string[] | null;
}

const DEFAULT_COLOR = "#4f8cff";
const PALETTE = ["#e4572e", "#17bebb", "#ffc914", "#76b041", "#a06cd5", "#ff8c42", "#2e86ab", "#f26df9"];
const ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

function int(v: unknown, dflt: number, min: number, max: number): number {
  if (v === undefined || v === null || v === "") return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min || n > max) {
    console.warn(`config: ignoring out-of-range value ${String(v)}, using ${dflt}`);
    return dflt;
  }
  return Math.floor(n);
}

/** Parses `REMOTE_SERVERS`; bad items are dropped and described in `errors`. */
export function parseRemoteServers(raw: unknown): { remotes: SourceInfo[]; errors: string[] } {
  const errors: string[] = [];
  const remotes: SourceInfo[] = [];
  if (raw === undefined || raw === null || raw === "") return { remotes, errors };
  let list: unknown = raw;
  if (typeof raw === "string") {
    try {
      list = JSON.parse(raw);
    } catch {
      return { remotes, errors: ["REMOTE_SERVERS is not valid JSON"] };
    }
  }
  if (!Array.isArray(list)) return { remotes, errors: ["REMOTE_SERVERS must be a JSON array"] };
  const ids = new Set<string>();
  list.forEach((item, i) => {
    const r = (typeof item === "object" && item !== null ? item : {}) as Record<string, unknown>;
    const url = typeof item === "string" ? item : r.url;
    let base: URL;
    try {
      base = new URL(String(url));
      if (base.protocol !== "http:" && base.protocol !== "https:") throw new Error();
    } catch {
      errors.push(`REMOTE_SERVERS[${i}]: url must be an http(s) URL`);
      return;
    }
    const cleanUrl = base.toString().replace(/\/+$/, "");
    const id = typeof r.id === "string" ? r.id : `remote-${i + 1}`;
    if (!ID_RE.test(id) || ids.has(id)) {
      errors.push(`REMOTE_SERVERS[${i}]: id must be unique and URL-safe`);
      return;
    }
    ids.add(id);
    remotes.push({
      id,
      name: typeof r.name === "string" && r.name ? r.name : base.host,
      url: cleanUrl,
      color: typeof r.color === "string" && r.color ? r.color : PALETTE[i % PALETTE.length]!,
    });
  });
  return { remotes, errors };
}

const cache = new WeakMap<object, WorkerConfig>();

export function getConfig(env: Env): WorkerConfig {
  const hit = cache.get(env);
  if (hit) return hit;
  const e = env as unknown as Record<string, unknown>;
  const { remotes, errors } = parseRemoteServers(e.REMOTE_SERVERS);
  for (const err of errors) console.warn(`config: ${err}`);
  const id = typeof e.CATALOG_ID === "string" && ID_RE.test(e.CATALOG_ID) ? e.CATALOG_ID : "local";
  const cfg: WorkerConfig = {
    local: {
      id,
      name: typeof e.CATALOG_NAME === "string" && e.CATALOG_NAME ? e.CATALOG_NAME : "PixelRTS Edge",
      color: typeof e.CATALOG_COLOR === "string" && e.CATALOG_COLOR ? e.CATALOG_COLOR : DEFAULT_COLOR,
    },
    remotes: remotes.filter((r) => r.id !== id),
    remoteConfigErrors: errors,
    remoteTimeoutMs: int(e.REMOTE_TIMEOUT_MS, 10_000, 1, 120_000),
    remoteMaxBytes: int(e.REMOTE_MAX_BYTES, 64 * 1024 * 1024, 1024, 512 * 1024 * 1024),
    remoteThumbnailBudget: int(e.REMOTE_THUMBNAIL_BUDGET, 2 * 1024 * 1024, 0, 16 * 1024 * 1024),
    remoteMaxEntries: int(e.REMOTE_MAX_ENTRIES, 10_000, 1, 50_000),
    remoteFreshSeconds: int(e.REMOTE_FRESH_SECONDS, 60, 0, 86_400),
    remoteStaleSeconds: int(e.REMOTE_STALE_SECONDS, 3600, 0, 30 * 86_400),
    maxUploadBytes: int(e.MAX_UPLOAD_BYTES, 100_000_000, 1, 5 * 1024 ** 3),
    maxGrid: maxGridFrom(e.MAX_GRID),
    publishToken: typeof e.PUBLISH_TOKEN === "string" ? e.PUBLISH_TOKEN : "",
    publishKeyTexts: parsePublishKeyList(e.PUBLISH_KEYS),
  };
  cache.set(env, cfg);
  return cfg;
}

function maxGridFrom(raw: unknown): number {
  const n = parseMaxGrid(typeof raw === "string" ? raw : raw === undefined ? undefined : String(raw));
  if (n !== undefined) return n;
  console.warn(`config: MAX_GRID must be 8192, 16384 or 32768; using ${MAX_GRID_LIMIT}`);
  return MAX_GRID_LIMIT;
}

/**
 * `PUBLISH_KEYS`: unset or empty → null (any valid signature is accepted, none is required);
 * otherwise the list of key texts (a JSON array of strings). Not JSON, not an array → null with a
 * warning (like a bad REMOTE_SERVERS: config typos never take the catalog down).
 */
export function parsePublishKeyList(raw: unknown): string[] | null {
  if (raw === undefined || raw === null || raw === "") return null;
  let list: unknown = raw;
  if (typeof raw === "string") {
    try {
      list = JSON.parse(raw);
    } catch {
      console.warn("config: PUBLISH_KEYS is not valid JSON; ignored");
      return null;
    }
  }
  if (!Array.isArray(list)) {
    console.warn("config: PUBLISH_KEYS must be a JSON array of ed25519:<base64> keys; ignored");
    return null;
  }
  return list.map((k) => (typeof k === "string" ? k : ""));
}

const keyCache = new Map<string, Promise<Map<string, PublicKey> | null>>();

/**
 * The parsed publisher keys by key id, or null when PUBLISH_KEYS is not set. Invalid entries are
 * skipped with a warning (like REMOTE_SERVERS items); a list whose entries are all invalid still
 * counts as set (an empty key set: every publish is refused rather than silently unprotected).
 */
export function publishKeys(env: Env): Promise<Map<string, PublicKey> | null> {
  const texts = getConfig(env).publishKeyTexts;
  if (!texts) return Promise.resolve(null);
  const memo = JSON.stringify(texts);
  let hit = keyCache.get(memo);
  if (!hit) {
    hit = (async () => {
      const keys = new Map<string, PublicKey>();
      for (const [i, t] of texts.entries()) {
        try {
          const k = await parsePublicKey(t, `PUBLISH_KEYS[${i}]`);
          keys.set(k.keyid, k);
        } catch (e) {
          console.warn(`config: ${(e as Error).message}; skipped`);
        }
      }
      return keys;
    })();
    if (keyCache.size > 16) keyCache.clear();
    keyCache.set(memo, hit);
  }
  return hit;
}
