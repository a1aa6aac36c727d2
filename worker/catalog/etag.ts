/**
 * ETags of catalog answers, derived from the index version (bumped by every index write) and
 * what else shapes the answer (route, query, origin, this source's config): an unchanged
 * catalog answers 304 after one D1 read, without building anything.
 */
import { toHex } from "../../shared/bytes";

export async function indexEtag(version: number, parts: unknown): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(JSON.stringify(parts))));
  return `"v${version}-${toHex(digest).slice(0, 24)}"`;
}
