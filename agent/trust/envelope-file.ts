import { readFile } from "node:fs/promises";
import { fail } from "../../shared/errors.js";
import { MAX_ENVELOPE_BYTES } from "../../shared/trust/dsse.js";
import { isErrno, ioError } from "../fsutil/index.js";

/**
 * The envelopes in a signature file (`pixelrts sign -o FILE.sig.json` writes one envelope; a
 * list of them, or the Worker's `{"signatures":[…]}`, are read too). A missing file is no
 * signature unless it was asked for (`required`); the envelopes themselves are judged later.
 */
export async function readEnvelopeFile(path: string, required: boolean): Promise<unknown[]> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    if (isErrno(e, "ENOENT") && !required) return [];
    if (isErrno(e, "ENOENT")) fail("E_NOT_FOUND", `no such signature file: ${path}`);
    throw ioError(e, `cannot read ${path}`);
  }
  if (text.length > MAX_ENVELOPE_BYTES * 16) fail("E_SIGNATURE_INVALID", `${path} is too large to be a signature file`);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    fail("E_SIGNATURE_INVALID", `${path} is not JSON`);
  }
  if (Array.isArray(doc)) return doc;
  const list = (doc as { signatures?: unknown })?.signatures;
  return Array.isArray(list) && !("payloadType" in (doc as object)) ? list : [doc];
}
