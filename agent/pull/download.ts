import { createHash } from "node:crypto";
import { open, readFile, rm, stat, statfs } from "node:fs/promises";
import type { Dispatcher } from "undici";
import { undici } from "../http/undici.js";
import { PixelRtsError } from "../../shared/errors.js";
import type { ContentCache } from "../cache/cache.js";
import { readFileBlocks } from "../cache/hash-file.js";
import { retryPolicyFrom, type Settings } from "../config/settings.js";
import { ioError, isErrno, writeFileAtomic } from "../fsutil/index.js";
import { USER_AGENT } from "../http/client.js";
import { header } from "../http/json.js";
import { assertHttpUrl } from "../http/redirects.js";
import { statusError, withRetry, type AttemptContext } from "../http/retry.js";
import type { PullEventSink } from "../progress/events.js";
import { digestFromUrl, parseHexDigest, parseReprDigest, reconcileDigests } from "./digest.js";
import { createHasher, resolveHashMode, type Hasher } from "./hasher.js";
import { LowSpeedGuard } from "./low-speed.js";
import { PartialWriter } from "./partial-writer.js";

export interface DownloadTarget {
  url: string;
  /** What the user asked for; shown in events. */
  ref: string;
  /** The file's SHA-256 when known before asking: from the catalog, a trusted signature, --sha256 or the URL. */
  expectedSha256?: string;
  /** Who said `expectedSha256` (messages name it; default "the catalog"). */
  expectedFrom?: string;
  /** Why a 404 here means the server serves no bytes at all (E_NO_BYTES instead of E_HTTP). */
  noBytesHint?: string;
  /** The catalog's size, when known (> 0). */
  expectedSize?: number;
  /** Revalidate a cached copy: sent as If-None-Match when nothing partial is on disk. */
  ifNoneMatch?: string;
}

/** A partial download on disk: the bytes and their validators (`PartialMeta` as JSON). */
export interface PartialPaths {
  data: string;
  meta: string;
}

export interface DownloadDeps {
  http: Dispatcher;
  cache: ContentCache;
  settings: Settings;
  emit: PullEventSink;
  signal?: AbortSignal;
  /** Where to keep the download; default: the key's shared partial (agent/pull/pull.ts passes this process's own files). */
  partial?: PartialPaths;
  /** Test seam: called before each write to the partial file (e.g. to inject ENOSPC). */
  beforeWrite?: (position: number, length: number) => void | Promise<void>;
  /** Called when a body starts going to the partial file (its path, first byte, total size): `boot` decodes while it downloads (agent/boot/cold-unpack.ts). */
  onBody?: (info: { path: string; start: number; total: number }) => void;
}

export type DownloadResult =
  | { kind: "downloaded"; path: string; sha256: string; size: number; etag?: string; lastModified?: string }
  /** The response named a digest already in the cache: the body was not read. */
  | { kind: "cached"; sha256: string; etag?: string; lastModified?: string }
  | { kind: "not-modified"; etag?: string; lastModified?: string };

/** Validators kept beside a partial download. */
export interface PartialMeta {
  url: string;
  etag: string;
  lastModified?: string;
  size: number;
  sha256: string;
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** The lock/partial key: the expected digest when known, else a hash of the URL. */
export function downloadKey(t: { url: string; expectedSha256?: string }): string {
  return t.expectedSha256 ?? createHash("sha256").update(t.url).digest("hex");
}

const isStrongEtag = (etag: string | undefined): etag is string => !!etag && /^"[^"]*"$/.test(etag);

/** Content types that can never be a container: an error page or API error must not be saved. */
function isWrongType(type: string | undefined): boolean {
  if (!type) return false;
  const t = type.split(";")[0]!.trim().toLowerCase();
  return t.startsWith("text/") || /(html|json|xml)/.test(t);
}

/** Parses `bytes A-B/N`. */
function parseContentRange(v: string | undefined): { start: number; end: number; total: number } | undefined {
  const m = v ? /^bytes (\d+)-(\d+)\/(\d+)$/.exec(v.trim()) : null;
  return m ? { start: Number(m[1]), end: Number(m[2]), total: Number(m[3]) } : undefined;
}

