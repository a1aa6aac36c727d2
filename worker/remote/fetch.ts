/**
 * Fetches one remote server's `GET /api/v1/catalog` (another instance of this Worker or an
 * original PixelRTS catalog server) with a hard deadline covering headers and body, a byte cap
 * read incrementally, and tolerant parsing. Never throws: every failure becomes a result with
 * status `error`/`timeout` and a code, so one bad server cannot fail the aggregate.
 */
import { concatBytes } from "../../shared/bytes";
import { type CatalogEntry, normalizeRemoteEntry, type SourceInfo } from "../../shared/catalog";

export type FetchFn = (input: string, init: RequestInit) => Promise<Response>;

export interface RemoteFetchOptions {
  fetch: FetchFn;
  timeoutMs: number;
  maxBytes: number;
  /** Max entries kept from one server. */
  maxEntries?: number;
}

export interface RemoteResult {
  source: SourceInfo;
  status: "ok" | "error" | "timeout";
  entries: CatalogEntry[];
  latencyMs: number | null;
  error: { code: string; message: string } | null;
  /** Epoch ms of the answer. */
  fetchedAt: number;
}

class RemoteFailure extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

async function readCapped(res: Response, maxBytes: number): Promise<string> {
  const declared = Number(res.headers.get("content-length") ?? NaN);
  if (Number.isFinite(declared) && declared > maxBytes) {
    await res.body?.cancel();
    throw new RemoteFailure("E_REMOTE_TOO_LARGE", `catalog is ${declared} bytes, over the ${maxBytes}-byte limit`);
  }
  if (!res.body) return "";
  const reader = res.body.getReader();
  const parts: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > maxBytes) {
      await reader.cancel();
      throw new RemoteFailure("E_REMOTE_TOO_LARGE", `catalog exceeds the ${maxBytes}-byte limit`);
    }
    parts.push(value);
  }
  return new TextDecoder().decode(concatBytes(parts, total));
}

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
  const done = (status: RemoteResult["status"], entries: CatalogEntry[], error: RemoteResult["error"]): RemoteResult => ({
    source,
    status,
    entries,
    error,
    latencyMs: Date.now() - started,
    fetchedAt: Date.now(),
  });
  try {
    const work = (async () => {
      const res = await o.fetch(`${source.url}/api/v1/catalog`, { headers: { accept: "application/json" }, signal: ctrl.signal });
      if (!res.ok) {
        await res.body?.cancel();
        throw new RemoteFailure("E_REMOTE_HTTP", `HTTP ${res.status}`);
      }
      const text = await readCapped(res, o.maxBytes);
      let doc: unknown;
      try {
        doc = JSON.parse(text);
      } catch {
        throw new RemoteFailure("E_REMOTE_INVALID", "catalog is not valid JSON");
      }
      const list = Array.isArray(doc) ? doc : typeof doc === "object" && doc !== null ? (doc as { entries?: unknown }).entries : undefined;
      if (!Array.isArray(list)) throw new RemoteFailure("E_REMOTE_INVALID", "catalog has no entries array");
      const entries: CatalogEntry[] = [];
      for (const raw of list.slice(0, o.maxEntries ?? 10_000)) {
        const e = normalizeRemoteEntry(raw, source);
        if (e) entries.push(e);
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
