/**
 * Unpacked boot files: `<cache>/v1/unpacked/<key>/`, the key a SHA-256 of the container's data
 * hash and of the metadata that decides what is extracted (type, offsets, segments, disk_size),
 * holds kernel, initrd and disk as hash-checked, read-only files plus a manifest written last.
 * A second boot of the same container reads the manifest and does not decode again; the boot
 * settings are always read (and checked) from the container itself.
 */
import { chmod, mkdir, readFile, rename, rm, stat, utimes } from "node:fs/promises";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { extractSegment } from "../../shared/container/bundle.js";
import { fail } from "../../shared/errors.js";
import { decodeFile, readHead, writeFileAtomic } from "../codec/files.js";
import { NODE_CODEC } from "../codec/node-platform.js";
import { CacheLayout, hashFile } from "../cache/index.js";
import type { BootFiles } from "./qemu-argv.js";
import { checkDiskImage, diskFormat, planBoot } from "./plan.js";
import { containerBootSettings, type ContainerBootSettings } from "./settings.js";

interface Manifest {
  version: 1;
  data_hash: string;
  files: { role: "kernel" | "initrd" | "disk"; file: string; size: number; sha256: string; format?: "qcow2" | "raw" }[];
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

/** The manifest, if every file it lists is still there with its recorded SHA-256. */
async function readManifest(dir: string): Promise<Manifest | undefined> {
  try {
    const m = JSON.parse(await readFile(join(dir, "manifest.json"), "utf8")) as Manifest;
    for (const f of m.files) {
      const path = join(dir, f.file);
      if ((await stat(path)).size !== f.size || (await hashFile(path)).hex !== f.sha256) return undefined;
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
export async function unpackForBoot(pngPath: string, cacheRoot: string): Promise<Unpacked> {
  const head = await readHead(pngPath);
  const boot = containerBootSettings(head.metadata);
  const dataHash = head.metadata.data_hash?.toLowerCase();
  if (!dataHash) fail("E_NOT_BOOTABLE", "the container has no data_hash, so its payload cannot be verified: refusing to boot it");
  // Keyed by the payload and the metadata that decides what is extracted: two containers with
  // the same payload but other segment tables must not share unpacked files.
  const m = head.metadata;
  const plan = JSON.stringify([m.type ?? null, m.offsets ?? null, m.segments ?? null, m.disk_size ?? null]);
  const dir = unpackedDir(cacheRoot, await NODE_CODEC.sha256(new TextEncoder().encode(`${dataHash}\n${plan}`)));
  const existing = await readManifest(dir);
  // The boot settings always come from this container's metadata, never from an earlier unpack.
  if (existing) {
    const now = new Date();
    await utimes(join(dir, "manifest.json"), now, now).catch(() => {}); // last use, for `cache gc`
    return toUnpacked(dir, existing, true, boot);
  }
  // Missing, incomplete or damaged: unpack again from the (verified) container.
  await rm(dir, { recursive: true, force: true });

  const decoded = await decodeFile(pngPath, { sidecar: false });
  const bootPlan = planBoot(decoded.metadata, decoded.payload.length);
  const staging = `${dir}.${randomBytes(4).toString("hex")}.tmp`;
  await mkdir(staging, { recursive: true });
  try {
    const files: Manifest["files"] = [];
    for (const role of ["kernel", "initrd", "disk"] as const) {
      const ref = bootPlan[role];
      if (!ref) continue;
      const bytes = await extractSegment(decoded.metadata, decoded.payload, ref, NODE_CODEC.sha256);
      if (role === "disk") checkDiskImage(bytes);
      await writeFileAtomic(join(staging, role), bytes);
      await chmod(join(staging, role), 0o444);
      files.push({ role, file: role, size: bytes.length, sha256: await NODE_CODEC.sha256(bytes), ...(role === "disk" ? { format: diskFormat(bytes) } : {}) });
    }
    const manifest: Manifest = { version: 1, data_hash: dataHash, files, warnings: bootPlan.warnings };
    await writeFileAtomic(join(staging, "manifest.json"), new TextEncoder().encode(JSON.stringify(manifest)));
    await mkdir(new CacheLayout(cacheRoot).unpackedDir, { recursive: true });
    try {
      await rename(staging, dir);
    } catch (e) {
      // Another process unpacked the same payload first: theirs is as good as ours.
      if (!["ENOTEMPTY", "EEXIST"].includes((e as NodeJS.ErrnoException).code ?? "")) throw e;
      await rm(staging, { recursive: true, force: true });
    }
    const final = (await readManifest(dir)) ?? fail("E_CACHE_CORRUPT", `unpacked files in ${dir} are incomplete`);
    return toUnpacked(dir, final, false, boot);
  } catch (e) {
    await rm(staging, { recursive: true, force: true });
    throw e;
  }
}