/** The partial bytes cannot be continued (validators changed, range refused, bytes damaged): start again from byte 0. */
class ResumeRefused extends Error {}

/** Codes after which the partial file is worthless (wrong bytes, or the disk failed under it). */
const DROPS_PARTIAL = new Set(["E_DIGEST_MISMATCH", "E_DISK_FULL", "E_IO", "E_NOT_PNG"]);

/** How far this pull has ever got: only saving bytes past `furthest` is progress that resets the retry budget. */
interface Reach {
  furthest: number;
}

/**
 * Downloads `target.url` into a partial file (deps.partial), verified, with retries and resume.
 * On success the returned path holds exactly the bytes whose SHA-256 is `sha256`; the caller
 * commits it. On any failure nothing verified-looking is left: a digest mismatch or a disk error
 * deletes the partial file; a network failure keeps it (with its validators) for resuming.
 */
export async function downloadVerified(target: DownloadTarget, deps: DownloadDeps): Promise<DownloadResult> {
  assertHttpUrl(target.url, "the download URL");
  const paths = deps.partial ?? deps.cache.layout.partial(downloadKey(target));
  const reach: Reach = { furthest: 0 };
  return withRetry((ctx) => attemptWithRestart(target, deps, paths, ctx, reach), retryPolicyFrom(deps.settings), {
    url: target.url,
    ...(deps.signal ? { signal: deps.signal } : {}),
    onRetry: (r) => deps.emit({ event: "retry", ref: target.ref, attempt: r.attempt, of: r.of, delay_ms: r.delayMs, code: r.code, reason: r.reason }),
  });
}

const dropPartial = (paths: PartialPaths) => Promise.all([rm(paths.data, { force: true }), rm(paths.meta, { force: true })]);

/** One attempt; a refused resume drops the partial file and restarts from byte 0, once per attempt. */
async function attemptWithRestart(target: DownloadTarget, deps: DownloadDeps, paths: PartialPaths, ctx: AttemptContext, reach: Reach): Promise<DownloadResult> {
  for (let restart = 0; ; restart++) {
    try {
      return await attemptOnce(target, deps, paths, ctx, reach);
    } catch (e) {
      if (e instanceof ResumeRefused && restart === 0) {
        deps.emit({ event: "note", ref: target.ref, message: `${e.message}; restarting from byte 0` });
        await dropPartial(paths);
        continue;
      }
      if (e instanceof PixelRtsError && DROPS_PARTIAL.has(e.code)) await dropPartial(paths);
      throw e;
    }
  }
}

async function readMeta(path: string): Promise<PartialMeta | undefined> {
  try {
    const m = JSON.parse(await readFile(path, "utf8")) as PartialMeta;
    return typeof m.url === "string" && typeof m.size === "number" && typeof m.sha256 === "string" ? m : undefined;
  } catch {
    return undefined;
  }
}

/** A partial file that can be continued: same URL, strong ETag, some bytes but not all. Anything else is removed. */
async function resumableState(paths: PartialPaths, url: string): Promise<{ from: number; meta?: PartialMeta }> {
  const meta = await readMeta(paths.meta);
  const onDisk = await stat(paths.data).catch(() => undefined);
  if (meta && onDisk && meta.url === url && isStrongEtag(meta.etag) && onDisk.size > 0 && onDisk.size < meta.size) return { from: onDisk.size, meta };
  if (meta || onDisk) await dropPartial(paths);
  return { from: 0 };
}

function requestHeaders(target: DownloadTarget, resume: { from: number; meta?: PartialMeta }): Record<string, string> {
  const headers: Record<string, string> = {
    "user-agent": USER_AGENT,
    accept: "image/png, application/octet-stream;q=0.9",
    "accept-encoding": "identity", // byte ranges and digests are about the stored bytes
  };
  if (resume.from > 0) {
    headers.range = `bytes=${resume.from}-`;
    headers["if-range"] = resume.meta!.etag;
  } else if (target.ifNoneMatch) {
    headers["if-none-match"] = target.ifNoneMatch;
  }
  return headers;
}

type Headers = Record<string, string | string[] | undefined>;

/**
 * What a 200/206 answer means for this download: the file's size and where the body starts.
 * Throws for anything that is not container bytes, ResumeRefused for a 206 that does not
 * continue our partial file exactly (range, size and ETag must all match).
 */
