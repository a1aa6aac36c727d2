import { readFile } from "node:fs/promises";
import type { Dispatcher } from "undici";
import { normalizeRemoteEntry, type CatalogEntry, type SourceInfo } from "../../shared/catalog.js";
import { isPixelRtsError, PixelRtsError } from "../../shared/errors.js";
import type { ServerConfig } from "../config/servers.js";
import { writeFileAtomic } from "../fsutil/index.js";
import { getJsonWith } from "../http/json.js";
import type { AgentContext } from "../context.js";
import { CatalogStreamParser } from "./stream-json.js";

/** One server's catalog as the agent sees it right now. */
export interface ServerCatalog {
  server: ServerConfig;
  source: SourceInfo;
  /** Entries (possibly from the saved copy; see `stale`). */
  entries: CatalogEntry[];
  /** ms since epoch of the answer the entries come from; undefined when there are none. */
  fetchedAt?: number;
  /** True when the network was not asked (copy younger than the freshness window) or answered 304. */
  fromCache: boolean;
  /** True when the server could not be reached/used and the entries are an older saved copy. */
  stale: boolean;
  /** Why this server's fresh answer is missing. */
  error?: { code: string; message: string };
  /** Inline thumbnails kept and dropped (over the per-source budget), when the answer said. */
  thumbnails?: { kept: number; dropped: number };
}

/**
 * The last answer of one server, as saved in `catalogs/<server>.json`: `body.entries` are the
 * server's own entry objects, except for inline thumbnails past the budget (dropped: `""`).
 * Copies written before budgets existed have no `thumbnailBudget` (they kept every thumbnail).
 */
interface SavedCatalog {
  url: string;
  etag?: string;
  fetchedAt: number;
  thumbnailBudget?: number;
  thumbnails?: { kept: number; dropped: number };
  body: unknown;
}

/**
 * Inline thumbnail characters kept per source by default: none. The CLI never shows them (our
 * Worker is asked for `thumbnails=0`; an original server ignores that and inlines ~254 KB per
 * entry). `pixelrts serve` passes a budget of its own.
 */
export const DEFAULT_THUMBNAIL_BUDGET = 0;
/** Largest catalog answer read, in bytes (what is kept is bounded separately, see stream-json.ts). */
export const MAX_CATALOG_BYTES = 256 * 1024 * 1024;

export interface CatalogFetchOptions {
  federated?: boolean;
  freshMs?: number;
  offline?: boolean;
  signal?: AbortSignal;
  /** Inline thumbnail characters kept for this source (default DEFAULT_THUMBNAIL_BUDGET). */
  thumbnailBudget?: number;
}

const DEFAULT_COLOR = "#808080";

export function sourceOf(server: ServerConfig): SourceInfo {
  return { id: server.name, name: server.name, url: server.url, color: server.color ?? DEFAULT_COLOR };
}

/** `{entries:[...]}` → normalised entries; entries of a federated answer keep their inner source. */
function entriesOf(body: unknown, source: SourceInfo, federated: boolean): CatalogEntry[] {
  const list = (body as { entries?: unknown })?.entries;
  if (!Array.isArray(list)) throw Object.assign(new Error("catalog JSON has no entries[] array"), { code: "E_BAD_RESPONSE" });
  const out: CatalogEntry[] = [];
  for (const raw of list) {
    const inner = federated ? innerSource(raw) : undefined;
    const e = normalizeRemoteEntry(raw, inner ?? source);
    if (e) out.push(e);
  }
  return out;
}

function innerSource(raw: unknown): SourceInfo | undefined {
  const s = (raw as { source?: Partial<SourceInfo> })?.source;
  if (s && typeof s.id === "string" && typeof s.url === "string") return { id: s.id, name: typeof s.name === "string" ? s.name : s.id, url: s.url.replace(/\/+$/, ""), color: typeof s.color === "string" ? s.color : DEFAULT_COLOR };
  return undefined;
}

async function readSaved(path: string): Promise<SavedCatalog | undefined> {
  try {
    return JSON.parse(await readFile(path, "utf8")) as SavedCatalog;
  } catch {
    return undefined;
  }
}

/**
 * Fetches one server's catalog: a saved copy younger than `freshMs` is used as is; otherwise
 * GET with If-None-Match (304 refreshes the copy's age). Any failure falls back to the saved
 * copy marked stale, with the error attached: one bad server never fails a listing.
 */
