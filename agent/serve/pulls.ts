/**
 * Pulls started by serve (`POST /api/v1/pulls`, a download that needs the bytes first, a boot):
 * `ensureCached` as `pixelrts pull` and `boot` call it, its events published on the bus exactly
 * as `--json` prints them (with speed and ETA, throttled to 5 a second; the final progress and
 * every other event always go out), tagged with the pull's id and entry.
 *
 * A copy taken from the cache is hashed again before it is used, as `pixelrts boot` does: a copy
 * damaged on disk is removed and fetched anew.
 */
import { randomBytes } from "node:crypto";
import { isPixelRtsError } from "../../shared/errors.js";
import type { AgentContext } from "../context.js";
import { createReporter } from "../progress/index.js";
import type { PullEvent } from "../progress/events.js";
import { ensureVerified } from "../pull/verified.js";
import { ensureCached, type EnsureResult } from "../pull/index.js";
import type { CatalogView, Item } from "./catalog-view.js";
import type { EventBus } from "./events.js";

export interface PullInfo {
  pull_id: string;
  entry_id: string;
  ref: string;
  /** For a boot's pull. */
  vm_id: string | null;
  status: "running" | "done" | "error";
  bytes: number;
  total: number;
  percent: number | null;
  speed: number | null;
  eta_s: number | null;
  sha256: string | null;
  from_cache: boolean | null;
  started_at: string;
  error: { code: string; message: string } | null;
}

const KEEP_ENDED = 50;

export class PullManager {
  private readonly pulls = new Map<string, { info: PullInfo; done: Promise<EnsureResult> }>();

  constructor(
    private readonly agent: AgentContext,
    private readonly view: CatalogView,
    private readonly bus: EventBus,
  ) {}

  list(): PullInfo[] {
    return [...this.pulls.values()].map((p) => ({ ...p.info }));
  }

  /**
   * Pulls an entry (or joins the pull of it already under way). `hold` keeps the cached file
   * from eviction until the result's `release()`; a held pull is never shared.
   */
  start(item: Item, opts: { vm_id?: string; signal?: AbortSignal; hold?: boolean } = {}): { info: PullInfo; done: Promise<EnsureResult> } {
    if (!opts.hold && !opts.vm_id) {
      for (const p of this.pulls.values()) if (p.info.entry_id === item.entry.id && p.info.status === "running" && p.info.vm_id === null) return { info: { ...p.info }, done: p.done };
    }
    const { ref, server } = this.view.refFor(item);
    const info: PullInfo = {
      pull_id: `pull-${randomBytes(4).toString("hex")}`,
      entry_id: item.entry.id,
      ref,
      vm_id: opts.vm_id ?? null,
      status: "running",
      bytes: 0,
      total: item.entry.size || 0,
      percent: null,
      speed: null,
      eta_s: null,
      sha256: item.entry.sha256,
      from_cache: null,
      started_at: new Date().toISOString(),
      error: null,
    };
    const tag = { pull_id: info.pull_id, entry_id: info.entry_id, ...(opts.vm_id ? { vm_id: opts.vm_id } : {}) };
    const track = (ev: PullEvent & { speed?: number; eta_s?: number }) => {
      if (ev.event === "start") info.total = ev.size;
      if (ev.event === "progress") {
        info.bytes = ev.bytes;
        info.total = ev.total;
        info.percent = ev.total > 0 ? Math.min(100, Math.floor((ev.bytes * 100) / ev.total)) : null;
        info.speed = ev.speed ?? null;
        info.eta_s = ev.eta_s ?? null;
      }
      if (ev.event === "done") {
        info.status = "done";
        info.bytes = info.total = ev.size;
        info.percent = 100;
        info.sha256 = ev.sha256;
        info.from_cache = ev.from_cache;
      }
      if (ev.event === "error") {
        info.status = "error";
        info.error = { code: ev.code, message: ev.message };
      }
      this.bus.publish("pull", { ...ev, ...tag });
    };
    const report = createReporter({ mode: "json", out: (line) => track(JSON.parse(line) as PullEvent), intervalMs: 200 });
    const done = (async () => {
      try {
        const r = await this.fetchVerified(ref, server, report, opts);
        report({ event: "done", ref, sha256: r.sha256, size: r.size, path: r.path, from_cache: r.fromCache, ...(r.stale ? { stale: true } : {}) });
        if (r.note) report({ event: "note", ref, message: r.note });
        this.view.noteTrust(r.sha256, r.trust);
        await this.view.cacheChanged("pull").catch(() => {});
        return r;
      } catch (e) {
        report({ event: "error", ref, code: isPixelRtsError(e) ? e.code : "E_INTERNAL", message: (e as Error)?.message ?? String(e) });
        throw e;
      } finally {
        report.close();
      }
    })();
    done.catch(() => {}); // the caller decides whether a failure matters; the event says it anyway
    this.pulls.set(info.pull_id, { info, done });
    this.forgetOld();
    return { info: { ...info }, done };
  }

  /** ensureCached, then the check of a copy that came from the cache (once re-fetched when damaged): as `boot` does. */
  private fetchVerified(ref: string, server: string | undefined, emit: (e: PullEvent) => void, opts: { signal?: AbortSignal; hold?: boolean }): Promise<EnsureResult> {
    const get = () => ensureCached(this.agent, ref, { ...(server ? { server } : {}), emit, ...(opts.signal ? { signal: opts.signal } : {}), ...(opts.hold ? { hold: true } : {}) });
    return ensureVerified(this.agent, ref, get, { onDamaged: (message) => emit({ event: "note", ref, message }) });
  }

  private forgetOld(): void {
    const ended = [...this.pulls.values()].filter((p) => p.info.status !== "running");
    for (const p of ended.slice(0, Math.max(0, ended.length - KEEP_ENDED))) this.pulls.delete(p.info.pull_id);
  }
}
