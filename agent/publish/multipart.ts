/**
 * Multipart publishing of large containers (up to 4 GiB): parts are streamed from the file (never
 * buffered), several at once, each retried on its own; progress counts the bytes sent. An
 * interrupted upload is remembered (upload id, part size, parts stored with their ETags) in a
 * small JSON file keyed by the file's SHA-256, the server and the name, and the next publish of
 * the same file resumes it: it asks the server which parts it holds
 * (GET …/uploads/{id}/parts; a server without that route answers 404/405 and the remembered list
 * is used — our Worker is such a server: R2's Workers binding cannot list an upload's parts), sends
 * only the missing parts and completes. A server that no longer knows the upload
 * (a 4xx on a part) gets a fresh one, once. Refusals (auth, E_PUBLISH_REJECTED) abort the upload.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import type { Dispatcher } from "undici";
import { isPixelRtsError } from "../../shared/errors.js";
import { writeFileAtomic } from "../fsutil/index.js";
import { PART_SIZE, send, type PublishOptions, type PublishResult } from "./publish.js";

/** R2 wants ≥ 5 MiB for every part but the last, and at most 10,000 parts. */
const PART_MIN = 5 * 1024 * 1024;
const PARTS_MAX = 10_000;
export const PART_CONCURRENCY = 4;

interface Part {
  part_number: number;
  etag: string;
}

interface ResumeState {
  version: 1;
  sha256: string;
  size: number;
  part_size: number;
  upload_id: string;
  parts: Part[];
}

/** Part size for `size` bytes: the requested one, raised so the upload stays within 10,000 parts. */
export function partSizeFor(size: number, requested = PART_SIZE): number {
  return Math.max(PART_MIN, requested, Math.ceil(size / PARTS_MAX / PART_MIN) * PART_MIN);
}

function statePath(opts: PublishOptions, base: string, sha256: string): string {
  const key = createHash("sha256").update(`${base}\n${sha256}`).digest("hex").slice(0, 32);
  return join(opts.resumeDir ?? join(tmpdir(), "pixelrts-uploads"), `${key}.json`);
}

async function loadState(path: string, sha256: string, size: number, partSize: number): Promise<ResumeState | undefined> {
  try {
    const s = JSON.parse(await readFile(path, "utf8")) as ResumeState;
    if (s.version === 1 && s.sha256 === sha256 && s.size === size && s.part_size === partSize && typeof s.upload_id === "string" && Array.isArray(s.parts)) return s;
  } catch {
    // none, or unreadable: start afresh
  }
  return undefined;
}

/** A part's bytes as a stream, counting what is read into `onBytes`. */
export function partBody(file: string, start: number, length: number, onBytes: (n: number) => void): NodeJS.ReadableStream {
  const stream = createReadStream(file, { start, end: start + length - 1, highWaterMark: 1 << 20 });
  return Readable.from(
    (async function* () {
      for await (const chunk of stream) {
        onBytes((chunk as Buffer).length);
        yield chunk as Buffer;
      }
    })(),
  );
}

/** The parts the server holds for this upload; undefined when it has no such route (or the answer is unusable). */
async function serverParts(http: Dispatcher, opts: PublishOptions, uploadUrl: string): Promise<Part[] | undefined> {
  try {
    const r = await send<{ parts?: { part_number?: number; etag?: string }[] }>(http, { ...opts, retry: { ...opts.retry, retries: 0 } }, { method: "GET", url: `${uploadUrl}/parts`, headers: {} });
    if (!Array.isArray(r.parts)) return undefined;
    return r.parts.filter((p) => Number.isInteger(p.part_number) && typeof p.etag === "string").map((p) => ({ part_number: p.part_number!, etag: p.etag! }));
  } catch {
    return undefined;
  }
}