async function bodyPlan(res: { statusCode: number; headers: Headers }, target: DownloadTarget, resume: { from: number; meta?: PartialMeta }, deps: DownloadDeps, paths: PartialPaths): Promise<{ total: number; start: number }> {
  const { url } = target;
  const h = (n: string) => header(res.headers, n);
  const type = h("content-type");
  if (isWrongType(type)) {
    throw new PixelRtsError("E_BAD_CONTENT_TYPE", `${url} answered ${res.statusCode} with ${type}, not a container; nothing saved`, { url, contentType: type, retryable: false });
  }
  const encoding = h("content-encoding");
  if (encoding && encoding.toLowerCase() !== "identity") {
    throw new PixelRtsError("E_BAD_RESPONSE", `${url} sent Content-Encoding ${encoding} although identity was asked for`, { url });
  }
  if (res.statusCode === 206) {
    if (resume.from === 0) throw new PixelRtsError("E_BAD_RESPONSE", `${url} sent 206 to a request without Range`, { url });
    const meta = resume.meta!;
    const cr = parseContentRange(h("content-range"));
    if (!cr || cr.start !== resume.from || cr.end !== cr.total - 1 || cr.total !== meta.size) {
      throw new ResumeRefused(`server answered the resume with Content-Range '${h("content-range") ?? "(none)"}', expected bytes ${resume.from}-${meta.size - 1}/${meta.size}`);
    }
    const etag = h("etag");
    if (etag !== meta.etag) throw new ResumeRefused(`server answered the resume with ETag ${etag ?? "(none)"}, expected ${meta.etag}`);
    return { total: cr.total, start: resume.from };
  }
  if (resume.from > 0) {
    deps.emit({ event: "note", ref: target.ref, message: `server ignored the resume request (200, not 206); restarting from byte 0` });
    await rm(paths.meta, { force: true });
    resume.from = 0;
  }
  const cl = h("content-length");
  const total = cl !== undefined && /^\d+$/.test(cl) ? Number(cl) : NaN;
  if (!Number.isSafeInteger(total) || total <= 0) {
    throw new PixelRtsError("E_BAD_RESPONSE", `${url} sent no usable Content-Length (${cl ?? "none"}); a container download needs its size`, { url });
  }
  return { total, start: 0 };
}

/**
 * Sends the request with an absolute deadline on its headers: undici restarts its headers
 * timeout on every 1xx interim answer, so a server sending `103 Early Hints` forever would
 * otherwise hold the pull until the overall deadline.
 */
async function requestWithHeadersDeadline(url: string, deps: DownloadDeps, headers: Record<string, string>) {
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(new PixelRtsError("E_TIMEOUT", `${safeHost(url)} sent no final response headers within ${Math.round(deps.settings.headersTimeoutMs / 1000)} s`, { url })), deps.settings.headersTimeoutMs);
  timer.unref();
  const signal = deps.signal ? AbortSignal.any([deps.signal, deadline.signal]) : deadline.signal;
  try {
    return await undici().request(url, { dispatcher: deps.http, method: "GET", headers, signal });
  } catch (e) {
    if (deadline.signal.aborted && !deps.signal?.aborted) throw deadline.signal.reason;
    throw e;
  } finally {
    clearTimeout(timer);
  }
}

