import { readFile } from "node:fs/promises";
import { normalizeRemoteEntry, type CatalogEntry, type SourceInfo } from "../../shared/catalog.js";
import { isPixelRtsError } from "../../shared/errors.js";
import type { ServerConfig } from "../config/servers.js";
import { writeFileAtomic } from "../fsutil/index.js";
import { getJson } from "../http/json.js";
import type { AgentContext } from "../context.js";

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
}

interface SavedCatalog {
  url: string;
  etag?: string;
  fetchedAt: number;
  body: unknown;
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
export async function fetchServerCatalog(agent: AgentContext, server: ServerConfig, opts: { federated?: boolean; freshMs?: number; offline?: boolean; signal?: AbortSignal } = {}): Promise<ServerCatalog> {
  const federated = opts.federated ?? false;
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
    return { server, source, entries, ...(usable ? { fetchedAt: usable.fetchedAt } : {}), fromCache: true, stale, ...(error ? { error } : {}) };
  };

  const freshMs = opts.freshMs ?? agent.settings.catalogFreshMs;
  if (usable && Date.now() - usable.fetchedAt < freshMs) return fromSaved(false);
  if (opts.offline) return fromSaved(true, { code: "E_OFFLINE", message: "offline mode: not contacted" });
  try {
    const res = await getJson<unknown>(agent.http, url, { timeoutMs: agent.settings.catalogTimeoutMs, ...(usable?.etag ? { etag: usable.etag } : {}), ...(opts.signal ? { signal: opts.signal } : {}) });
    if (res.status === 304 && usable) {
      const next: SavedCatalog = { ...usable, fetchedAt: Date.now() };
      await writeFileAtomic(file, JSON.stringify(next), agent.cache.layout.tmpDir).catch(() => {});
      return { ...fromSaved(false), fetchedAt: next.fetchedAt };
    }
    const entries = entriesOf(res.body, source, federated);
    const next: SavedCatalog = { url, fetchedAt: Date.now(), body: res.body, ...(res.etag ? { etag: res.etag } : {}) };
    await writeFileAtomic(file, JSON.stringify(next), agent.cache.layout.tmpDir).catch(() => {});
    return { server, source, entries, fetchedAt: next.fetchedAt, fromCache: false, stale: false };
  } catch (e) {
    const code = isPixelRtsError(e) ? e.code : ((e as { code?: string }).code ?? "E_BAD_RESPONSE");
    return fromSaved(true, { code: code.startsWith("E_") ? code : "E_BAD_RESPONSE", message: (e as Error).message });
  }
}

/** All configured servers (or just `only`) in parallel, in config order. */
export async function loadCatalogs(agent: AgentContext, opts: { only?: string; federated?: boolean; freshMs?: number; offline?: boolean; signal?: AbortSignal } = {}): Promise<ServerCatalog[]> {
  const servers = opts.only ? [await agent.servers.get(opts.only)] : await agent.servers.list();
  return Promise.all(servers.map((s) => fetchServerCatalog(agent, s, opts)));
}
