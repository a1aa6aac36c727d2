/**
 * Unpacked boot files: `<cache>/v1/unpacked/<key>/`, the key a SHA-256 of the container's data
 * hash and of the metadata that decides what is extracted (type, offsets, segments, disk_size),
 * holds kernel, initrd and disk as hash-checked, read-only files plus a manifest written last.
 * The files are decoded straight from the container into a staging directory (constant memory,
 * positional writes), hashed there, and the directory is renamed into place only once data_hash
 * and every segment hash matched. The manifest records each file's stamp (size, mtime, ctime,
 * inode) when hashed: a second boot of the same container trusts an unchanged stamp instead of
 * re-hashing (`rehash` — boot --verify — reads everything again). The boot settings are always
 * read (and checked) from the container itself.
 */
import { chmod, mkdir, open, readFile, rename, rm, stat, utimes } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { ByteSource } from "../../shared/bytes.js";
import type { PixelRtsMetadata } from "../../shared/container/types.js";
import { randomBytes } from "node:crypto";
import { extractSegment } from "../../shared/container/bundle.js";
import { fail } from "../../shared/errors.js";
import { needsInMemoryDecode } from "../../shared/container/stream-decode.js";
import { decodeToFiles, type FileRegion } from "../codec/decode-file.js";
import { decodeFile, readHead } from "../codec/files.js";
import { writeFileAtomic } from "../fsutil/index.js";
import { maxGridFromEnv } from "../codec/limits.js";
import { NODE_CODEC } from "../codec/node-platform.js";
import { CacheLayout, hashFile } from "../cache/index.js";
import type { BootFiles } from "./qemu-argv.js";
import { checkDiskImage, diskFormat, planBoot, type BootPlan } from "./plan.js";
import { containerBootSettings, type ContainerBootSettings } from "./settings.js";

/** How a file looked when it was hashed: if it still looks so, it still holds those bytes. */
export interface FileStamp {
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  ino: number;
}

export interface Manifest {
  version: 1;
  data_hash: string;
  files: { role: "kernel" | "initrd" | "disk"; file: string; size: number; sha256: string; format?: "qcow2" | "raw"; stamp?: FileStamp }[];
  warnings: string[];
}

export interface Unpacked {
  files: BootFiles;
  /** The container's own boot settings, checked against the grammar. */
  boot: ContainerBootSettings;
  dataHash: string;
  /** True when the files came from an earlier unpack. */
  reused: boolean;
  warnings: string[];
}

export function unpackedDir(cacheRoot: string, key: string): string {
  return join(new CacheLayout(cacheRoot).unpackedDir, key);
}

function toUnpacked(dir: string, m: Manifest, reused: boolean, boot: ContainerBootSettings): Unpacked {
  const files: BootFiles = {};
  for (const f of m.files) {
    const path = join(dir, f.file);
    if (f.role === "disk") files.disk = { path, format: f.format ?? "raw" };
    else files[f.role] = path;
  }
  return { files, boot, dataHash: m.data_hash, reused, warnings: m.warnings };
}

export async function stampOf(path: string): Promise<FileStamp> {
  const st = await stat(path, { bigint: false });
  return { size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, ino: st.ino };
}

const sameStamp = (a: FileStamp | undefined, b: FileStamp) => !!a && a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs && a.ino === b.ino;

/**
 * The manifest, if every file it lists is still there with its recorded SHA-256. A file whose
 * stamp (size, mtime, ctime, inode) is unchanged since it was hashed is not read again, unless
 * `rehash` (boot --verify); any change to it (a write, chmod, a replacement) changes the ctime.
 */
async function readManifest(dir: string, rehash = false): Promise<Manifest | undefined> {
  try {
    const m = JSON.parse(await readFile(join(dir, "manifest.json"), "utf8")) as Manifest;
    for (const f of m.files) {
      const path = join(dir, f.file);
      const now = await stampOf(path);
      if (now.size !== f.size) return undefined;
      if (!rehash && sameStamp(f.stamp, now)) continue;
      if ((await hashFile(path)).hex !== f.sha256) return undefined;
    }
    return m;
  } catch {
    return undefined;
  }
}

/**
 * Boot files for the container at `pngPath` (a verified cache blob or a local file). Local
 * files are decoded with hash verification; nothing unverified reaches QEMU. The container's
 * boot settings and segment types are checked first: a hostile value is refused before a byte
 * is decoded (E_METADATA_INVALID).
 */
export async function unpackForBoot(pngPath: string, cacheRoot: string, opts: { rehash?: boolean } = {}): Promise<Unpacked> {
  const head = await readHead(pngPath);
  const boot = containerBootSettings(head.metadata);
  const dataHash = head.metadata.data_hash?.toLowerCase();
  if (!dataHash) fail("E_NOT_BOOTABLE", "the container has no data_hash, so its payload cannot be verified: refusing to boot it");
  // Keyed by the payload and the metadata that decides what is extracted: two containers with
  // the same payload but other segment tables must not share unpacked files.
  const m = head.metadata;
  const dir = await unpackKeyDir(cacheRoot, m);
  const existing = await readManifest(dir, opts.rehash);
  // The boot settings always come from this container's metadata, never from an earlier unpack.
  if (existing) {
    const now = new Date();
    await utimes(join(dir, "manifest.json"), now, now).catch(() => {}); // last use, for `cache gc`
    return toUnpacked(dir, existing, true, boot);
  }
  // Missing, incomplete or damaged: unpack again from the (verified) container.
  await rm(dir, { recursive: true, force: true });
  const staging = `${dir}.${randomBytes(4).toString("hex")}.tmp`;
  await mkdir(staging, { recursive: true });
  try {
    const { files, warnings } = needsInMemoryDecode(m) ? await unpackInMemory(pngPath, staging) : await unpackStreaming(pngPath, staging);
    const final = await commitStaging(staging, dir, dataHash, files, warnings);
    return toUnpacked(dir, final, false, boot);
  } catch (e) {
    await rm(staging, { recursive: true, force: true });
    throw e;
  }
}

