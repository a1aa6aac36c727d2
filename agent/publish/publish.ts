/**
 * Publishing a container to a PixelRTS Edge Worker: checked locally first (a damaged file is
 * never uploaded), sent with its SHA-256 so the server (and R2) verify what arrived, in one PUT
 * or, above the single-request limit, as a multipart upload; then a thumbnail.
 */
import { createReadStream } from "node:fs";
import { basename } from "node:path";
import type { Dispatcher } from "undici";
import { undici } from "../http/undici.js";
import type { CatalogEntry } from "../../shared/catalog.js";
import { fail, PixelRtsError } from "../../shared/errors.js";
import { verifyContainerFile } from "../codec/decode-file.js";
import { readHead } from "../codec/files.js";
import { partBody, uploadMultipart } from "./multipart.js";
import type { DsseEnvelope } from "../../shared/trust/dsse.js";
import { readText } from "../http/body.js";
import { USER_AGENT } from "../http/client.js";
import { describeFile, type FileSubject } from "../trust/sign.js";
import { statusError, withRetry, type RetryEvent, type RetryPolicy } from "../http/retry.js";
import { makeThumbnail } from "./thumbnail.js";

/** Bodies up to this size go in one PUT (Workers Free/Pro accept 100 MB requests). */
export const SINGLE_PUT_MAX = 95_000_000;
/** Multipart part size: R2 wants ≥ 5 MiB for every part but the last. */
export const PART_SIZE = 16 * 1024 * 1024;
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
/** The Worker answers with a catalog entry or an error: anything longer is not a PixelRTS server. */
const MAX_RESPONSE_BYTES = 1024 * 1024;

export interface PublishOptions {
  serverUrl: string;
  token: string;
  name?: string;
  thumbnail?: boolean;
  distro?: string;
  arch?: string;
  kernelVersion?: string;
  singlePutMax?: number;
  partSize?: number;
  retry: RetryPolicy;
  /** Signs what is published (the file's digest, size and the published name): the envelope goes with the upload. */
  sign?: (subject: FileSubject) => Promise<DsseEnvelope>;
  onRetry?: (ev: RetryEvent) => void;
  onStep?: (step: string) => void;
  /** Bytes of the container sent so far (multipart: all parts together; a retried part counts again from 0). */
  onProgress?: (sent: number, total: number) => void;
  /** Multipart parts sent at once (default 4). */
  partConcurrency?: number;
  /** Where an interrupted multipart upload is remembered for resuming (the CLI: the cache's uploads dir; default: the OS temp dir). */
  resumeDir?: string;
  signal?: AbortSignal;
}

export interface PublishResult {
  name: string;
  sha256: string;
  size: number;
  entry: CatalogEntry & { deduplicated?: boolean };
  catalogUrl: string;
  thumbnail: boolean;
  multipart: boolean;
  /** The envelope that went with the upload, when signed. */
  signature?: DsseEnvelope;
}

/** The catalog name: --name, else the file name without .rts.png, made URL-safe. */
export function publishName(file: string, explicit?: string): string {
  const name = explicit ?? basename(file).replace(/\.rts\.png$/i, "").replace(/\.png$/i, "").replace(/[^A-Za-z0-9._-]+/g, "-").replace(/^[^A-Za-z0-9]+/, "");
  if (!NAME.test(name) || name.includes("..")) fail("E_BAD_NAME", `catalog name ${JSON.stringify(name)} is not allowed: 1–128 of A-Z a-z 0-9 . _ -, starting with a letter or digit (use --name)`);
  return name;
}

export interface Call {
  method: "GET" | "PUT" | "POST" | "DELETE";
  url: string;
  headers: Record<string, string>;
  body?: () => NodeJS.ReadableStream | Buffer | string;
}

