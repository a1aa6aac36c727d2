/** Helpers for the Worker tests (run inside workerd): fixture containers and request shortcuts. */
import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { concatBytes, toHex } from "../../shared/bytes";
import { collectBytes, encodeContainer } from "../../shared/container/encode";
import { buildMetadata } from "../../shared/container/metadata";
import { encodeChunk } from "../../shared/png/chunks";
import type { PyDict, PyValue } from "../../shared/pyjson";
import app from "../index";

export const ORIGIN = "http://edge.test";
export const TOKEN = "test-token";

export async function sha256Hex(bytes: Uint8Array | ArrayBuffer): Promise<string> {
  return toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)));
}

export interface Fixture {
  bytes: Uint8Array;
  sha256: string;
  dataHash: string;
  dataSize: number;
}

/** A real .rts.png made by the shared encoder; `caller` = caller metadata keys in order. */
export async function makeContainer(payloadSize = 1000, caller: Record<string, PyValue> = { type: "kernel", name: "demo" }, seed = 1): Promise<Fixture> {
  const payload = new Uint8Array(payloadSize);
  let x = Math.imul(seed, 2654435761) >>> 0;
  for (let i = 0; i < payload.length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    payload[i] = x >>> 24;
  }
  const callerDict: PyDict = new Map(Object.entries(caller));
  const enc = await encodeContainer(payload, (ctx) => buildMetadata({ gridSize: ctx.gridSize, caller: callerDict, dataHash: ctx.dataHash, dataSize: ctx.dataSize }));
  const bytes = await collectBytes(enc.png);
  return { bytes, sha256: await sha256Hex(bytes), dataHash: enc.dataHash, dataSize: payloadSize };
}

/**
 * One request to the Worker's app with the test bindings (`bucket` replaces BUCKET, e.g. a gated
 * one). Straight into the app, not through `exports.default.fetch`: in this pool every call
 * through the entrypoint gets slower the more calls came before it in the file (the export test
 * in publish.test.ts checks that the entrypoint is this app).
 */
export async function call(path: string, init?: RequestInit, bucket: R2Bucket = env.BUCKET): Promise<Response> {
  return app.fetch(new Request(ORIGIN + path, init), { ...env, BUCKET: bucket }, createExecutionContext());
}

export function publish(name: string, f: { bytes: Uint8Array; sha256: string }, headers: Record<string, string> = {}): Promise<Response> {
  return call(`/api/v1/containers/${name}`, {
    method: "PUT",
    body: f.bytes,
    headers: { authorization: `Bearer ${TOKEN}`, "x-pixelrts-sha256": f.sha256, "content-length": String(f.bytes.length), ...headers },
  });
}

/** Every key in the bucket (follows list cursors). */
export async function allKeys(bucket: R2Bucket): Promise<string[]> {
  const keys: string[] = [];
  let cursor: string | undefined;
  for (;;) {
    const page = await bucket.list({ limit: 1000, ...(cursor ? { cursor } : {}) });
    keys.push(...page.objects.map((o) => o.key));
    if (!page.truncated) return keys;
    cursor = page.cursor;
  }
}

export async function errorCode(res: Response): Promise<string> {
  const body = await res.json<{ error: { code: string } }>();
  return body.error.code;
}

/** The PNG's chunks as [type, whole chunk bytes] after the 8-byte signature. */
export function pngChunks(png: Uint8Array): { type: string; bytes: Uint8Array }[] {
  const out: { type: string; bytes: Uint8Array }[] = [];
  const dv = new DataView(png.buffer, png.byteOffset, png.byteLength);
  for (let off = 8; off + 12 <= png.length; ) {
    const len = dv.getUint32(off);
    const type = String.fromCharCode(...png.subarray(off + 4, off + 8));
    out.push({ type, bytes: png.subarray(off, off + 12 + len) });
    off += 12 + len;
  }
  return out;
}

/** Rebuilds a PNG keeping only the chunks `keep` accepts (e.g. drop the PixelRTS tEXt). */
export function filterPng(png: Uint8Array, keep: (type: string) => boolean): Uint8Array {
  const parts = [png.subarray(0, 8), ...pngChunks(png).filter((c) => keep(c.type)).map((c) => c.bytes)];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** Offset just past the first IDAT chunk's length and type: the shortest prefix whose head parses. */
export function headEnd(png: Uint8Array): number {
  let off = 8;
  for (const c of pngChunks(png)) {
    if (c.type === "IDAT") return off + 8;
    off += c.bytes.length;
  }
  throw new Error("no IDAT");
}

const PIXELRTS_TEXT = "PixelRTS\u0000PixelRTS";

/** Rewrites the PixelRTS metadata JSON of a container (its tEXt chunk, CRC recomputed). */
export function editMetadata(png: Uint8Array, edit: (md: Record<string, unknown>) => void): Uint8Array {
  const parts = [png.subarray(0, 8)];
  for (const c of pngChunks(png)) {
    const text = c.type === "tEXt" ? new TextDecoder("latin1").decode(c.bytes.subarray(8, -4)) : "";
    if (!text.startsWith(PIXELRTS_TEXT)) {
      parts.push(c.bytes);
      continue;
    }
    const md = JSON.parse(text.slice(PIXELRTS_TEXT.length)) as Record<string, unknown>;
    edit(md);
    parts.push(encodeChunk("tEXt", new TextEncoder().encode(PIXELRTS_TEXT + JSON.stringify(md))));
  }
  return concatBytes(parts);
}

/** Claims a `side`×`side` grid in the IHDR and the metadata (the image data is left as it is: heads only). */
export function claimGrid(png: Uint8Array, side: number): Uint8Array {
  const parts = [png.subarray(0, 8)];
  for (const c of pngChunks(editMetadata(png, (md) => (md.grid_size = side)))) {
    if (c.type !== "IHDR") {
      parts.push(c.bytes);
      continue;
    }
    const data = c.bytes.slice(8, -4);
    new DataView(data.buffer).setUint32(0, side);
    new DataView(data.buffer).setUint32(4, side);
    parts.push(encodeChunk("IHDR", data));
  }
  return concatBytes(parts);
}

/**
 * A request body stream of `total` bytes (`first`, then zeros) that records how much the Worker
 * pulled and whether it cancelled the stream. It produces a chunk only when asked.
 */
export function countingBody(first: Uint8Array, total: number) {
  const state = { pulled: 0, cancelled: false, done: false };
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(ctrl) {
        if (state.pulled >= total) {
          state.done = true;
          ctrl.close();
          return;
        }
        const chunk = state.pulled === 0 ? first.subarray(0, total) : new Uint8Array(Math.min(64 * 1024, total - state.pulled));
        state.pulled += chunk.length;
        ctrl.enqueue(chunk);
      },
      cancel() {
        state.cancelled = true;
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, state };
}

export const bearer = { authorization: `Bearer ${TOKEN}` };
