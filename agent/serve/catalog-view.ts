/**
 * The console's catalog: every configured server's listing (their own catalogs, or what they
 * aggregate with --federated) merged with this host's cache — the same inputs as `pixelrts
 * catalog`, in the original catalog server's entry shape (thumbnail, position, grid_dimensions)
 * plus our fields, `source`, and this host's state of each entry.
 *
 * Merge rules: the same file (SHA-256) listed by several sources is one entry (the first
 * source's, the others in `also_from`); a cached file no listing mentions is an entry of the
 * `cache` source. Each entry gets an id unique in the view: the id its source lists when that is
 * a plain id and not taken, else `<id>~<source>`; ids that are not plain (a remote's choice)
 * become `sha-<16 hex>`. Positions come from the layout store (layout.ts).
 *
 * Kept in memory and answered from there: the server listings are refetched in the background
 * once older than catalogFreshMs (stale-while-revalidate), the cache is re-listed after serve's
 * own pulls and at most every 10 s otherwise; `refresh()` does both now.
 */
import { createHash } from "node:crypto";
import { dedupeBySha256, gridDimensions, matchesFilter, normalizeRemoteEntry, type CatalogEntry, type CatalogFilter, type GridDimensions, type SourceInfo } from "../../shared/catalog.js";
import type { CacheEntry } from "../cache/entry.js";
import { loadCatalogs, type ServerCatalog } from "../catalog/index.js";
import type { ServerConfig } from "../config/servers.js";
import type { AgentContext } from "../context.js";
import type { TrustReport } from "../trust/policy.js";
import type { VmStatus } from "../boot/vm.js";
import type { LayoutStore } from "./layout.js";
import { isEntryId } from "./validate.js";
import { isContainerName } from "../../shared/names.js";

export const CACHE_SOURCE: SourceInfo = { id: "cache", name: "this host's cache", url: "", color: "#8a8f98" };

/** One entry as the console's API answers it. */
export interface ConsoleEntry extends CatalogEntry {
  /** In this host's cache (verified when it was stored). */
  cached: boolean;
  /** Re-hashed at least once since it was stored (the pull counts). */
  verified: boolean;
  verified_at: string | null;
  pinned: boolean;
  /** true: signed (a trusted signature, or the source lists signatures); false: known unsigned; null: unknown. */
  signed: boolean | null;
  /** What the signature policy found when this host last fetched or checked it. */
  trust: { state: string; line: string; key_name?: string } | null;
  /** The state of this entry's newest VM (stopped when it has none). */
  status: VmStatus;
  /** Listed from a saved copy because its server did not answer. */
  stale: boolean;
}

export interface Item {
  entry: CatalogEntry;
  /** The id as its source lists it. */
  listedId: string;
  /** The configured server it came through; undefined for cache-only entries. */
  server?: ServerConfig;
  cache?: CacheEntry;
  /** Its thumbnail is made here from the cached file (GET …/{id}/thumbnail). */
  localThumb: boolean;
  stale: boolean;
  /** The entry as JSON without position and thumbnail_url (they change), made once per merge. */
  json?: string;
}

export interface SourceRow extends SourceInfo {
  status: "ok" | "stale" | "error";
  entries: number;
  fetched_at: string | null;
  error: { code: string; message: string } | null;
  thumbnails: { kept: number; dropped: number } | null;
}

export interface CatalogViewOptions {
  federated: boolean;
  /** Inline thumbnail characters kept per source. */
  thumbnailBudget: number;
  /** The state of each entry's newest VM (entries without one are absent), and a number that changes whenever any VM's does. */
  vmStatuses: () => Map<string, VmStatus>;
  vmVersion: () => number;
  /** A fresh merge is ready (refresh, pull, background revalidation). */
  onChange: (reason: string, entries: number) => void;
  warn: (message: string) => void;
}

const CACHE_RELIST_MS = 10_000;

const iso = (ms: number | undefined) => (ms ? new Date(ms).toISOString() : null);

export class CatalogView {
  private catalogs: ServerCatalog[] = [];
  private catalogsAt = 0;
  private cached: CacheEntry[] = [];
  private cachedAt = 0;
  private items: Item[] = [];
  private byId = new Map<string, Item>();
  private version = 0;
  private chain: Promise<void> = Promise.resolve();
  private builds = 0;
  private readonly trust = new Map<string, TrustReport>();
  /** Answers of GET /api/v1/catalog by (merge, VM states, origin, filter): the newest 16. */
  private readonly memo = new Map<string, { body: string; etag: string }>();

  constructor(
    private readonly agent: AgentContext,
    private readonly layout: LayoutStore,
    private readonly opts: CatalogViewOptions,
  ) {}

  /** The first merge (servers and cache); later calls return at once. */
  ready(): Promise<void> {
    return this.version > 0 ? Promise.resolve() : this.rebuild({ servers: true, cache: true, reason: "start" });
  }

