import { PixelRtsError } from "../../shared/errors.js";

/**
 * A response body as text, at most `max` bytes: a server that streams without end (or a huge
 * error page) becomes E_BAD_RESPONSE instead of filling memory. The body is destroyed when cut.
 */
export async function readText(body: AsyncIterable<Buffer | Uint8Array> & { destroy(): void }, max: number, what: string): Promise<string> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of body) {
    n += c.length;
    if (n > max) {
      body.destroy();
      throw new PixelRtsError("E_BAD_RESPONSE", `${what}: the answer is larger than ${max} bytes`, { max });
    }
    chunks.push(Buffer.from(c.buffer, c.byteOffset, c.length));
  }
  return Buffer.concat(chunks).toString("utf8");
}
