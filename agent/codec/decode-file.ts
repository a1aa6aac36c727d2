/**
 * Decoding to files in constant memory (large images, design.md): the shared streaming decoder
 * hands over runs of the payload as Hilbert squares complete, and each run is written with a
 * positional write into the file its bytes belong to — one payload file, or the segment files of
 * a boot bundle plus a sparse scratch file for bytes outside any segment. Hashing comes after,
 * in payload order, from the page cache, in worker threads (data_hash and every segment at
 * once): squares arrive in row order, so hashing while writing would have to hold up to three
 * quarters of the payload. Nothing is renamed into place before every digest has matched.
 *
 * Memory: two 256-row strips (64 MiB at G = 32768) plus the writes in flight, for any payload
 * size. Compressed and code-mode payloads are decoded in memory (`decodeFile`), bounded by their
 * own size checks.
 */
import { createReadStream } from "node:fs";
import { mkdir, open, rename, rm, type FileHandle } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { randomBytes } from "node:crypto";
import type { ByteSource } from "../../shared/bytes.js";
import { judgeIntegrity, type Integrity } from "../../shared/container/decode.js";
import { decodeToSink, needsInMemoryDecode, type StreamDecoded, type StreamDecodeOptions } from "../../shared/container/stream-decode.js";
import type { SignatureStatus } from "../../shared/container/signature.js";
import type { PixelRtsMetadata } from "../../shared/container/types.js";
import { fail } from "../../shared/errors.js";
import { decodeFile, findSidecar, readHead, trustedKeysFromEnv } from "./files.js";
import { fileError, writeFileAtomic } from "../fsutil/index.js";
import { hashParts, type HashPart } from "./hash-parts.js";
import { maxGridFromEnv } from "./limits.js";
import { NODE_CODEC } from "./node-platform.js";

/** A run of the payload that goes to a file of its own (a boot segment). */
export interface FileRegion {
  name: string;
  start: number;
  size: number;
  /** Expected digests (segment sha256 and hashes[name]); all must match. */
  expect: string[];
}

export interface DecodeToFilesOptions extends Omit<StreamDecodeOptions, "sidecarJson"> {
  /** false: --no-verify (digests computed and reported, a mismatch is not an error). */
  verify?: boolean;
  /** Sidecar rule as for decodeFile (local paths only). */
  sidecar?: string | false;
  trustedKeys?: readonly string[];
}

export interface DecodedToFiles extends Omit<StreamDecoded, "size"> {
  size: number;
  sha256: string;
  integrity: Integrity;
  signature: SignatureStatus;
  /** Per region: its file and digest. */
  regions: { name: string; path: string; size: number; sha256: string }[];
  /** True when the payload was decoded in memory (compressed or code-mode containers). */
  inMemory: boolean;
}

const tmpName = (path: string) => join(dirname(path), `.${path.split("/").pop()}.${randomBytes(6).toString("hex")}.tmp`);

async function writeAt(fh: FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  let off = 0;
  while (off < bytes.length) {
    const { bytesWritten } = await fh.write(bytes, off, bytes.length - off, position + off);
    off += bytesWritten;
  }
}

interface Target {
  path: string;
  start: number;
  end: number;
  fh?: FileHandle;
}

/**
 * Writes positioned runs into region files, the rest into a sparse scratch file (payload
 * offsets, holes where regions are). Regions are chosen once the metadata is known.
 */
class RegionSink {
  targets: Target[] = [];
  regions: FileRegion[] = [];
  rest: Target | undefined;
  size = 0;
  constructor(private readonly choose: (m: PixelRtsMetadata | undefined, size: number) => { regions: FileRegion[]; paths: string[] }, private readonly restPath: string) {}

  async begin({ metadata, size }: { metadata: PixelRtsMetadata | undefined; size: number }): Promise<void> {
    this.size = size;
    const { regions, paths } = this.choose(metadata, size);
    this.regions = regions;
    for (let i = 0; i < regions.length; i++) {
      const r = regions[i]!;
      this.targets.push({ path: paths[i]!, start: r.start, end: r.start + r.size, fh: await open(paths[i]!, "wx") });
    }
    this.targets.sort((a, b) => a.start - b.start);
    this.regions = [...regions].sort((a, b) => a.start - b.start);
    if (this.coveredBytes() < size) {
      this.rest = { path: this.restPath, start: 0, end: size, fh: await open(this.restPath, "wx") };
      await this.rest.fh!.truncate(size);
    }
  }