  /** Refetches every server (no freshness window) and re-lists the cache. */
  async refresh(): Promise<{ entries: number; sources: SourceRow[] }> {
    await this.rebuild({ servers: true, cache: true, freshMs: 0, reason: "refresh" });
    return { entries: this.items.length, sources: this.sources() };
  }

  /** The cache changed (a pull or a removal): re-list it and merge again. */
  cacheChanged(reason = "cache"): Promise<void> {
    return this.rebuild({ servers: false, cache: true, reason });
  }

  /** Remembers what the signature policy found for a file (shown as `signed`/`trust`). */
  noteTrust(sha256: string, report: TrustReport): void {
    this.trust.set(sha256, report);
    this.memo.clear();
  }

  find(id: string): Item | undefined {
    return this.byId.get(id);
  }

  all(): readonly Item[] {
    return this.items;
  }

  /** Background revalidation when the listings or the cache listing are old (never awaited by readers). */
  revalidate(): void {
    const now = Date.now();
    const servers = now - this.catalogsAt >= this.agent.settings.catalogFreshMs;
    const cache = now - this.cachedAt >= CACHE_RELIST_MS;
    if ((servers || cache) && this.builds === 0) void this.rebuild({ servers, cache, reason: "revalidate" }).catch((e) => this.opts.warn(`catalog revalidation failed: ${(e as Error).message}`));
  }

  private rebuild(what: { servers: boolean; cache: boolean; freshMs?: number; reason: string }): Promise<void> {
    const run = async () => {
      const [catalogs, cached] = await Promise.all([
        what.servers ? loadCatalogs(this.agent, { federated: this.opts.federated, thumbnailBudget: this.opts.thumbnailBudget, ...(what.freshMs !== undefined ? { freshMs: what.freshMs } : {}) }) : undefined,
        what.cache ? this.agent.cache.list() : undefined,
      ]);
      if (catalogs) {
        this.catalogs = catalogs;
        this.catalogsAt = Date.now();
      }
      if (cached) {
        this.cached = cached;
        this.cachedAt = Date.now();
      }
      this.merge();
      this.opts.onChange(what.reason, this.items.length);
    };
    // One merge at a time: one asked for while another runs is run after it (it may need newer inputs).
    this.builds++;
    const next = this.chain.catch(() => {}).then(run).finally(() => this.builds--);
    this.chain = next;
    return next;
  }

  private merge(): void {
    const origin = new Map<CatalogEntry, { server: ServerConfig; stale: boolean; listedId: string }>();
    const listed: CatalogEntry[] = [];
    for (const cat of this.catalogs) {
      for (const e of cat.entries) {
        const copy: CatalogEntry = { ...e, ...(e.also_from ? { also_from: [...e.also_from] } : {}) };
        origin.set(copy, { server: cat.server, stale: cat.stale, listedId: e.id });
        listed.push(copy);
      }
    }
    const kept = dedupeBySha256(listed);
    const bySha = new Map(this.cached.map((c) => [c.sha256, c]));
    const listedShas = new Set<string>();
    const items: Item[] = [];
    for (const e of kept) {
      const o = origin.get(e)!;
      if (e.sha256) listedShas.add(e.sha256);
      const c = e.sha256 ? bySha.get(e.sha256) : undefined;
      items.push({ entry: e, listedId: o.listedId, server: o.server, ...(c ? { cache: c } : {}), localThumb: !!c && !e.thumbnail && !e.thumbnail_url, stale: o.stale });
    }
    for (const c of this.cached) {
      if (listedShas.has(c.sha256)) continue;
      const snap = c.entry;
      const src = c.sources[c.sources.length - 1];
      const raw = snap ? { ...snap, thumbnail: "", thumbnail_url: null } : { id: src?.id ?? `sha-${c.sha256.slice(0, 16)}`, name: src?.name ?? src?.id ?? c.sha256.slice(0, 12), size: c.size, sha256: c.sha256 };
      const e = normalizeRemoteEntry(raw, CACHE_SOURCE);
      if (!e) continue;
      e.size = c.size;
      e.sha256 = e.hash = c.sha256;
      items.push({ entry: e, listedId: e.id, cache: c, localThumb: true, stale: false });
    }
    // Ids unique in the view, in listing order (servers in config order, then the cache).
    const byId = new Map<string, Item>();
    for (const item of items) {
      const e = item.entry;
      const base = isEntryId(e.id) ? e.id : e.sha256 ? `sha-${e.sha256.slice(0, 16)}` : `x-${createHash("sha256").update(`${e.source.id}\n${e.id}`).digest("hex").slice(0, 16)}`;
      let id = base;
      if (byId.has(id)) id = `${base}~${e.source.id.replace(/[^A-Za-z0-9._-]+/g, "-").replace(/^[^A-Za-z0-9]+/, "").slice(0, 40) || "source"}`.slice(0, 200);
      for (let n = 2; byId.has(id); n++) id = `${base.slice(0, 190)}~${n}`;
      e.id = id;
      byId.set(id, item);
    }
    if (this.layout.assign(byId.keys())) void this.layout.save().catch((err) => this.opts.warn(`cannot save the layout: ${(err as Error).message}`));
    for (const [id, item] of byId) item.entry.position = this.layout.get(id) ?? { x: 0, y: 0 };
    this.items = items;
    this.byId = byId;
    this.version++;
    this.memo.clear();
  }