export async function fetchServerCatalog(agent: AgentContext, server: ServerConfig, opts: CatalogFetchOptions = {}): Promise<ServerCatalog> {
  const federated = opts.federated ?? false;
  const budget = Math.max(0, opts.thumbnailBudget ?? DEFAULT_THUMBNAIL_BUDGET);
  const source = sourceOf(server);
  // thumbnails=0: our Worker then leaves out the base64 thumbnails (the CLI never shows them); other servers ignore it.
  const url = `${server.url}${federated ? "/api/v1/remote/catalog" : "/api/v1/catalog"}?thumbnails=0`;
  const file = agent.cache.layout.catalog(federated ? `${server.name}.remote` : server.name);
  await agent.cache.init();
  const saved = await readSaved(file);
  const usable = saved && saved.url === url ? saved : undefined;
  const fromSaved = (stale: boolean, error?: { code: string; message: string }): ServerCatalog => {
    let entries: CatalogEntry[] = [];
    if (usable) {
      try {
        entries = entriesOf(usable.body, source, federated);
      } catch {
        entries = [];
      }
    }
    return { server, source, entries, ...(usable ? { fetchedAt: usable.fetchedAt } : {}), fromCache: true, stale, ...(error ? { error } : {}), ...(usable?.thumbnails ? { thumbnails: usable.thumbnails } : {}) };
  };

  const freshMs = opts.freshMs ?? agent.settings.catalogFreshMs;
  // A copy saved with a smaller thumbnail budget is not fresh for a reader that wants more.
  if (usable && Date.now() - usable.fetchedAt < freshMs && (usable.thumbnailBudget ?? Infinity) >= budget) return fromSaved(false);
  if (opts.offline) return fromSaved(true, { code: "E_OFFLINE", message: "offline mode: not contacted" });
  try {
    const res = await streamCatalog(agent.http, url, { timeoutMs: agent.settings.catalogTimeoutMs, thumbnailBudget: budget, source, federated, ...(usable?.etag ? { etag: usable.etag } : {}), ...(opts.signal ? { signal: opts.signal } : {}) });
    if (res.status === 304 && usable) {
      const next: SavedCatalog = { ...usable, fetchedAt: Date.now() };
      await writeFileAtomic(file, JSON.stringify(next), agent.cache.layout.tmpDir).catch(() => {});
      return { ...fromSaved(false), fetchedAt: next.fetchedAt };
    }
    if (res.status === 304) throw new PixelRtsError("E_BAD_RESPONSE", `GET ${url} answered 304 to a request without If-None-Match`, { url });
    const next: SavedCatalog = { url, fetchedAt: Date.now(), thumbnailBudget: budget, thumbnails: res.thumbnails, body: { entries: res.raw }, ...(res.etag ? { etag: res.etag } : {}) };
    await writeFileAtomic(file, JSON.stringify(next), agent.cache.layout.tmpDir).catch(() => {});
    return { server, source, entries: res.entries, fetchedAt: next.fetchedAt, fromCache: false, stale: false, thumbnails: res.thumbnails };
  } catch (e) {
    const code = isPixelRtsError(e) ? e.code : ((e as { code?: string }).code ?? "E_BAD_RESPONSE");
    return fromSaved(true, { code: code.startsWith("E_") ? code : "E_BAD_RESPONSE", message: (e as Error).message });
  }
}

/** All configured servers (or just `only`) in parallel, in config order. */
export async function loadCatalogs(agent: AgentContext, opts: CatalogFetchOptions & { only?: string } = {}): Promise<ServerCatalog[]> {
  const servers = opts.only ? [await agent.servers.get(opts.only)] : await agent.servers.list();
  return Promise.all(servers.map((s) => fetchServerCatalog(agent, s, opts)));
}

type StreamedCatalog =
  | { status: 304; etag?: string }
  | { status: 200; etag?: string; entries: CatalogEntry[]; raw: unknown[]; thumbnails: { kept: number; dropped: number } };

/**
 * GET one catalog and parse it while it streams (stream-json.ts): entries are normalised one by
 * one, inline thumbnails past `thumbnailBudget` are dropped as they pass, and nothing holds the
 * whole answer. Same rules as the other JSON GETs otherwise: one overall deadline, If-None-Match,
 * 200 or 304 only, a JSON Content-Type; not retried (a stale saved copy is the fallback).
 */
export async function streamCatalog(
  dispatcher: Dispatcher,
  url: string,
  opts: { timeoutMs: number; thumbnailBudget: number; source: SourceInfo; federated: boolean; etag?: string; signal?: AbortSignal; maxBytes?: number },
): Promise<StreamedCatalog> {
  const maxBytes = opts.maxBytes ?? MAX_CATALOG_BYTES;
  const r = await getJsonWith(dispatcher, url, opts, async (body) => {
    const entries: CatalogEntry[] = [];
    const raw: unknown[] = [];
    const parser = new CatalogStreamParser({
      thumbnailBudget: opts.thumbnailBudget,
      onEntry: (r) => {
        const inner = opts.federated ? innerSource(r) : undefined;
        const e = normalizeRemoteEntry(r, inner ?? opts.source);
        if (!e) return;
        entries.push(e);
        raw.push(r);
      },
    });
    let n = 0;
    for await (const chunk of body) {
      n += chunk.length;
      if (n > maxBytes) throw new PixelRtsError("E_BAD_RESPONSE", `GET ${url}: the catalog is larger than ${maxBytes} bytes`, { url, max: maxBytes });
      parser.write(chunk);
    }
    let result;
    try {
      result = parser.end();
    } catch (e) {
      throw new PixelRtsError("E_BAD_RESPONSE", `GET ${url}: ${(e as Error).message}`, { url });
    }
    return { entries, raw, thumbnails: { kept: result.thumbnails.kept, dropped: result.thumbnails.dropped } };
  });
  return r.status === 304 ? r : { status: 200, ...(r.etag ? { etag: r.etag } : {}), ...r.value };
}
