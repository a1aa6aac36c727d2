/**
 * Thumbnails of cached containers, made here from their own pixels (agent/publish/thumbnail.ts,
 * the same as `publish` uploads), or decoded from a listing's inline base64. Kept in memory (the
 * newest 256) and made at most two at a time: a console opening on 1,000 tiles must not decode
 * 1,000 PNGs at once.
 */
import { makeThumbnail } from "../publish/thumbnail.js";

const MAX = 256;
const CONCURRENCY = 2;

export class ThumbnailCache {
  private readonly made = new Map<string, Promise<Uint8Array>>();
  private running = 0;
  private readonly queue: (() => void)[] = [];

  /** The thumbnail of the cached file `path` (its SHA-256 is the key). */
  get(sha256: string, path: string): Promise<Uint8Array> {
    const hit = this.made.get(sha256);
    if (hit) {
      this.made.delete(sha256);
      this.made.set(sha256, hit);
      return hit;
    }
    const p = this.slot(() => makeThumbnail(path));
    p.catch(() => this.made.delete(sha256));
    this.made.set(sha256, p);
    while (this.made.size > MAX) this.made.delete(this.made.keys().next().value!);
    return p;
  }

  private async slot<T>(fn: () => Promise<T>): Promise<T> {
    if (this.running >= CONCURRENCY) await new Promise<void>((r) => this.queue.push(r));
    this.running++;
    try {
      return await fn();
    } finally {
      this.running--;
      this.queue.shift()?.();
    }
  }
}

/** A listing's inline thumbnail (base64 PNG, no `data:` prefix) as bytes, if it is one. */
export function inlineThumbnail(base64: string): Uint8Array | undefined {
  if (!base64 || !/^[A-Za-z0-9+/]+=*$/.test(base64)) return undefined;
  const bytes = Buffer.from(base64, "base64");
  return bytes.length > 8 && bytes[0] === 0x89 && bytes[1] === 0x50 ? bytes : undefined;
}