export async function send<T>(http: Dispatcher, opts: PublishOptions, call: Call): Promise<T> {
  return withRetry(async () => {
    const res = await undici().request(call.url, {
      dispatcher: http,
      method: call.method,
      headers: { "user-agent": USER_AGENT, authorization: `Bearer ${opts.token}`, ...call.headers },
      ...(call.body ? { body: call.body() as Buffer } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    const text = await readText(res.body, MAX_RESPONSE_BYTES, `${call.method} ${call.url}`);
    if (res.statusCode >= 200 && res.statusCode < 300) {
      try {
        return (text ? JSON.parse(text) : {}) as T;
      } catch {
        throw new PixelRtsError("E_BAD_RESPONSE", `${call.method} ${call.url} answered ${res.statusCode} with something that is not JSON: is this a PixelRTS Edge server?`, { status: res.statusCode });
      }
    }
    let server: { code?: string; message?: string } | undefined;
    try {
      server = (JSON.parse(text) as { error?: { code?: string; message?: string } }).error;
    } catch {
      // not our JSON error: report the status
    }
    if (res.statusCode === 401 || res.statusCode === 403) {
      throw new PixelRtsError("E_AUTH", `${call.method} ${call.url}: the server refused the token (${res.statusCode}${server?.message ? `: ${server.message}` : ""}); set PIXELRTS_TOKEN to the Worker's PUBLISH_TOKEN`, { status: res.statusCode });
    }
    if (server?.code && res.statusCode < 500) {
      throw new PixelRtsError("E_PUBLISH_REJECTED", `the server rejected the upload: ${server.code}: ${server.message ?? ""}`.trim(), { status: res.statusCode, serverCode: server.code });
    }
    throw statusError(call.method, call.url, res.statusCode, server?.message ?? "", res.headers["retry-after"] as string | undefined);
  }, opts.retry, { url: call.url, ...(opts.signal ? { signal: opts.signal } : {}), ...(opts.onRetry ? { onRetry: opts.onRetry } : {}) });
}

function catalogHeaders(opts: PublishOptions): Record<string, string> {
  const h: Record<string, string> = {};
  if (opts.distro) h["x-pixelrts-distro"] = opts.distro;
  if (opts.arch) h["x-pixelrts-arch"] = opts.arch;
  if (opts.kernelVersion) h["x-pixelrts-kernel-version"] = opts.kernelVersion;
  return h;
}

export async function publishContainer(http: Dispatcher, file: string, opts: PublishOptions): Promise<PublishResult> {
  const step = opts.onStep ?? (() => {});
  const name = publishName(file, opts.name);
  step(`checking ${file}`);
  const decoded = await verifyContainerFile(file);
  if (decoded.integrity !== "verified") fail("E_NOT_VERIFIABLE", `${file} has no data_hash, so nobody could verify its payload: repack it with pixelrts pack`);
  // Check the token before streaming megabytes: a refusal mid-body reaches us only as a reset.
  await send(http, opts, { method: "GET", url: `${opts.serverUrl.replace(/\/+$/, "")}/api/v1/publish/auth`, headers: {} });
  const subject = await describeFile(file, name);
  const { size, sha256 } = subject;
  const signature = opts.sign ? await opts.sign(subject) : undefined;
  const base = `${opts.serverUrl.replace(/\/+$/, "")}/api/v1/containers/${encodeURIComponent(name)}`;
  const common: Record<string, string> = { "x-pixelrts-sha256": sha256, ...catalogHeaders(opts) };
  // The envelope travels with the upload, so a server that requires signatures (PUBLISH_KEYS) checks it before storing a byte.
  if (signature) common["x-pixelrts-signature"] = Buffer.from(JSON.stringify(signature)).toString("base64");
  let entry: PublishResult["entry"];
  const multipart = size > (opts.singlePutMax ?? SINGLE_PUT_MAX);
  if (!multipart) {
    step(`uploading ${size} bytes`);
    entry = await send(http, opts, {
      method: "PUT",
      url: base,
      headers: { ...common, "content-type": "image/png", "content-length": String(size) },
      body: () => {
        let sent = 0; // a retry starts again from 0
        return opts.onProgress ? partBody(file, 0, size, (n) => opts.onProgress!((sent += n), size)) : createReadStream(file);
      },
    });
  } else {
    const head = await readHead(file);
    entry = await uploadMultipart(http, file, size, head.headLength, base, common, opts, step);
  }
  let thumbnail = false;
  if (opts.thumbnail !== false) {
    step("uploading thumbnail");
    const png = Buffer.from(await makeThumbnail(file));
    await send(http, opts, { method: "PUT", url: `${base}/thumbnail`, headers: { "content-type": "image/png", "content-length": String(png.length) }, body: () => png });
    thumbnail = true;
  }
  return { name, sha256, size, entry, catalogUrl: `${opts.serverUrl.replace(/\/+$/, "")}/api/v1/catalog/${encodeURIComponent(name)}`, thumbnail, multipart, ...(signature ? { signature } : {}) };
}
