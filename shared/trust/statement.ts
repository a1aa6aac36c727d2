/**
 * What a PixelRTS signature says: a small JSON statement inside a DSSE envelope, naming one
 * `.rts.png` file by its SHA-256 and size. Covering the whole file covers its metadata, the boot
 * command line and every segment (the original format signs only the payload hash, spec §4.6).
 *
 *   {"type":"https://pixelrts.dev/signature/v1","name":"demo-linux","version":"1.0",
 *    "sha256":"<64 hex>","size":14064176,"data_hash":"<64 hex>|null","signed_at":"2026-12-03T08:00:00Z"}
 */
import { isSha256Hex } from "../catalog.js";
import { fail } from "../errors.js";
import { CONTAINER_NAME_RULE, isContainerName } from "../names.js";

/** DSSE payloadType of our statements. */
export const PAYLOAD_TYPE = "application/vnd.pixelrts.statement.v1+json";
/** The statement's `type`: fixed, so a signature made for something else never counts as ours. */
export const STATEMENT_TYPE = "https://pixelrts.dev/signature/v1";

export interface Statement {
  type: typeof STATEMENT_TYPE;
  /** The container name the signer vouches for: hosts refuse it under any other name. */
  name: string;
  /** Publisher's version label, or null. */
  version: string | null;
  /** SHA-256 (hex) of the whole .rts.png. */
  sha256: string;
  /** Size of the .rts.png in bytes. */
  size: number;
  /** The payload's SHA-256 (metadata data_hash), or null. */
  data_hash: string | null;
  /** When it was signed (UTC, ISO 8601): hosts refuse an older signature for a name (rollback). */
  signed_at: string;
}

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/;
const VERSION = /^[\x21-\x7e][\x20-\x7e]{0,63}$/;

const bad = (why: string): never => fail("E_SIGNATURE_INVALID", `the signed statement is malformed: ${why}`);

/** The statement in an envelope's payload, checked field by field. */
export function parseStatement(body: Uint8Array): Statement {
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(body));
  } catch {
    bad("not UTF-8 JSON");
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) return bad("not a JSON object");
  const d = doc as Record<string, unknown>;
  if (d.type !== STATEMENT_TYPE) bad(`type is not ${STATEMENT_TYPE}`);
  if (!isContainerName(d.name)) bad(`name must be ${CONTAINER_NAME_RULE}`);
  if (d.version !== null && (typeof d.version !== "string" || !VERSION.test(d.version))) bad("version must be null or 1-64 printable ASCII characters");
  if (!isSha256Hex(d.sha256)) bad("sha256 must be 64 lowercase hex digits");
  if (typeof d.size !== "number" || !Number.isSafeInteger(d.size) || d.size <= 0) bad("size must be a positive integer");
  if (d.data_hash !== null && !isSha256Hex(d.data_hash)) bad("data_hash must be null or 64 lowercase hex digits");
  if (typeof d.signed_at !== "string" || !ISO_UTC.test(d.signed_at) || Number.isNaN(Date.parse(d.signed_at))) bad("signed_at must be a UTC time like 2026-12-03T08:00:00Z");
  return { type: STATEMENT_TYPE, name: d.name as string, version: d.version as string | null, sha256: d.sha256 as string, size: d.size as number, data_hash: d.data_hash as string | null, signed_at: d.signed_at as string };
}

/** The statement's bytes as signed (compact JSON, fixed key order). */
export function encodeStatement(s: Omit<Statement, "type">): Uint8Array {
  const doc: Statement = { type: STATEMENT_TYPE, name: s.name, version: s.version, sha256: s.sha256, size: s.size, data_hash: s.data_hash, signed_at: s.signed_at };
  parseStatement(new TextEncoder().encode(JSON.stringify(doc))); // what we sign must be what we accept
  return new TextEncoder().encode(JSON.stringify(doc));
}
