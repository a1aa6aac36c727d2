/** Metadata exactly as the original converter (`pixelrts_v2_converter.py`) passes it (spec §4.3). */
import { fail } from "../errors.js";
import type { PyDict, PyValue } from "../pyjson.js";
import { buildMetadata, ENCODER_OWNED_KEYS } from "./metadata.js";
import type { MetadataContext } from "./encode.js";

export interface ConverterOptions {
  type?: string;
  name?: string;
  version?: string;
  description?: string;
  /** More caller keys, written after `segments` in this order. */
  extra?: PyDict;
}

/** Python's `Path(name).stem`: the last suffix removed (`a.tar.gz` → `a.tar`, `.bashrc` kept). */
export function pythonStem(fileName: string): string {
  const base = fileName.split(/[\\/]/).pop() ?? fileName;
  const i = base.lastIndexOf(".");
  return i > 0 && i < base.length - 1 ? base.slice(0, i) : base;
}

/** The caller dict the converter builds: type, name, version, description, then segments. */
export function converterCaller(opts: ConverterOptions, inputFileName: string, ctx: MetadataContext): PyDict {
  const caller: PyDict = new Map();
  for (const key of ["type", "name", "version", "description"] as const) {
    const v = opts[key];
    if (v) caller.set(key, v);
  }
  const segment: PyDict = new Map<string, PyValue>([
    ["type", opts.type || "binary"],
    ["size", ctx.dataSize],
    ["sha256", ctx.dataHash],
  ]);
  if (opts.version) segment.set("version", opts.version);
  if (opts.description) segment.set("description", opts.description);
  caller.set("segments", new Map([[opts.name || pythonStem(inputFileName), segment]]));
  for (const [k, v] of opts.extra ?? []) {
    if (ENCODER_OWNED_KEYS.includes(k)) fail("E_USAGE", `metadata key ${k} is written by the encoder and cannot be set`);
    if (!caller.has(k)) caller.set(k, v);
  }
  return caller;
}

/** Full metadata document for a converter-style (single file) container. */
export function converterMetadata(opts: ConverterOptions, inputFileName: string) {
  return (ctx: MetadataContext): PyDict => buildMetadata({ gridSize: ctx.gridSize, caller: converterCaller(opts, inputFileName, ctx), dataHash: ctx.dataHash, dataSize: ctx.dataSize });
}
