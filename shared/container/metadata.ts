/**
 * PixelRTS v2 metadata (spec §4): selecting the chunk the original reads, validating it, and
 * building it byte-for-byte as the original encoder does.
 */
import { fail } from "../errors.js";
import { pyDumps, pyLoads, toPlain, type PyDict, type PyValue } from "../pyjson.js";
import type { TextChunk } from "../png/text.js";
import type { PixelRtsMetadata } from "./types.js";

export const FORMAT = "PixelRTS-2.0";
export const TEXT_KEYWORD = "PixelRTS";
export const DENSE = "RGBA-dense";
export const CODE = "RGBA-code";
export const MAPPING = "Hilbert space-filling curve";

export interface SelectedMetadata {
  doc: PyDict;
  json: string;
  metadata: PixelRtsMetadata;
}

/**
 * The original takes, in file order, the first text chunk whose text contains "PixelRTS" and
 * parses as JSON once an exact leading "PixelRTS" is stripped (keywords are ignored); chunks
 * that fail to parse, like the blueprint's "-Blueprint{…}", are skipped.
 */
export function selectMetadata(texts: readonly TextChunk[]): SelectedMetadata | undefined {
  for (const { text } of texts) {
    if (!text.includes(TEXT_KEYWORD)) continue;
    const json = text.startsWith(TEXT_KEYWORD) ? text.slice(TEXT_KEYWORD.length) : text;
    let value: PyValue;
    try {
      value = pyLoads(json);
    } catch {
      continue;
    }
    if (!(value instanceof Map)) fail("E_METADATA_INVALID", "the PixelRTS text chunk holds JSON that is not an object");
    return { doc: value, json, metadata: validateMetadata(value) };
  }
  return undefined;
}

export function parseMetadataJson(json: string, what = "metadata"): SelectedMetadata {
  const value = pyLoads(json);
  if (!(value instanceof Map)) fail("E_METADATA_INVALID", `${what} is not a JSON object`);
  return { doc: value, json, metadata: validateMetadata(value) };
}

const HEX64 = /^[0-9a-fA-F]{64}$/;

function isCount(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

/** Checks the fields decoding relies on (spec §4.4, §5.1 step 6); unknown keys are ignored. */
export function validateMetadata(doc: PyDict): PixelRtsMetadata {
  const m = toPlain(doc) as PixelRtsMetadata;
  for (const key of ["data_size", "encoded_size"] as const) {
    if (m[key] !== undefined && !isCount(m[key])) fail("E_METADATA_INVALID", `metadata ${key} must be a non-negative integer, got ${JSON.stringify(m[key])}`);
  }
  if (m.data_hash !== undefined && (typeof m.data_hash !== "string" || !HEX64.test(m.data_hash))) {
    fail("E_METADATA_INVALID", "metadata data_hash must be 64 hex digits (a SHA-256)");
  }
  if (m.hashes !== undefined && (typeof m.hashes !== "object" || m.hashes === null || Array.isArray(m.hashes))) {
    fail("E_METADATA_INVALID", "metadata hashes must be an object");
  }
  const dataHashes = m.hashes?.data;
  if (dataHashes !== undefined && m.data_hash !== undefined && String(dataHashes).toLowerCase() !== m.data_hash.toLowerCase()) {
    fail("E_METADATA_INVALID", `metadata hashes.data (${String(dataHashes)}) differs from data_hash (${m.data_hash})`);
  }
  for (const key of ["offsets", "segments"] as const) {
    const v = m[key];
    if (v !== undefined && (typeof v !== "object" || v === null || Array.isArray(v))) fail("E_METADATA_INVALID", `metadata ${key} must be an object`);
  }
  if (m.compression !== undefined && (typeof m.compression !== "object" || m.compression === null)) {
    fail("E_METADATA_INVALID", "metadata compression must be an object");
  }
  if (m.original_data_b64 !== undefined && typeof m.original_data_b64 !== "string") fail("E_METADATA_INVALID", "metadata original_data_b64 must be a string");
  return m;
}

/** Caller keys our encoder refuses: the original overwrites them silently (spec §4.2). */
export const ENCODER_OWNED_KEYS = ["data_hash", "data_size", "compression", "encoded_size", "original_data_b64", "signature"];

export interface BuildMetadataInput {
  gridSize: number;
  mode?: typeof DENSE | typeof CODE;
  /** Caller metadata in its key order. */
  caller: PyDict;
  dataHash: string;
  dataSize: number;
}

/**
 * The original encoder's metadata (spec §4.1–4.2): seven fixed rows, then caller keys in order
 * (skipping keys already present, `version` written as `content_version`, assignment to an
 * existing key replacing it in place), then data_hash and data_size.
 */
export function buildMetadata(input: BuildMetadataInput): PyDict {
  const mode = input.mode ?? DENSE;
  const segments = input.caller.get("segments");
  const offsets = segments instanceof Map && segments.size > 0 ? segments : new Map();
  const hashes: PyDict = new Map();
  for (const [name, seg] of offsets) {
    if (seg instanceof Map && seg.has("sha256")) hashes.set(name, seg.get("sha256")!);
  }
  const out = fixedRows(input.gridSize, mode, offsets, hashes);
  for (const [key, value] of input.caller) {
    if (out.has(key)) continue;
    out.set(key === "version" ? "content_version" : key, value);
  }
  out.set("data_hash", input.dataHash);
  out.set("data_size", input.dataSize);
  return out;
}

/** Rows 1–7 of every document (spec §4.1), which callers cannot set. */
export function fixedRows(gridSize: number, mode: typeof DENSE | typeof CODE, offsets: PyDict, hashes: PyDict): PyDict {
  return new Map<string, PyValue>([
    ["format", FORMAT],
    ["format_version", 2],
    ["grid_size", gridSize],
    ["encoding", new Map<string, PyValue>([["type", mode], ["bytes_per_pixel", 4], ["mapping", MAPPING]])],
    ["offsets", offsets],
    ["hashes", hashes],
    ["encoding_mode", mode],
  ]);
}

/** The exact tEXt text the original writes: "PixelRTS" + compact, ASCII-escaped JSON. */
export function metadataText(doc: PyDict): string {
  return TEXT_KEYWORD + pyDumps(doc);
}