export async function uploadMultipart(http: Dispatcher, file: string, size: number, headLength: number, base: string, common: Record<string, string>, opts: PublishOptions, step: (s: string) => void): Promise<PublishResult["entry"]> {
  const partSize = partSizeFor(size, opts.partSize);
  const sha256 = common["x-pixelrts-sha256"]!;
  const stateFile = statePath(opts, base, sha256);
  const count = Math.ceil(size / partSize);
  let state = await loadState(stateFile, sha256, size, partSize);
  for (let fresh = 0; ; fresh++) {
    if (!state) {
      const first = await readStart(file, Math.min(size, Math.max(headLength + 64, 64 * 1024)));
      const created = await send<{ upload_id?: string } & PublishResult["entry"]>(http, opts, {
        method: "POST",
        url: `${base}/uploads`,
        headers: { ...common, "x-pixelrts-size": String(size), "content-type": "application/octet-stream", "content-length": String(first.length) },
        body: () => first,
      });
      if (!created.upload_id) return created; // the server already holds these exact bytes
      state = { version: 1, sha256, size, part_size: partSize, upload_id: created.upload_id, parts: [] };
      await saveState(stateFile, state);
    } else {
      step(`resuming upload ${state.upload_id.slice(0, 16)}…`);
    }
    const uploadUrl = `${base}/uploads/${encodeURIComponent(state.upload_id)}`;
    try {
      const onServer = state.parts.length ? await serverParts(http, opts, uploadUrl) : undefined;
      const have = new Map((onServer ?? state.parts).map((p) => [p.part_number, p]));
      state.parts = [...have.values()];
      const entry = await sendParts(http, file, size, partSize, count, uploadUrl, state, stateFile, opts, step);
      await rm(stateFile, { force: true });
      return entry;
    } catch (e) {
      const code = isPixelRtsError(e) ? e.code : "";
      // The upload is gone on the server (expired, aborted, completed): start a new one, once.
      if (fresh === 0 && state.parts.length > 0 && code === "E_PUBLISH_REJECTED" && /E_BAD_UPLOAD|E_NOT_FOUND/.test((e as Error).message)) {
        await rm(stateFile, { force: true });
        state = undefined;
        continue;
      }
      if (code === "E_AUTH" || code === "E_PUBLISH_REJECTED") {
        await rm(stateFile, { force: true });
        await send(http, { ...opts, retry: { ...opts.retry, retries: 0 } }, { method: "DELETE", url: uploadUrl, headers: {} }).catch(() => {});
      }
      // Anything else (network, 5xx, an interrupt): the upload stays on the server for a resume.
      throw e;
    }
  }
}

async function sendParts(http: Dispatcher, file: string, size: number, partSize: number, count: number, uploadUrl: string, state: ResumeState, stateFile: string, opts: PublishOptions, step: (s: string) => void): Promise<PublishResult["entry"]> {
  const have = new Set(state.parts.map((p) => p.part_number));
  const todo = Array.from({ length: count }, (_, i) => i + 1).filter((n) => !have.has(n));
  const lengthOf = (n: number) => Math.min(partSize, size - (n - 1) * partSize);
  let sentDone = [...have].reduce((t, n) => t + (n <= count ? lengthOf(n) : 0), 0);
  const inFlight = new Map<number, number>();
  const report = () => opts.onProgress?.(sentDone + [...inFlight.values()].reduce((a, b) => a + b, 0), size);
  report();
  if (todo.length < count) step(`${count - todo.length} of ${count} parts already uploaded`);
  let next = 0;
  let saving = Promise.resolve();
  const worker = async () => {
    for (let i = next++; i < todo.length; i = next++) {
      const n = todo[i]!;
      const start = (n - 1) * partSize;
      const length = lengthOf(n);
      step(`uploading part ${n}/${count}`);
      const part = await send<Part>(http, opts, {
        method: "PUT",
        url: `${uploadUrl}/parts/${n}`,
        headers: { "content-type": "application/octet-stream", "content-length": String(length) },
        body: () => {
          inFlight.set(n, 0); // a retry starts the part again
          return partBody(file, start, length, (k) => {
            inFlight.set(n, (inFlight.get(n) ?? 0) + k);
            report();
          });
        },
      });
      inFlight.delete(n);
      sentDone += length;
      report();
      state.parts.push({ part_number: part.part_number ?? n, etag: part.etag });
      // Remembered as soon as stored, so an interrupt loses at most the parts in flight.
      saving = saving.then(() => saveState(stateFile, state));
    }
  };
  await Promise.all(Array.from({ length: Math.min(opts.partConcurrency ?? PART_CONCURRENCY, Math.max(1, todo.length)) }, worker));
  await saving;
  step("completing upload");
  const parts = [...state.parts].filter((p) => p.part_number <= count).sort((a, b) => a.part_number - b.part_number);
  return send(http, opts, { method: "POST", url: `${uploadUrl}/complete`, headers: { "content-type": "application/json" }, body: () => JSON.stringify({ parts }) });
}

async function saveState(path: string, state: ResumeState): Promise<void> {
  await mkdir(join(path, ".."), { recursive: true });
  await writeFileAtomic(path, new TextEncoder().encode(JSON.stringify(state)));
}

async function readStart(file: string, n: number): Promise<Buffer> {
  const { open } = await import("node:fs/promises");
  const fh = await open(file, "r");
  try {
    const buf = Buffer.alloc(n);
    const { bytesRead } = await fh.read(buf, 0, n, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}
