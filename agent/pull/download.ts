import { createHash } from "node:crypto";
import { open, readFile, rm, stat, statfs, type FileHandle } from "node:fs/promises";
import { request, type Dispatcher } from "undici";
import { PixelRtsError } from "../../shared/errors.js";
import type { ContentCache } from "../cache/cache.js";
import { readFileBlocks } from "../cache/hash-file.js";
import { retryPolicyFrom, type Settings } from "../config/settings.js";
import { ioError, isErrno, writeFileAtomic } from "../fsutil/index.js";
import { USER_AGENT } from "../http/client.js";
import { header } from "../http/json.js";
import { statusError, withRetry, type AttemptContext } from "../http/retry.js";
import type { PullEventSink } from "../progress/events.js";
import { digestFromUrl, parseHexDigest, parseReprDigest, reconcileDigests } from "./digest.js";
import { createHasher, resolveHashMode } from "./hasher.js";

export interface DownloadTarget {
  url: string;
  /** What the user asked for; shown in events. */
  ref: string;
  /** The catalog's SHA-256 of the file, when known. */
  expectedSha256?: string;
  /** The catalog's size, when known (> 0). */
  expectedSize?: number;
  /** Revalidate a cached copy: sent as If-None-Match when nothing partial is on disk. */
  ifNoneMatch?: string;
}

export interface DownloadDeps {
  http: Dispatcher;
  cache: ContentCache;
  settings: Settings;
  emit: PullEventSink;
  signal?: AbortSignal;
  /** Test seam: called before each write to the partial file (e.g. to inject ENOSPC). */
  beforeWrite?: (position: number, length: number) => void | Promise<void>;
}

export type DownloadResult =
  | { kind: "downloaded"; path: string; sha256: string; size: number; etag?: string; lastModified?: string }
  /** The response named a digest already in the cache: the body was not read. */
  | { kind: "cached"; sha256: string; etag?: string; lastModified?: string }
  | { kind: "not-modified"; etag?: string; lastModified?: string };