  private coveredBytes(): number {
    return this.targets.reduce((n, t) => n + (t.end - t.start), 0);
  }

  async write(offset: number, bytes: Uint8Array): Promise<void> {
    const end = offset + bytes.length;
    const jobs: Promise<void>[] = [];
    let pos = offset;
    for (const t of this.targets) {
      if (t.end <= pos || t.start >= end) continue;
      if (pos < t.start) {
        jobs.push(writeAt(this.rest!.fh!, bytes.subarray(pos - offset, t.start - offset), pos));
        pos = t.start;
      }
      const stop = Math.min(end, t.end);
      jobs.push(writeAt(t.fh!, bytes.subarray(pos - offset, stop - offset), pos - t.start));
      pos = stop;
    }
    if (pos < end) jobs.push(writeAt(this.rest!.fh!, bytes.subarray(pos - offset), pos));
    await Promise.all(jobs);
  }

  /** The payload in order, as parts of the files written. */
  payloadParts(size: number): HashPart[] {
    const parts: HashPart[] = [];
    let pos = 0;
    for (const t of this.targets) {
      if (t.start > pos) parts.push({ path: this.rest!.path, start: pos, length: t.start - pos });
      parts.push({ path: t.path, start: 0, length: t.end - t.start });
      pos = t.end;
    }
    if (pos < size) parts.push({ path: this.rest!.path, start: pos, length: size - pos });
    return parts;
  }

  /** Flushes every file to disk (run beside the hashing: that reads the page cache, this writes it out). */
  async sync(): Promise<void> {
    await Promise.all([...this.targets, ...(this.rest ? [this.rest] : [])].map((t) => t.fh?.sync()));
  }

  async close(): Promise<void> {
    for (const t of [...this.targets, ...(this.rest ? [this.rest] : [])]) {
      await t.fh?.close();
      t.fh = undefined;
    }
  }

  async abort(): Promise<void> {
    for (const t of [...this.targets, ...(this.rest ? [this.rest] : [])]) {
      await t.fh?.close().catch(() => {});
      await rm(t.path, { force: true });
    }
  }
}

function sourceOf(input: string | ByteSource): ByteSource {
  return typeof input === "string" ? createReadStream(input, { highWaterMark: 1 << 20 }) : input;
}

/**
 * Decodes `input` (a path or a byte stream) into files: each region `choose` picks goes to its
 * path (created exclusively), the payload's other bytes to a scratch file removed at the end
 * (or, with `keepRest`, renamed to that path). Digests: data_hash over the whole payload and each
 * region's own; on any mismatch (or error) every file written is removed.
 */
export async function decodeToFiles(
  input: string | ByteSource,
  choose: (m: PixelRtsMetadata | undefined, size: number) => { regions: FileRegion[]; paths: string[] },
  scratchDir: string,
  opts: DecodeToFilesOptions & { keepRest?: string } = {},
): Promise<DecodedToFiles> {
  const sidecar = typeof input === "string" ? await findSidecar(input, opts.sidecar) : undefined;
  const trustedKeys = opts.trustedKeys ?? trustedKeysFromEnv();
  await mkdir(scratchDir, { recursive: true });
  const restPath = opts.keepRest ? tmpName(opts.keepRest) : join(scratchDir, `.payload.${randomBytes(6).toString("hex")}.tmp`);
  const sink = new RegionSink(choose, restPath);
  let decoded: StreamDecoded;
  try {
    decoded = await decodeToSink(sourceOf(input), sink, { ...NODE_CODEC, maxGrid: maxGridFromEnv(), ...opts, sidecarJson: sidecar?.json });
    // Metadata after the image data: the whole grid was written; keep the stored bytes.
    if (sink.rest && decoded.size < sink.size) await sink.rest.fh!.truncate(decoded.size);
  } catch (e) {
    await sink.abort();
    throw e;
  }
  try {
    const regions = sink.targets.map((t, i) => ({ t, i }));
    const lists = [sink.payloadParts(decoded.size), ...regions.map(({ t }) => [{ path: t.path, start: 0, length: t.end - t.start }])];
    const [[sha256, ...regionHashes]] = await Promise.all([regions.length === 0 || (regions.length === 1 && !sink.rest) ? oneHash(lists) : hashParts(lists), sink.sync()]);
    await sink.close();
    const verdict = await judgeIntegrity(sha256!, decoded.metadata, { verify: opts.verify, trustedKeys });
    const chosen = sink.regions;
    const out: DecodedToFiles["regions"] = [];
    sink.targets.forEach((t, i) => {
      const r = chosen[i]!;
      const actual = regionHashes[i]!;
      if (opts.verify !== false) {
        for (const e of r.expect) {
          if (e !== actual) fail("E_SEGMENT_HASH_MISMATCH", `segment ${r.name}: hash mismatch: expected ${e}, got ${actual}`, { segment: r.name, expected: e, actual });
        }
      }
      out.push({ name: r.name, path: t.path, size: t.end - t.start, sha256: actual });
    });
    if (opts.keepRest && !sink.rest) await writeFileAtomic(opts.keepRest, new Uint8Array(0)); // an empty payload
    if (sink.rest) {
      if (opts.keepRest) await rename(sink.rest.path, opts.keepRest);
      else await rm(sink.rest.path, { force: true });
    }
    return { ...decoded, ...verdict, regions: out, inMemory: false };
  } catch (e) {
    await sink.abort();
    throw e;
  }
}

