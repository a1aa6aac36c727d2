/**
 * Signing a container file: the statement names the whole file (its SHA-256 and size), the name
 * the publisher vouches for, the payload hash from its metadata and the time, and is wrapped in
 * a DSSE envelope signed with one of the keyring's keys.
 */
import { stat } from "node:fs/promises";
import { signEnvelope, type DsseEnvelope } from "../../shared/trust/dsse.js";
import { encodeStatement, PAYLOAD_TYPE, type Statement } from "../../shared/trust/statement.js";
import { hashFile } from "../cache/index.js";
import { readHead } from "../codec/files.js";
import type { SigningKey } from "./keyring.js";

export interface FileSubject {
  name: string;
  version: string | null;
  sha256: string;
  size: number;
  data_hash: string | null;
}

/** What a statement about `file` would say (hashes the file once). */
export async function describeFile(file: string, name: string, version?: string): Promise<FileSubject> {
  const [{ hex }, { size }, head] = await Promise.all([hashFile(file), stat(file), readHead(file)]);
  const m = head.metadata;
  const dataHash = typeof m.data_hash === "string" && /^[0-9a-f]{64}$/i.test(m.data_hash) ? m.data_hash.toLowerCase() : null;
  const contentVersion = version ?? (typeof m.content_version === "string" ? m.content_version : null);
  return { name, version: contentVersion, sha256: hex, size, data_hash: dataHash };
}

/** A DSSE envelope over the statement for `subject`, signed now with `key`. */
export async function signSubject(subject: FileSubject, key: SigningKey, now = new Date()): Promise<{ envelope: DsseEnvelope; statement: Statement }> {
  const statement: Statement = { type: "https://pixelrts.dev/signature/v1", ...subject, signed_at: now.toISOString().replace(/\.\d{3}Z$/, "Z") };
  const envelope = await signEnvelope(PAYLOAD_TYPE, encodeStatement(statement), key.key, key.sign);
  return { envelope, statement };
}