function safeHost(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

async function attemptOnce(target: DownloadTarget, deps: DownloadDeps, paths: PartialPaths, ctx: AttemptContext, reach: Reach): Promise<DownloadResult> {
  const { url, ref } = target;
  const resume = await resumableState(paths, url);
  const res = await requestWithHeadersDeadline(url, deps, requestHeaders(target, resume));
  // Destroying an unread body emits an AbortError; errors that matter surface through iteration.
  res.body.on("error", () => {});
  const h = (n: string) => header(res.headers, n);
  const etag = h("etag");
  const lastModified = h("last-modified");
  const validators = { ...(etag ? { etag } : {}), ...(lastModified ? { lastModified } : {}) };
  let bodyTaken = false;
  try {
    if (res.statusCode === 304 && target.ifNoneMatch && resume.from === 0) return { kind: "not-modified", ...validators };
    if (res.statusCode === 416 && resume.from > 0) throw new ResumeRefused(`server refused the range (416) for the partial download`);
    if ((res.statusCode === 404 || res.statusCode === 405) && target.noBytesHint) {
      throw new PixelRtsError("E_NO_BYTES", `${target.noBytesHint}; it serves no bytes for it (${url} → ${res.statusCode}). Copy the file from that server and run 'pixelrts boot FILE', or pull it from a server that serves bytes`, { url, status: res.statusCode, retryable: false });
    }
    if (res.statusCode !== 200 && res.statusCode !== 206) throw statusError("GET", url, res.statusCode, "", h("retry-after"));
    const { total, start } = await bodyPlan(res, target, resume, deps, paths);
    const expectedSize = target.expectedSize && target.expectedSize > 0 ? target.expectedSize : undefined;
    if (expectedSize !== undefined && total !== expectedSize) {
      throw new PixelRtsError("E_SIZE_MISMATCH", `${url} is ${total} bytes but the catalog says ${expectedSize}; refusing`, { url, total, expectedSize });
    }
    const sha256 = reconcileDigests(
      [
        { from: target.expectedFrom ?? "the catalog", hex: target.expectedSha256 },
        { from: "the URL", hex: digestFromUrl(url) },
        { from: "Repr-Digest", hex: parseReprDigest(h("repr-digest")) },
        { from: "X-PixelRTS-SHA256", hex: parseHexDigest(h("x-pixelrts-sha256")) },
        { from: "the partial download's record", hex: start > 0 ? resume.meta!.sha256 : undefined },
      ],
      url,
    );
    // Only a digest known before the answer may stand for bytes already cached: one the server
    // merely claims in its headers could name any cached container (and take over its name).
    const knownBefore = target.expectedSha256 ?? digestFromUrl(url);
    if (start === 0 && knownBefore === sha256 && (await deps.cache.get(sha256))) return { kind: "cached", sha256, ...validators };
    if (total > deps.settings.cacheMaxBytes) {
      throw new PixelRtsError("E_TOO_LARGE", `${url} is ${total} bytes, more than the whole cache budget (${deps.settings.cacheMaxBytes} bytes, PIXELRTS_CACHE_MAX_BYTES)`, { url, total, retryable: false });
    }

    await ensureSpace(deps.cache.layout.partialDir, total - start, url);
    deps.emit({ event: "start", ref, url, size: total, sha256, resume_from: start });
    const resumable = isStrongEtag(etag);
    if (resumable && start === 0) {
      const pm: PartialMeta = { url, etag, size: total, sha256, ...(lastModified ? { lastModified } : {}) };
      await writeFileAtomic(paths.meta, JSON.stringify(pm), deps.cache.layout.tmpDir);
    }
    reach.furthest = Math.max(reach.furthest, start);
    bodyTaken = true;
    await receiveVerified(res.body, { url, ref, path: paths.data, start, total, sha256, resumable }, deps, (end) => {
      // Only bytes past the furthest this pull ever saved are progress: re-downloading bytes
      // after a restart from 0 must not reset the retry budget, or a server that truncates and
      // then lies on every resume would be retried for ever.
      if (resumable && end > reach.furthest) {
        reach.furthest = end;
        ctx.progressed();
      }
    });
    await checkPngSignature(paths.data, url);
    deps.emit({ event: "verified", ref, sha256, size: total });
    await rm(paths.meta, { force: true });
    return { kind: "downloaded", path: paths.data, sha256, size: total, ...validators };
  } finally {
    if (!bodyTaken) res.body.destroy();
  }
}

interface BodyJob {
  url: string;
  ref: string;
  path: string;
  start: number;
  total: number;
  sha256: string;
  /** A strong validator is kept beside the file, so bytes written now survive a failure. */
  resumable: boolean;
}

/**
 * Hashes the partial file's first `start` bytes (a resume), then streams the body into the file
 * while hashing it, and compares the digest. A resumed download that fails its hash may be our
 * own damaged partial file rather than the server's fault: that is a ResumeRefused (start over
 * from byte 0 once); a fresh one that fails is E_DIGEST_MISMATCH.
 */
async function receiveVerified(body: Body, job: BodyJob, deps: DownloadDeps, onWritten: (end: number) => void): Promise<void> {
  const hasher = createHasher(resolveHashMode(deps.settings.hashMode, job.total));
  try {
    if (job.start > 0) {
      const fed = await readFileBlocks(job.path, (b) => hasher.update(b), job.start).catch((e) => {
        body.destroy();
        throw e;
      });
      if (fed !== job.start) {
        body.destroy();
        throw new ResumeRefused("partial file changed while resuming");
      }
    }
    await streamToFile(body, job, hasher, deps, onWritten);
    const actual = await hasher.digest();
    if (actual !== job.sha256 && job.start > 0) throw new ResumeRefused(`resumed bytes do not hash to ${job.sha256.slice(0, 12)}… (the partial file may be damaged)`);
    if (actual !== job.sha256) {
      throw new PixelRtsError("E_DIGEST_MISMATCH", `${job.url}: downloaded bytes hash to ${actual.slice(0, 12)}…, expected ${job.sha256.slice(0, 12)}…; nothing cached`, { url: job.url, expected: job.sha256, actual, retryable: false });
    }
  } finally {
    hasher.dispose();
  }
}

type Body = AsyncIterable<Buffer> & { destroy(err?: Error): void };

/**
 * Streams the body to the partial file from `job.start`, feeding the hasher in order, under the
 * low-speed limit. On a failure every byte received so far is still written (they are good, and
 * a resume starts after them), unless the server sent more than it declared. Disk errors win
 * over network errors: they are what the user must fix.
 */
async function streamToFile(body: Body, job: BodyJob, hasher: Hasher, deps: DownloadDeps, onWritten: (end: number) => void): Promise<void> {
  let writer: PartialWriter;
  try {
    writer = await PartialWriter.open(job.path, job.start, {
      ...(deps.beforeWrite ? { beforeWrite: deps.beforeWrite } : {}),
      onWritten: (end) => {
        onWritten(end);
        deps.emit({ event: "progress", ref: job.ref, bytes: end, total: job.total });
      },
    });
  } catch (e) {
    body.destroy();
    throw e;
  }
  deps.onBody?.({ path: job.path, start: job.start, total: job.total });
  const guard = new LowSpeedGuard({ bytesPerSecond: deps.settings.lowSpeedBytes, windowMs: deps.settings.lowSpeedMs }, new URL(job.url).host, (err) => body.destroy(err));
  try {
    for await (const chunk of body) {
      guard.received(chunk.length);
      if (writer.end + chunk.length > job.total) throw new PixelRtsError("E_BAD_RESPONSE", `server sent more than the declared ${job.total} bytes`, { total: job.total, retryable: false });
      await hasher.update(chunk);
      await writer.add(chunk);
    }
    await writer.finish();
    if (writer.written !== job.total) throw new PixelRtsError("E_TRUNCATED", `body ended at byte ${writer.written} of ${job.total}`, { written: writer.written, total: job.total });
  } catch (e) {
    body.destroy();
    const overflow = e instanceof PixelRtsError && e.code === "E_BAD_RESPONSE";
    const diskError = await writer.salvage({ writeBatch: !overflow });
    if (diskError) throw diskError;
    throw isErrno(e, "ENOSPC") || isErrno(e, "EIO") || isErrno(e, "EDQUOT") ? ioError(e, `cannot write ${job.path}`) : e;
  } finally {
    guard.stop();
    await writer.close();
  }
}

async function ensureSpace(dir: string, need: number, url: string): Promise<void> {
  const fs = await statfs(dir).catch(() => undefined);
  if (!fs) return;
  const free = fs.bavail * fs.bsize;
  if (free < need) throw new PixelRtsError("E_DISK_FULL", `${url}: needs ${need} bytes but only ${free} are free in ${dir}`, { need, free, retryable: false });
}

async function checkPngSignature(path: string, url: string): Promise<void> {
  const fh = await open(path, "r");
  try {
    const buf = Buffer.alloc(8);
    await fh.read(buf, 0, 8, 0);
    if (!buf.equals(PNG_SIGNATURE)) throw new PixelRtsError("E_NOT_PNG", `${url}: verified bytes are not a PNG file; nothing cached`, { url, retryable: false });
  } finally {
    await fh.close();
  }
}
