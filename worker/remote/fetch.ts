/**
 * Fetches one remote server's `GET /api/v1/catalog` (another instance of this Worker or an
 * original PixelRTS catalog server) with a hard deadline covering headers and body, parsed
 * incrementally (parse.ts): at most `maxBytes` read, one entry held at a time, inline thumbnails
 * kept only within the source's budget, then tolerant normalisation. Never throws: every failure
 * becomes a result with status `error`/`timeout` and a code, so one bad server cannot fail the aggregate.
 */
import { type CatalogEntry, normalizeRemoteEntry, type SourceInfo } from "../../shared/catalog";
import { parseRemoteCatalog, RemoteParseError } from "./parse";

export type FetchFn = (input: string, init: RequestInit) => Promise<Response>;

export interface RemoteFetchOptions {
  fetch: FetchFn;
  timeoutMs: number;
  /** Most bytes read from one answer. */
  maxBytes: number;
  /** Max entries kept from one server. */
  maxEntries?: number;
  /** Characters of inline thumbnails kept per source; past it entries keep `thumbnail: ""`. */
  thumbnailBudget?: number;
}

export interface RemoteResult {
  source: SourceInfo;
  status: "ok" | "error" | "timeout";
  entries: CatalogEntry[];
  latencyMs: number | null;
  error: { code: string; message: string } | null;
  /** Epoch ms of the answer. */
  fetchedAt: number;
  /** Entries whose inline thumbnail was dropped for the budget. */
  thumbnailsDropped?: number;
}

class RemoteFailure extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export const DEFAULT_MAX_ENTRIES = 10_000;
export const DEFAULT_THUMBNAIL_BUDGET = 2 * 1024 * 1024;
/** An entry without its thumbnail is small; anything past this is not a catalog entry. */
const MAX_ENTRY_CHARS = 64 * 1024;

export async function fetchRemoteCatalog(source: SourceInfo, o: RemoteFetchOptions): Promise<RemoteResult> {
  const started = Date.now();
  const ctrl = new AbortController();
  let timedOut = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      timedOut = true;
      ctrl.abort();
      reject(new RemoteFailure("E_REMOTE_TIMEOUT", `no complete answer within ${o.timeoutMs} ms`));
    }, o.timeoutMs);
  });
  let dropped = 0;
  const done = (status: RemoteResult["status"], entries: CatalogEntry[], error: RemoteResult["error"]): RemoteResult => ({
    source,
    status,
    entries,
    error,
    latencyMs: Date.now() - started,
    fetchedAt: Date.now(),
    ...(dropped ? { thumbnailsDropped: dropped } : {}),
  });
  try {
    const work = (async () => {
      const res = await o.fetch(`${source.url}/api/v1/catalog`, { headers: { accept: "application/json" }, signal: ctrl.signal });
      if (!res.ok) {
        await res.body?.cancel();
        throw new RemoteFailure("E_REMOTE_HTTP", `HTTP ${res.status}`);
      }
      const declared = Number(res.headers.get("content-length") ?? NaN);
      if (Number.isFinite(declared) && declared > o.maxBytes) {
        await res.body?.cancel();
        throw new RemoteFailure("E_REMOTE_TOO_LARGE", `catalog is ${declared} bytes, over the ${o.maxBytes}-byte limit`);
      }
      if (!res.body) throw new RemoteFailure("E_REMOTE_INVALID", "catalog is empty");
      const entries: CatalogEntry[] = [];
      try {
        const stats = await parseRemoteCatalog(
          res.body,
          { maxBytes: o.maxBytes, maxEntries: o.maxEntries ?? DEFAULT_MAX_ENTRIES, thumbnailBudget: o.thumbnailBudget ?? DEFAULT_THUMBNAIL_BUDGET, maxEntryChars: MAX_ENTRY_CHARS },
          (raw) => {
            const e = normalizeRemoteEntry(raw, source);
            if (e) entries.push(e);
          },
        );
        dropped = stats.thumbnailsDropped;
      } catch (e) {
        if (e instanceof RemoteParseError) throw new RemoteFailure(e.code, e.message);
        throw e;
      }
      return entries;
    })();
    const entries = await Promise.race([work, deadline]);
    return done("ok", entries, null);
  } catch (e) {
    if (timedOut) return done("timeout", [], { code: "E_REMOTE_TIMEOUT", message: `no complete answer within ${o.timeoutMs} ms` });
    if (e instanceof RemoteFailure) return done("error", [], { code: e.code, message: e.message });
    return done("error", [], { code: "E_REMOTE_UNREACHABLE", message: String((e as Error)?.message ?? e).slice(0, 200) });
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}