/** Where a container's unpacked files live: keyed by its data hash and the metadata that decides what is extracted. */
export async function unpackKeyDir(cacheRoot: string, m: PixelRtsMetadata): Promise<string> {
  const plan = JSON.stringify([m.type ?? null, m.offsets ?? null, m.segments ?? null, m.disk_size ?? null]);
  return unpackedDir(cacheRoot, await NODE_CODEC.sha256(new TextEncoder().encode(`${String(m.data_hash).toLowerCase()}\n${plan}`)));
}

/**
 * Makes verified files in `staging` read-only, stamps them, writes the manifest last and renames
 * the directory to `dir` (another process that got there first wins: its files are as good).
 */
export async function commitStaging(staging: string, dir: string, dataHash: string, files: Manifest["files"], warnings: string[]): Promise<Manifest> {
  for (const f of files) {
    await chmod(join(staging, f.file), 0o444);
    f.stamp = await stampOf(join(staging, f.file));
  }
  const manifest: Manifest = { version: 1, data_hash: dataHash, files, warnings };
  await writeFileAtomic(join(staging, "manifest.json"), new TextEncoder().encode(JSON.stringify(manifest)));
  await mkdir(dirname(dir), { recursive: true });
  try {
    await rename(staging, dir);
  } catch (e) {
    if (!["ENOTEMPTY", "EEXIST"].includes((e as NodeJS.ErrnoException).code ?? "")) throw e;
    await rm(staging, { recursive: true, force: true });
  }
  // Renaming a directory keeps its files' inodes and times: the stamps stay valid.
  return (await readManifest(dir)) ?? fail("E_CACHE_CORRUPT", `unpacked files in ${dir} are incomplete`);
}

const ROLES = ["kernel", "initrd", "disk"] as const;

/**
 * The boot segments straight into their files, in constant memory (agent/codec/decode-file.ts):
 * data_hash and every segment hash verified before anything is kept.
 */
export async function unpackStreaming(pngPath: string | ByteSource, staging: string): Promise<{ files: Manifest["files"]; warnings: string[] }> {
  let bootPlan: BootPlan | undefined;
  let notBootable: unknown;
  const roles: (typeof ROLES)[number][] = [];
  const decoded = await decodeToFiles(
    pngPath,
    (meta, size) => {
      if (!meta) fail("E_UNSUPPORTED", "metadata after the image data: decoded in memory");
      const regions: FileRegion[] = [];
      const paths: string[] = [];
      try {
        bootPlan = planBoot(meta, size);
      } catch (e) {
        // Reported once the payload has verified: a damaged file is a hash mismatch first.
        notBootable = e;
        return { regions, paths };
      }
      for (const role of ROLES) {
        const ref = bootPlan[role];
        if (!ref) continue;
        roles.push(role);
        const expect = [ref.sha256, typeof meta.hashes?.[ref.name] === "string" ? meta.hashes[ref.name]!.toLowerCase() : undefined].filter((h): h is string => !!h);
        regions.push({ name: role, start: ref.start, size: ref.size, expect });
        paths.push(join(staging, role));
      }
      return { regions, paths };
    },
    staging,
    { sidecar: false },
  ).catch(async (e) => {
    if ((e as { code?: string }).code === "E_UNSUPPORTED") return undefined;
    throw e;
  });
  if (notBootable) throw notBootable;
  if (!decoded) {
    if (typeof pngPath !== "string") fail("E_UNSUPPORTED", "this container is decoded in memory, from the file");
    return unpackInMemory(pngPath, staging);
  }
  const files: Manifest["files"] = [];
  for (const r of decoded.regions) {
    const role = r.name as (typeof ROLES)[number];
    let format: "qcow2" | "raw" | undefined;
    if (role === "disk") {
      const head = await readStart(r.path, 4096);
      checkDiskImage(head);
      format = diskFormat(head);
    }
    files.push({ role, file: role, size: r.size, sha256: r.sha256, ...(format ? { format } : {}) });
  }
  return { files, warnings: bootPlan?.warnings ?? [] };
}

async function readStart(path: string, n: number): Promise<Uint8Array> {
  const fh = await open(path, "r");
  try {
    const buf = new Uint8Array(n);
    const { bytesRead } = await fh.read(buf, 0, n, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/** Compressed and code-mode containers (and metadata after the image data): the payload in memory, bounded by its checks. */
async function unpackInMemory(pngPath: string, staging: string): Promise<{ files: Manifest["files"]; warnings: string[] }> {
  const decoded = await decodeFile(pngPath, { sidecar: false, maxGrid: maxGridFromEnv() });
  const bootPlan = planBoot(decoded.metadata, decoded.payload.length);
  const files: Manifest["files"] = [];
  for (const role of ROLES) {
    const ref = bootPlan[role];
    if (!ref) continue;
    const bytes = await extractSegment(decoded.metadata, decoded.payload, ref, NODE_CODEC.sha256);
    if (role === "disk") checkDiskImage(bytes);
    await writeFileAtomic(join(staging, role), bytes);
    files.push({ role, file: role, size: bytes.length, sha256: await NODE_CODEC.sha256(bytes), ...(role === "disk" ? { format: diskFormat(bytes) } : {}) });
  }
  return { files, warnings: bootPlan.warnings };
}