/** Validators kept beside a partial download (`<key>.part.json`). */
interface PartialMeta {
  url: string;
  etag: string;
  lastModified?: string;
  size: number;
  sha256: string;
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const WRITE_BATCH = 1 << 20;

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

class ResumeRefused extends Error {}

/**
 * Downloads `target.url` into the cache's partial area, verified, with retries and resume.
 * On success the returned path holds exactly the bytes whose SHA-256 is `sha256`; the caller
 * commits it. On any failure nothing verified-looking is left: a digest mismatch or a disk error
 * deletes the partial file; a network failure keeps it (with its validators) for resuming.
 */
export async function downloadVerified(target: DownloadTarget, deps: DownloadDeps): Promise<DownloadResult> {
  const key = downloadKey(target);
  const paths = deps.cache.layout.partial(key);
  const policy = retryPolicyFrom(deps.settings);
  const dropPartial = () => Promise.all([rm(paths.data, { force: true }), rm(paths.meta, { force: true })]);
  return withRetry(
    async (ctx) => {
      for (let restart = 0; ; restart++) {
        try {
          return await attemptOnce(target, deps, paths, ctx);
        } catch (e) {
          if (!(e instanceof ResumeRefused) || restart > 0) {
            if (e instanceof PixelRtsError && (e.code === "E_DIGEST_MISMATCH" || e.code === "E_DISK_FULL" || e.code === "E_IO" || e.code === "E_NOT_PNG")) await dropPartial();
            throw e;
          }
          deps.emit({ event: "note", ref: target.ref, message: `${e.message}; restarting from byte 0` });
          await dropPartial();
        }
      }
    },
    policy,
    {
      url: target.url,
      ...(deps.signal ? { signal: deps.signal } : {}),
      onRetry: (r) => deps.emit({ event: "retry", ref: target.ref, attempt: r.attempt, of: r.of, delay_ms: r.delayMs, code: r.code, reason: r.reason }),
    },
  );
}

async function readMeta(path: string): Promise<PartialMeta | undefined> {
  try {
    const m = JSON.parse(await readFile(path, "utf8")) as PartialMeta;
    return typeof m.url === "string" && typeof m.size === "number" && typeof m.sha256 === "string" ? m : undefined;
  } catch {
    return undefined;
  }
}

async function attemptOnce(target: DownloadTarget, deps: DownloadDeps, paths: { data: string; meta: string }, ctx: AttemptContext): Promise<DownloadResult> {
  const { url, ref } = target;
  const meta = await readMeta(paths.meta);
  const onDisk = await stat(paths.data).catch(() => undefined);
  let resumeFrom = 0;
  if (meta && onDisk && meta.url === url && isStrongEtag(meta.etag) && onDisk.size > 0 && onDisk.size < meta.size) {
    resumeFrom = onDisk.size;
  } else if (meta || onDisk) {
    await Promise.all([rm(paths.data, { force: true }), rm(paths.meta, { force: true })]);
  }

  const headers: Record<string, string> = {
    "user-agent": USER_AGENT,
    accept: "image/png, application/octet-stream;q=0.9",
    "accept-encoding": "identity", // byte ranges and digests are about the stored bytes
  };
  if (resumeFrom > 0) {
    headers.range = `bytes=${resumeFrom}-`;
    headers["if-range"] = meta!.etag;
  } else if (target.ifNoneMatch) {
    headers["if-none-match"] = target.ifNoneMatch;
  }

  const res = await request(url, { dispatcher: deps.http, method: "GET", headers, ...(deps.signal ? { signal: deps.signal } : {}) });
  // Destroying an unread body emits an AbortError; errors that matter surface through iteration.
  res.body.on("error", () => {});
  const h = (n: string) => header(res.headers, n);
  const etag = h("etag");
  const lastModified = h("last-modified");
  const validators = { ...(etag ? { etag } : {}), ...(lastModified ? { lastModified } : {}) };
  let bodyTaken = false;
  try {
    if (res.statusCode === 304 && target.ifNoneMatch && resumeFrom === 0) return { kind: "not-modified", ...validators };
    if (res.statusCode === 416 && resumeFrom > 0) throw new ResumeRefused(`server refused the range (416) for the partial download`);
    if (res.statusCode !== 200 && res.statusCode !== 206) throw statusError("GET", url, res.statusCode, "", h("retry-after"));

    const type = h("content-type");
    if (isWrongType(type)) {
      throw new PixelRtsError("E_BAD_CONTENT_TYPE", `${url} answered ${res.statusCode} with ${type}, not a container; nothing saved`, { url, contentType: type, retryable: false });
    }
    const encoding = h("content-encoding");
    if (encoding && encoding.toLowerCase() !== "identity") {
      throw new PixelRtsError("E_BAD_RESPONSE", `${url} sent Content-Encoding ${encoding} although identity was asked for`, { url });
    }

    let total: number;
    let start = 0;
    if (res.statusCode === 206) {
      const cr = parseContentRange(h("content-range"));
      if (resumeFrom === 0) throw new PixelRtsError("E_BAD_RESPONSE", `${url} sent 206 to a request without Range`, { url });
      if (!cr || cr.start !== resumeFrom || cr.end !== cr.total - 1 || cr.total !== meta!.size) {
        throw new ResumeRefused(`server answered the resume with Content-Range '${h("content-range") ?? "(none)"}', expected bytes ${resumeFrom}-${meta!.size - 1}/${meta!.size}`);
      }
      if (etag !== meta!.etag) throw new ResumeRefused(`server answered the resume with ETag ${etag ?? "(none)"}, expected ${meta!.etag}`);
      total = cr.total;
      start = resumeFrom;
    } else {
      if (resumeFrom > 0) {
        deps.emit({ event: "note", ref, message: `server ignored the resume request (200, not 206); restarting from byte 0` });
        await rm(paths.meta, { force: true });
        resumeFrom = 0;
      }
      const cl = h("content-length");
      total = cl !== undefined && /^\d+$/.test(cl) ? Number(cl) : NaN;
      if (!Number.isSafeInteger(total) || total <= 0) {
        throw new PixelRtsError("E_BAD_RESPONSE", `${url} sent no usable Content-Length (${cl ?? "none"}); a container download needs its size`, { url });
      }
    }
    const expectedSize = target.expectedSize && target.expectedSize > 0 ? target.expectedSize : undefined;
    if (expectedSize !== undefined && total !== expectedSize) {
      throw new PixelRtsError("E_SIZE_MISMATCH", `${url} is ${total} bytes but the catalog says ${expectedSize}; refusing`, { url, total, expectedSize });
    }

    const sha256 = reconcileDigests(
      [
        { from: "the catalog", hex: target.expectedSha256 },
        { from: "the URL", hex: digestFromUrl(url) },
        { from: "Repr-Digest", hex: parseReprDigest(h("repr-digest")) },
        { from: "X-PixelRTS-SHA256", hex: parseHexDigest(h("x-pixelrts-sha256")) },
        { from: "the partial download's record", hex: resumeFrom > 0 ? meta!.sha256 : undefined },
      ],
      url,
    );

    if (resumeFrom === 0 && (await deps.cache.get(sha256))) return { kind: "cached", sha256, ...validators };

    await ensureSpace(deps.cache.layout.partialDir, total - start, url);
    deps.emit({ event: "start", ref, url, size: total, sha256, resume_from: start });
    if (isStrongEtag(etag) && resumeFrom === 0) {
      const pm: PartialMeta = { url, etag, size: total, sha256, ...(lastModified ? { lastModified } : {}) };
      await writeFileAtomic(paths.meta, JSON.stringify(pm), deps.cache.layout.tmpDir);
    }

    const hasher = createHasher(resolveHashMode(deps.settings.hashMode, total));
    try {
      if (start > 0) {
        const fed = await readFileBlocks(paths.data, (b) => hasher.update(b), start);
        if (fed !== start) throw new ResumeRefused("partial file changed while resuming");
      }
      bodyTaken = true;
      await streamToFile(res.body, paths.data, start, total, (c) => hasher.update(c), deps, ctx, ref, isStrongEtag(etag));
      const actual = await hasher.digest();
      // A resumed download that fails its hash may be our own damaged partial file, not the
      // server's fault: start over from byte 0 once before calling the bytes wrong.
      if (actual !== sha256 && start > 0) throw new ResumeRefused(`resumed bytes do not hash to ${sha256.slice(0, 12)}… (the partial file may be damaged)`);
      if (actual !== sha256) {
        throw new PixelRtsError("E_DIGEST_MISMATCH", `${url}: downloaded bytes hash to ${actual.slice(0, 12)}…, expected ${sha256.slice(0, 12)}…; nothing cached`, { url, expected: sha256, actual, retryable: false });
      }
    } finally {
      hasher.dispose();
    }
    await checkPngSignature(paths.data, url);
    deps.emit({ event: "verified", ref, sha256, size: total });
    await rm(paths.meta, { force: true });
    return { kind: "downloaded", path: paths.data, sha256, size: total, ...validators };
  } finally {
    if (!bodyTaken) res.body.destroy();
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

/**
 * Streams the body to the partial file from `start`, feeding `onChunk` (the hasher) in order.
 * Writes go out in ~1 MiB writev batches with one write in flight while the next batch fills,
 * so hashing, parsing and disk I/O overlap. Bytes counted as done are bytes the kernel accepted.
 */
async function streamToFile(
  body: AsyncIterable<Buffer> & { destroy(err?: Error): void },
  path: string,
  start: number,
  total: number,
  onChunk: (c: Buffer) => void,
  deps: DownloadDeps,
  ctx: AttemptContext,
  ref: string,
  /** Bytes written now survive a failure (strong validator kept): only then do they reset the retry budget. */
  resumable: boolean,
): Promise<void> {
  let fh: FileHandle;
  try {
    fh = await open(path, start > 0 ? "r+" : "w", 0o644);
  } catch (e) {
    body.destroy();
    throw ioError(e, `cannot open ${path}`);
  }
  let queued = start;
  let written = start;
  let batch: Buffer[] = [];
  let batchLen = 0;
  let pending: Promise<void> | undefined;
  let writeError: unknown;

  const writeBatch = async (bufs: Buffer[], at: number, len: number) => {
    await deps.beforeWrite?.(at, len);
    let { bytesWritten } = await fh.writev(bufs, at);
    if (bytesWritten < len) {
      const rest = Buffer.concat(bufs).subarray(bytesWritten);
      let off = 0;
      while (off < rest.length) {
        const r = await fh.write(rest, off, rest.length - off, at + bytesWritten + off);
        if (r.bytesWritten === 0) throw Object.assign(new Error("short write"), { code: "ENOSPC" });
        off += r.bytesWritten;
      }
    }
    written += len;
    if (resumable) ctx.progressed();
    deps.emit({ event: "progress", ref, bytes: written, total });
  };
  const flush = async () => {
    if (pending) await pending;
    if (writeError) throw writeError;
    if (batchLen === 0) return;
    const bufs = batch;
    const len = batchLen;
    const at = queued;
    queued += len;
    batch = [];
    batchLen = 0;
    pending = writeBatch(bufs, at, len).catch((e) => void (writeError = e));
  };

  let failure: unknown;
  try {
    for await (const chunk of body) {
      if (queued + batchLen + chunk.length > total) throw new PixelRtsError("E_BAD_RESPONSE", `server sent more than the declared ${total} bytes`, { total, retryable: false });
      onChunk(chunk);
      batch.push(chunk);
      batchLen += chunk.length;
      if (batchLen >= WRITE_BATCH) await flush();
    }
    await flush();
    if (pending) await pending;
    if (writeError) throw writeError;
    if (written !== total) throw new PixelRtsError("E_TRUNCATED", `body ended at byte ${written} of ${total}`, { written, total });
    await fh.sync();
  } catch (e) {
    failure = e;
    body.destroy();
    // Keep every byte received so far: they are good, and a resume starts after them.
    if (pending) await pending;
    if (!writeError && batchLen > 0 && !(e instanceof PixelRtsError && e.code === "E_BAD_RESPONSE")) {
      await writeBatch(batch, queued, batchLen).catch((we) => void (writeError = we));
    }
  } finally {
    await fh.close().catch(() => {});
  }
  if (failure !== undefined) {
    const err = writeError ?? failure;
    if (err === writeError || isErrno(err, "ENOSPC") || isErrno(err, "EIO") || isErrno(err, "EDQUOT")) throw ioError(err, `cannot write ${path}`);
    throw err;
  }
}
