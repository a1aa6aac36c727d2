/**
 * The agent's retry policy, in one place (defaults from the v1.2 client, pixelrts-v2.md §7.2).
 *
 * Retried: network errors (reset, refused, DNS hiccup, closed early), timeouts (connect, headers,
 * body idle), a body shorter than its Content-Length, a body below the low-speed limit
 * (E_TOO_SLOW: a fresh connection may take a better path, but only within the budget), and the
 * statuses 408, 429 and 5xx — all mean "the same request may work later".
 * Never retried: other 4xx (the request itself is wrong: asking again gives the same answer),
 * redirects to non-http(s) URLs (E_BAD_URL) and redirect loops (E_TOO_MANY_REDIRECTS), integrity
 * failures (wrong digest, HTML instead of PNG: the server is lying, not flaky), cancellation,
 * the overall pull deadline (E_PULL_TIMEOUT), and local disk errors.
 *
 * Budget: `retries` failures in a row. An attempt that saved bytes past the furthest byte this
 * pull ever had resets it (the caller decides what counts, see AttemptContext.progressed), so a
 * server that drops the connection every few hundred MB still completes; an attempt that failed
 * as too slow never resets it, however many bytes it dripped.
 *
 * Delays: base·2^(n-1) (1 s, 2 s, 4 s) + 0..jitter ms, capped at maxMs. A Retry-After header is
 * honoured as a floor; when it asks for more than maxMs we give up at once and say so instead
 * of retrying too early or hanging for minutes.
 */
import { PixelRtsError, isPixelRtsError } from "../../shared/errors.js";
import { parseHttpDate } from "../../shared/http-date.js";

export interface RetryPolicy {
  /** Retries after the first attempt. */
  retries: number;
  baseMs: number;
  maxMs: number;
  jitterMs: number;
  /** Injectable for tests; defaults to Math.random. */
  random?: () => number;
}

export interface RetryEvent {
  /** 1 for the first retry. */
  attempt: number;
  of: number;
  delayMs: number;
  /** One line: what failed and why it is worth another try. */
  reason: string;
  code: string;
}

const RETRYABLE_ERRNO = new Set(["ECONNRESET", "ECONNREFUSED", "ECONNABORTED", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "ENETDOWN", "EAI_AGAIN", "ENOTFOUND"]);
const RETRYABLE_UNDICI = new Set(["UND_ERR_SOCKET", "UND_ERR_CONNECT_TIMEOUT", "UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT", "UND_ERR_RES_CONTENT_LENGTH_MISMATCH", "UND_ERR_CLOSED"]);
/** Our own codes that describe a transient condition. */
const RETRYABLE_CODES = new Set(["E_NETWORK", "E_TIMEOUT", "E_SERVER", "E_TRUNCATED", "E_TOO_SLOW"]);
/** Failures whose attempt made no progress worth a fresh budget, whatever bytes it saved. */
const NEVER_PROGRESS = new Set(["E_TOO_SLOW"]);

export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || (status >= 500 && status <= 599);
}

/** Turns anything thrown by undici or Node into a PixelRtsError with a one-line message. */
export function toHttpError(e: unknown, url: string): PixelRtsError {
  if (isPixelRtsError(e)) return e as PixelRtsError;
  const err = e as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
  const code = err?.code ?? err?.cause?.code;
  const where = safeOrigin(url);
  switch (code) {
    case "UND_ERR_CONNECT_TIMEOUT":
      return new PixelRtsError("E_TIMEOUT", `timed out connecting to ${where}`, { url }, { cause: e });
    case "UND_ERR_HEADERS_TIMEOUT":
      return new PixelRtsError("E_TIMEOUT", `${where} sent no response headers in time`, { url }, { cause: e });
    case "UND_ERR_BODY_TIMEOUT":
      return new PixelRtsError("E_TIMEOUT", `${where} stopped sending data (body idle timeout)`, { url }, { cause: e });
    case "UND_ERR_RES_CONTENT_LENGTH_MISMATCH":
      return new PixelRtsError("E_TRUNCATED", `${where} closed the body before its Content-Length`, { url }, { cause: e });
    case "ECONNREFUSED":
      return new PixelRtsError("E_NETWORK", `connection refused by ${where}`, { url, errno: code }, { cause: e });
    case "ECONNRESET":
    case "UND_ERR_SOCKET":
    case "UND_ERR_CLOSED":
    case "EPIPE":
      return new PixelRtsError("E_NETWORK", `connection to ${where} was reset or closed early`, { url, errno: code }, { cause: e });
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return new PixelRtsError("E_NETWORK", `cannot resolve ${where} (DNS: ${code})`, { url, errno: code }, { cause: e });
    case "UND_ERR_ABORTED":
    case "ABORT_ERR":
      return new PixelRtsError("E_INTERRUPTED", "interrupted", { url }, { cause: e });
    default:
      if (err?.name === "AbortError") return new PixelRtsError("E_INTERRUPTED", "interrupted", { url }, { cause: e });
      if (code && (RETRYABLE_ERRNO.has(code) || RETRYABLE_UNDICI.has(code))) {
        return new PixelRtsError("E_NETWORK", `network error talking to ${where}: ${code}`, { url, errno: code }, { cause: e });
      }
      // Not a transport failure we know: a bug or a bad argument. Surface it, never retry it.
      return new PixelRtsError("E_INTERNAL", `request to ${where} failed: ${err?.message ?? String(e)}`, { url, errno: code, retryable: false }, { cause: e });
  }
}

