/**
 * Strict checks of everything a request carries: ids, JSON bodies (size, type, shape, no unknown
 * fields) and boot options, the latter through the same grammar as `pixelrts boot`'s flags
 * (shared/container/boot-settings.ts). A bad value is E_BAD_REQUEST naming the field; a bad id
 * E_BAD_NAME.
 */
import type { Context } from "hono";
import { checkCmdline, checkCpus, checkCpusText, checkMemory, shown } from "../../shared/container/boot-settings.js";
import { httpFail } from "./errors.js";
import { isPosition, MAX_X, MAX_Y, type Position } from "./layout.js";

/** Ids of the console's catalog: 1–200 of A-Z a-z 0-9 . _ ~ -, starting with a letter or digit, no "..". */
const ID = /^[A-Za-z0-9][A-Za-z0-9._~-]{0,199}$/;

export function isEntryId(s: unknown): s is string {
  return typeof s === "string" && ID.test(s) && !s.includes("..");
}

export function checkEntryId(s: string): string {
  if (!isEntryId(s)) httpFail("E_BAD_NAME", `not a catalog id: ${shown(s)} (1-200 of A-Z a-z 0-9 . _ ~ -, starting with a letter or digit)`);
  return s;
}

export const MAX_BODY_BYTES = 64 * 1024;

/**
 * The request's JSON body as an object. `allowEmpty`: no body at all reads as `{}` (the original
 * client posts some actions without one). Anything but `application/json` is refused, so a plain
 * HTML form can never post here.
 */
export async function readJsonObject(c: Context, opts: { allowEmpty?: boolean } = {}): Promise<Record<string, unknown>> {
  const length = Number(c.req.header("content-length") ?? NaN);
  if (Number.isFinite(length) && length > MAX_BODY_BYTES) httpFail("E_TOO_LARGE", `the body is ${length} bytes; at most ${MAX_BODY_BYTES} are accepted`);
  const text = await readCapped(c.req.raw.body);
  if (text.trim() === "") {
    if (opts.allowEmpty) return {};
    httpFail("E_BAD_REQUEST", "a JSON object is required as the body");
  }
  const type = c.req.header("content-type") ?? "";
  if (!/^application\/json\s*(?:;|$)/i.test(type)) httpFail("E_UNSUPPORTED_MEDIA_TYPE", `the body must be application/json, not ${shown(type || "(none)")}`);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    httpFail("E_BAD_REQUEST", `the body is not JSON: ${(e as Error).message}`);
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) httpFail("E_BAD_REQUEST", "the body must be a JSON object");
  return v as Record<string, unknown>;
}

async function readCapped(body: ReadableStream<Uint8Array> | null): Promise<string> {
  if (!body) return "";
  const chunks: Uint8Array[] = [];
  let n = 0;
  for await (const c of body as unknown as AsyncIterable<Uint8Array>) {
    n += c.length;
    if (n > MAX_BODY_BYTES) httpFail("E_TOO_LARGE", `the body is larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(c);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** Refuses fields other than `allowed` (a typo must not silently boot with defaults). */
export function onlyKeys(obj: Record<string, unknown>, allowed: readonly string[], where = "the body"): void {
  for (const k of Object.keys(obj)) if (!allowed.includes(k)) httpFail("E_BAD_REQUEST", `${where} has an unknown field ${shown(k)} (allowed: ${allowed.join(", ")})`);
}

export interface BootRequest {
  memory?: string;
  cpus?: number;
  /** Added to the container's kernel command line (like `boot --append`). */
  cmdline?: string;
}

/** `{memory, cpus, cmdline}` of `POST …/boot`; null or absent means "the default". */
export function bootRequest(body: Record<string, unknown>): BootRequest {
  onlyKeys(body, ["memory", "cpus", "cmdline"]);
  const out: BootRequest = {};
  function bad(field: string, why: string): never {
    httpFail("E_BAD_REQUEST", `${field} ${why}`, { field });
  }
  if (body.memory !== undefined && body.memory !== null) {
    const r = checkMemory(body.memory);
    if (!r.ok) bad("memory", r.why);
    out.memory = r.value;
  }
  if (body.cpus !== undefined && body.cpus !== null) {
    const r = typeof body.cpus === "string" ? checkCpusText(body.cpus) : checkCpus(body.cpus);
    if (!r.ok) bad("cpus", r.why);
    out.cpus = r.value;
  }
  if (body.cmdline !== undefined && body.cmdline !== null && body.cmdline !== "") {
    const r = checkCmdline(body.cmdline);
    if (!r.ok) bad("cmdline", r.why);
    out.cmdline = r.value;
  }
  return out;
}

/** A position as the original (`{x, y}`) or the visual shell's CatalogBridge (`{gridX, gridY}`) sends it. */
export function positionOf(v: unknown, field: string): Position {
  const o = (typeof v === "object" && v !== null ? v : {}) as Record<string, unknown>;
  const p = { x: o.x ?? o.gridX, y: o.y ?? o.gridY };
  if (!isPosition(p)) httpFail("E_BAD_REQUEST", `${field} must be {x, y} with integers 0-${MAX_X} and 0-${MAX_Y}, got ${shown(v)}`, { field });
  return p;
}

export interface LayoutUpdate {
  entry_id: string;
  position: Position;
}

/** One move: `{entry_id, new_position}` (original) or `{entryId, position}` (CatalogBridge's batch). */
export function layoutUpdate(v: unknown, where = "the body"): LayoutUpdate {
  if (typeof v !== "object" || v === null || Array.isArray(v)) httpFail("E_BAD_REQUEST", `${where} must be an object`);
  const o = v as Record<string, unknown>;
  onlyKeys(o, ["entry_id", "entryId", "new_position", "position"], where);
  const id = o.entry_id ?? o.entryId;
  if (typeof id !== "string") httpFail("E_BAD_REQUEST", `${where} needs entry_id`);
  checkEntryId(id);
  return { entry_id: id, position: positionOf(o.new_position ?? o.position, `${where}.new_position`) };
}
