/**
 * Boot bundles (spec §6.3): kernel, then optional initrd, disk and others, concatenated at
 * 4 KiB-aligned starts, described in `offsets` and `hashes`, with a `boot` object. The
 * original decoder reads such a file as a plain payload; our agent boots it.
 */
import { fail } from "../errors.js";
import type { Sha256Fn } from "../hash.js";
import { webSha256 } from "../hash.js";
import type { PyDict, PyValue } from "../pyjson.js";
import { checkBootObject } from "./boot-settings.js";
import { DENSE, ENCODER_OWNED_KEYS, fixedRows } from "./metadata.js";
import type { MetadataContext } from "./encode.js";
import type { BootConfig, PixelRtsMetadata } from "./types.js";

export const SEGMENT_ALIGN = 4096;
export const BUNDLE_TYPE = "boot-bundle";

export interface BundleSegmentInput {
  name: string;
  type: string;
  data: Uint8Array;
}

export interface BundleInput {
  segments: BundleSegmentInput[];
  boot: BootConfig;
  name?: string;
  contentVersion?: string;
  description?: string;
  extra?: PyDict;
}

export interface BundleLayout {
  payload: Uint8Array;
  segments: { name: string; type: string; start: number; size: number; sha256: string }[];
}

const SEGMENT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Lays the segments out (kernel first) and hashes each. */
export async function layoutBundle(input: BundleInput, sha256: Sha256Fn = webSha256): Promise<BundleLayout> {
  const placed = placeSegments({ ...input, segments: input.segments.map((s) => ({ name: s.name, type: s.type, size: s.data.length })) });
  const end = placed.length ? placed[placed.length - 1]!.start + placed[placed.length - 1]!.size : 0;
  const payload = new Uint8Array(end); // gaps stay zero
  const out: BundleLayout["segments"] = [];
  for (let i = 0; i < placed.length; i++) {
    const s = input.segments[i]!;
    payload.set(s.data, placed[i]!.start);
    out.push({ name: s.name, type: s.type, start: placed[i]!.start, size: s.data.length, sha256: await sha256(s.data) });
  }
  return { payload, segments: out };
}

/**
 * Checks a bundle's segments and boot settings and places the segments (kernel first, starts
 * 4 KiB-aligned, gaps zero): the layout without the bytes, for encoders that read them from files.
 */
export function placeSegments(input: Omit<BundleInput, "segments"> & { segments: { name: string; type: string; size: number }[] }): { name: string; type: string; start: number; size: number }[] {
  const segs = input.segments;
  if (!segs.length || segs[0]!.type !== "kernel") fail("E_USAGE", "a boot bundle needs a kernel, as its first segment");
  const seen = new Set<string>();
  for (const s of segs) {
    if (!SEGMENT_NAME.test(s.name) || s.name === "data") fail("E_USAGE", `segment name ${JSON.stringify(s.name)} is not allowed (letters, digits, . _ -; not "data")`);
    if (seen.has(s.name)) fail("E_USAGE", `segment name ${s.name} is used twice`);
    seen.add(s.name);
    if (s.size === 0) fail("E_USAGE", `segment ${s.name} is empty`);
  }
  // A bundle is never written with boot settings its readers would refuse (boot-settings.ts).
  checkBootObject(input.boot, (field, why) => fail("E_USAGE", `${field} ${why}`));
  let end = 0;
  return segs.map((s) => {
    const start = Math.ceil(end / SEGMENT_ALIGN) * SEGMENT_ALIGN;
    end = start + s.size;
    return { name: s.name, type: s.type, start, size: s.size };
  });
}