export function isRetryable(e: PixelRtsError): boolean {
  if (e.details.retryable === false) return false;
  return RETRYABLE_CODES.has(e.code);
}

/** An HTTP status as an error: 408/429/5xx → retryable E_SERVER, other statuses → E_HTTP. */
export function statusError(method: string, url: string, status: number, statusText: string, retryAfter?: string | null): PixelRtsError {
  const retryAfterMs = retryAfter ? parseRetryAfter(retryAfter) : undefined;
  const msg = `${method} ${url} → ${status}${statusText ? " " + statusText : ""}`;
  return new PixelRtsError(isRetryableStatus(status) ? "E_SERVER" : "E_HTTP", msg, { url, status, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) });
}

/** Retry-After: delta-seconds or an HTTP-date (RFC 9110 §10.2.3). Undefined when unparseable. */
export function parseRetryAfter(value: string, now = Date.now()): number | undefined {
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const t = parseHttpDate(v);
  return t === null ? undefined : Math.max(0, t * 1000 - now);
}

/** Delay before retry number `attempt` (1-based), or undefined when Retry-After exceeds the cap. */
export function retryDelay(attempt: number, policy: RetryPolicy, retryAfterMs?: number): number | undefined {
  const jitter = Math.floor((policy.random ?? Math.random)() * (policy.jitterMs + 1));
  const backoff = Math.min(policy.maxMs, policy.baseMs * 2 ** (attempt - 1) + jitter);
  if (retryAfterMs === undefined) return backoff;
  if (retryAfterMs > policy.maxMs) return undefined;
  return Math.max(backoff, retryAfterMs);
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

export interface AttemptContext {
  /** 0 for the first attempt. */
  attempt: number;
  /**
   * Call when this attempt moved forward (resumable bytes saved past the furthest byte this pull
   * ever had): if it then fails, the next failure starts a fresh retry budget.
   */
  progressed(): void;
}

/**
 * Runs `op` until it succeeds, fails with a non-retryable error, or the retry budget is spent.
 * An attempt that made progress resets the budget (see the policy above), unless it failed as
 * too slow; one that fails without progress counts against `retries`. Aborting `signal` ends
 * the loop at once with the signal's reason when that is a PixelRtsError (e.g. the deadline).
 */
export async function withRetry<T>(op: (ctx: AttemptContext) => Promise<T>, policy: RetryPolicy, hooks: { url: string; signal?: AbortSignal; onRetry?: (ev: RetryEvent) => void }): Promise<T> {
  let failures = 0;
  for (let attempt = 0; ; attempt++) {
    let progressed = false;
    try {
      return await op({ attempt, progressed: () => void (progressed = true) });
    } catch (raw) {
      if (hooks.signal?.aborted) throw isPixelRtsError(hooks.signal.reason) ? hooks.signal.reason : new PixelRtsError("E_INTERRUPTED", "interrupted", { url: hooks.url }, { cause: raw });
      const e = toHttpError(raw, hooks.url);
      if (!isRetryable(e)) throw e;
      failures = progressed && !NEVER_PROGRESS.has(e.code) ? 1 : failures + 1;
      if (failures > policy.retries) {
        throw new PixelRtsError(e.code, `${e.message} (gave up after ${policy.retries} ${policy.retries === 1 ? "retry" : "retries"})`, e.details, { cause: e });
      }
      const retryAfterMs = typeof e.details.retryAfterMs === "number" ? e.details.retryAfterMs : undefined;
      const delayMs = retryDelay(failures, policy, retryAfterMs);
      if (delayMs === undefined) {
        throw new PixelRtsError(e.code, `${e.message}: server asked to retry after ${Math.ceil(retryAfterMs! / 1000)} s, more than the ${Math.ceil(policy.maxMs / 1000)} s limit (PIXELRTS_RETRY_MAX_MS)`, e.details, { cause: e });
      }
      hooks.onRetry?.({ attempt: failures, of: policy.retries, delayMs, reason: e.message, code: e.code });
      await sleep(delayMs, hooks.signal).catch((reason) => {
        throw isPixelRtsError(reason) ? reason : toHttpError(reason, hooks.url);
      });
    }
  }
}

function safeOrigin(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}