/** A single region covering the payload: its digest is data_hash's. */
async function oneHash(lists: HashPart[][]): Promise<string[]> {
  const [h] = await hashParts([lists[0]!]);
  return lists.map(() => h!);
}

/**
 * The whole payload of `input` to `out`, atomically (a temp file renamed once verified), in
 * constant memory; compressed and code-mode containers are decoded in memory.
 */
export async function extractPayloadToFile(input: string, out: string, opts: DecodeToFilesOptions = {}): Promise<DecodedToFiles> {
  // A missing or unreadable input is reported as such (E_NOT_FOUND / E_USAGE), not as a write error.
  const head = await readHead(input).catch((e) => {
    if ((e as { code?: string }).code === "E_NOT_FOUND" || (e as { code?: string }).code === "E_USAGE") throw e;
    return undefined; // the streaming decoder reports anything else with its own code
  });
  if (head && needsInMemoryDecode(head.metadata)) return inMemory(input, out, opts);
  try {
    return await decodeToFiles(input, () => ({ regions: [], paths: [] }), dirname(out), { ...opts, keepRest: out });
  } catch (e) {
    if ((e as { code?: string }).code === "E_UNSUPPORTED") return inMemory(input, out, opts);
    throw fileError(e, `cannot write ${out}`);
  }
}

async function inMemory(input: string, out: string, opts: DecodeToFilesOptions): Promise<DecodedToFiles> {
  const d = await decodeFile(input, { verify: opts.verify, sidecar: opts.sidecar, maxGrid: opts.maxGrid ?? maxGridFromEnv() });
  await writeFileAtomic(out, d.payload);
  return {
    ihdr: d.ihdr,
    metadata: d.metadata,
    doc: d.doc,
    metadataJson: d.metadataJson,
    metadataSource: d.metadataSource === "none" ? "embedded" : d.metadataSource,
    size: d.payload.length,
    sha256: d.sha256,
    integrity: d.integrity,
    signature: d.signature,
    regions: [],
    warnings: d.warnings,
    inMemory: true,
  };
}

/**
 * Decodes `input` fully and checks data_hash (and a signature) without keeping the payload: it
 * goes through a scratch file in `scratchDir` (default: the OS temp dir), removed at the end.
 * For publish: a damaged container is never uploaded, whatever its size.
 */
export async function verifyContainerFile(input: string, opts: DecodeToFilesOptions & { scratchDir?: string } = {}): Promise<DecodedToFiles> {
  const head = await readHead(input);
  if (needsInMemoryDecode(head.metadata)) {
    const d = await decodeFile(input, { sidecar: false, maxGrid: opts.maxGrid ?? maxGridFromEnv() });
    return { ...d, metadataSource: d.metadataSource === "none" ? "embedded" : d.metadataSource, size: d.payload.length, regions: [], inMemory: true };
  }
  return decodeToFiles(input, () => ({ regions: [], paths: [] }), opts.scratchDir ?? tmpdir(), { sidecar: false, ...opts }).catch(async (e) => {
    if ((e as { code?: string }).code !== "E_UNSUPPORTED") throw e;
    // Compressed or code-mode, found only after the image data: decoded in memory.
    const d = await decodeFile(input, { sidecar: false, maxGrid: opts.maxGrid ?? maxGridFromEnv() });
    return { ...d, metadataSource: d.metadataSource === "none" ? "embedded" : d.metadataSource, size: d.payload.length, regions: [], inMemory: true } as DecodedToFiles;
  });
}