  /** Positions changed (layout moves): entries read them again. */
  positionsChanged(): void {
    for (const [id, item] of this.byId) item.entry.position = this.layout.get(id) ?? item.entry.position;
    this.version++;
    this.memo.clear();
  }

  /** The ref and options `ensureCached` gets for an entry: its listed id at its server, or its digest. */
  refFor(item: Item): { ref: string; server?: string } {
    const sha = item.entry.sha256;
    if (!item.server) return { ref: `sha256:${sha}` };
    // A listed id that is not a plain name (a remote's choice) could read as a URL or a path: use the digest.
    if (isContainerName(item.listedId)) return { ref: item.listedId, server: item.server.name };
    if (sha) return { ref: `sha256:${sha}`, server: item.server.name };
    return { ref: item.listedId, server: item.server.name };
  }

  /** This host's state of an entry (the fields ConsoleEntry adds). */
  private stateOf(item: Item, statuses: Map<string, VmStatus>) {
    const e = item.entry;
    const c = item.cache;
    const report = e.sha256 ? this.trust.get(e.sha256) : undefined;
    return {
      cached: !!c,
      verified: !!c && c.verifiedAt > 0,
      verified_at: iso(c?.verifiedAt),
      pinned: c?.pinned ?? false,
      signed: report?.state === "trusted" || (e.signatures?.length ?? 0) > 0 ? true : report?.state === "unsigned" ? false : null,
      trust: report ? { state: report.state, line: report.line, ...(report.key_name ? { key_name: report.key_name } : {}) } : null,
      status: statuses.get(e.id) ?? ("stopped" as VmStatus),
      stale: item.stale,
    };
  }

  private thumbnailUrl(item: Item, origin: string): string | null {
    return item.localThumb ? `${origin}/api/v1/catalog/${encodeURIComponent(item.entry.id)}/thumbnail` : item.entry.thumbnail_url;
  }

  /** Each VM's state by entry id (one snapshot of the VMs: pass it on when rendering many entries). */
  vmStatuses(): Map<string, VmStatus> {
    return this.opts.vmStatuses();
  }

  consoleEntry(item: Item, origin: string, statuses = this.opts.vmStatuses()): ConsoleEntry {
    return { ...item.entry, thumbnail_url: this.thumbnailUrl(item, origin), ...this.stateOf(item, statuses) };
  }

  /** The same as JSON.stringify(consoleEntry(…)), from a per-merge JSON of the entry (1,000 entries: a few ms). */
  private consoleJson(item: Item, origin: string, statuses: Map<string, VmStatus>): string {
    item.json ??= JSON.stringify({ ...item.entry, position: undefined, thumbnail_url: undefined }).slice(1, -1);
    const state = JSON.stringify(this.stateOf(item, statuses)).slice(1, -1);
    return `{"position":${JSON.stringify(item.entry.position)},"thumbnail_url":${JSON.stringify(this.thumbnailUrl(item, origin))},${item.json},${state}}`;
  }

  grid(): GridDimensions {
    return gridDimensions(this.items.map((i) => i.entry));
  }

  /**
   * `GET /api/v1/catalog` as JSON text and its ETag. Answers are remembered until the merge, a
   * position or a VM changes, so the console's frequent reloads cost one lookup.
   */
  catalogJson(origin: string, filter: CatalogFilter, extra: Record<string, unknown>): { body: string; etag: string } {
    const key = JSON.stringify([this.version, this.opts.vmVersion(), origin, filter]);
    const hit = this.memo.get(key);
    if (hit) return hit;
    const filtered = Object.values(filter).some(Boolean);
    const statuses = this.opts.vmStatuses();
    const entries = this.items.filter((i) => !filtered || matchesFilter(i.entry, filter)).map((i) => this.consoleJson(i, origin, statuses));
    const rest = JSON.stringify({ grid_dimensions: this.grid(), next_cursor: null, ...extra, sources: this.sources() }).slice(1);
    const body = `{"entries":[${entries.join(",")}],${rest}`;
    const out = { body, etag: `"${createHash("sha1").update(body).digest("base64url")}"` };
    this.memo.set(key, out);
    while (this.memo.size > 16) this.memo.delete(this.memo.keys().next().value!);
    return out;
  }

  /** One row per configured server, then the cache. */
  sources(): SourceRow[] {
    const rows: SourceRow[] = this.catalogs.map((c) => ({
      ...c.source,
      status: c.error ? (c.entries.length ? "stale" : "error") : "ok",
      entries: c.entries.length,
      fetched_at: iso(c.fetchedAt),
      error: c.error ?? null,
      thumbnails: c.thumbnails ?? null,
    }));
    rows.push({ ...CACHE_SOURCE, status: "ok", entries: this.cached.length, fetched_at: iso(this.cachedAt), error: null, thumbnails: null });
    return rows;
  }
}