/** The bundle's metadata in the order spec §6.3 fixes. */
export function bundleMetadata(layout: Pick<BundleLayout, "segments">, input: Omit<BundleInput, "segments">) {
  return (ctx: MetadataContext): PyDict => {
    const offsets: PyDict = new Map();
    const hashes: PyDict = new Map();
    for (const s of layout.segments) {
      offsets.set(s.name, new Map<string, PyValue>([["start", s.start], ["size", s.size], ["sha256", s.sha256], ["type", s.type]]));
      hashes.set(s.name, s.sha256);
    }
    hashes.set("data", ctx.dataHash);
    const boot: PyDict = new Map<string, PyValue>([["cmdline", input.boot.cmdline ?? defaultCmdline(input.boot.arch)], ["arch", input.boot.arch ?? "x86_64"]]);
    if (input.boot.machine) boot.set("machine", input.boot.machine);
    if (input.boot.memory) boot.set("memory", input.boot.memory);
    if (input.boot.cpus !== undefined) boot.set("cpus", input.boot.cpus);
    const doc = fixedRows(ctx.gridSize, DENSE, offsets, hashes);
    doc.set("type", BUNDLE_TYPE);
    if (input.name) doc.set("name", input.name);
    if (input.contentVersion) doc.set("content_version", input.contentVersion);
    if (input.description) doc.set("description", input.description);
    doc.set("boot", boot);
    for (const [k, v] of input.extra ?? []) {
      if (ENCODER_OWNED_KEYS.includes(k) || k === "segments") fail("E_USAGE", `metadata key ${k} cannot be set on a boot bundle`);
      if (!doc.has(k)) doc.set(k, v);
    }
    doc.set("data_hash", ctx.dataHash);
    doc.set("data_size", ctx.dataSize);
    return doc;
  };
}

export function defaultCmdline(arch: string | undefined): string {
  return arch === "aarch64" ? "console=ttyAMA0" : "console=ttyS0";
}

export interface SegmentRef {
  name: string;
  type: string;
  start: number;
  size: number;
  sha256?: string;
}

/** Names the original's boot discovery recognises (spec §6.1). */
export const KERNEL_NAMES = ["kernel", "vmlinuz", "vmlinux", "bzImage"];
export const INITRD_NAMES = ["initrd", "initramfs", "initrd.img"];

/**
 * The segments of any container kind, checked to lie inside the payload without overlap
 * (spec §6.4): bundles and vm-snapshots by their offsets; converter files as one segment
 * spanning the whole payload (their entries carry no start).
 */
export function listSegments(m: PixelRtsMetadata, payloadSize: number): SegmentRef[] {
  const refs: SegmentRef[] = [];
  const table = m.offsets && Object.keys(m.offsets).length ? m.offsets : m.segments ?? {};
  const positioned = Object.entries(table).filter(([, s]) => s && typeof s === "object" && (s.start !== undefined || s.offset !== undefined));
  if (m.type === "vm-snapshot" && typeof m.disk_size === "number") {
    refs.push({ name: "disk", type: "disk", start: 0, size: m.disk_size });
  }
  if (positioned.length) {
    for (const [name, s] of positioned) {
      refs.push({ name, type: String(s.type ?? name), start: Number(s.start ?? s.offset), size: Number(s.size), sha256: typeof s.sha256 === "string" ? s.sha256.toLowerCase() : undefined });
    }
  } else if (m.type !== "vm-snapshot") {
    const entries = Object.entries(table);
    if (entries.length === 1) {
      const [name, s] = entries[0]!;
      refs.push({ name, type: String(s.type ?? "binary"), start: 0, size: payloadSize, sha256: typeof s.sha256 === "string" ? s.sha256.toLowerCase() : undefined });
    }
  }
  const sorted = [...refs].sort((a, b) => a.start - b.start);
  let end = 0;
  for (const r of sorted) {
    if (!Number.isSafeInteger(r.start) || !Number.isSafeInteger(r.size) || r.start < 0 || r.size < 0 || r.start + r.size > payloadSize) {
      fail("E_SEGMENT_BOUNDS", `segment ${r.name} [${r.start}, +${r.size}) lies outside the ${payloadSize}-byte payload`, { segment: r.name });
    }
    if (r.start < end) fail("E_SEGMENT_BOUNDS", `segment ${r.name} overlaps the segment before it`, { segment: r.name });
    end = r.start + r.size;
  }
  return refs;
}

/** A segment's bytes, hash-checked against its own sha256 and hashes[name]. */
export async function extractSegment(m: PixelRtsMetadata, payload: Uint8Array, ref: SegmentRef, sha256: Sha256Fn = webSha256): Promise<Uint8Array> {
  const bytes = payload.subarray(ref.start, ref.start + ref.size);
  const expected = [ref.sha256, typeof m.hashes?.[ref.name] === "string" ? m.hashes[ref.name]!.toLowerCase() : undefined].filter((h): h is string => !!h);
  if (expected.length) {
    const actual = await sha256(bytes);
    for (const e of expected) {
      if (e !== actual) fail("E_SEGMENT_HASH_MISMATCH", `segment ${ref.name}: hash mismatch: expected ${e}, got ${actual}`, { segment: ref.name, expected: e, actual });
    }
  }
  return bytes;
}
