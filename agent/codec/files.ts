/** Container files on disk: decode with the sidecar rule (writing them: fsutil's writeFileAtomic). */
import { createReadStream, existsSync, statSync } from "node:fs";
import { open, readFile } from "node:fs/promises";
import { decodeContainer, type DecodeOptions, type DecodedContainer } from "../../shared/container/decode.js";
import { scanContainerHead, type HeadScan } from "../../shared/container/head.js";
import type { ContainerHead } from "../../shared/container/types.js";
import { fail } from "../../shared/errors.js";
import { maxGridFromEnv } from "./limits.js";
import { NODE_CODEC } from "./node-platform.js";

const READ_CHUNK = 1 << 20;

/**
 * Sidecar rule (spec §4.7): an explicit path, else `<file>.meta.json` beside it; `false`
 * turns the lookup off. Returns the sidecar's text, or undefined.
 */
export async function findSidecar(pngPath: string, explicit?: string | false): Promise<{ path: string; json: string } | undefined> {
  if (explicit === false) return undefined;
  const path = explicit ?? `${pngPath}.meta.json`;
  if (!explicit && !existsSync(path)) return undefined;
  try {
    return { path, json: await readFile(path, "utf8") };
  } catch (e) {
    fail("E_NOT_FOUND", `cannot read sidecar ${path}: ${(e as Error).message}`);
  }
}

function requireFile(path: string): void {
  if (!existsSync(path)) fail("E_NOT_FOUND", `no such file: ${path}`);
  if (!statSync(path).isFile()) fail("E_USAGE", `${path} is not a regular file`);
}

function openForRead(path: string) {
  requireFile(path);
  return createReadStream(path, { highWaterMark: READ_CHUNK });
}

/**
 * Ed25519 public keys whose signatures count as trusted (spec §4.6: the original's verifier takes
 * its key from PIXELRTS_PUBLIC_KEY): 64 hex digits each, several separated by commas or spaces.
 */
export function trustedKeysFromEnv(env: Record<string, string | undefined> = process.env): string[] {
  const text = env.PIXELRTS_PUBLIC_KEY?.trim();
  if (!text) return [];
  const keys = text.split(/[\s,]+/).filter(Boolean);
  for (const k of keys) if (!/^[0-9a-fA-F]{64}$/.test(k)) fail("E_CONFIG", "PIXELRTS_PUBLIC_KEY must hold Ed25519 public keys as 64 hex digits (raw 32-byte keys), separated by commas");
  return keys.map((k) => k.toLowerCase());
}

export async function decodeFile(path: string, opts: DecodeOptions & { sidecar?: string | false } = {}): Promise<DecodedContainer & { sidecarPath?: string }> {
  const sidecar = await findSidecar(path, opts.sidecar);
  const result = await decodeContainer(openForRead(path), { ...NODE_CODEC, maxGrid: maxGridFromEnv(), trustedKeys: trustedKeysFromEnv(), ...opts, sidecarJson: sidecar?.json ?? opts.sidecarJson });
  return { ...result, sidecarPath: sidecar?.path };
}

/** Reads only up to the first IDAT (fast metadata look). */
export async function readHead(path: string): Promise<ContainerHead> {
  requireFile(path);
  const fh = await open(path, "r").catch(() => fail("E_NOT_FOUND", `no such file: ${path}`));
  try {
    let size = 64 * 1024;
    for (;;) {
      const buf = new Uint8Array(size);
      const { bytesRead } = await fh.read(buf, 0, size, 0);
      const scan: HeadScan = await scanContainerHead(buf.subarray(0, bytesRead), { crc32: NODE_CODEC.crc32 });
      if (scan.done) return scan.head;
      if (bytesRead < size) fail("E_PNG_CORRUPT", `truncated PNG: ${path} ends before its image data`);
      size = Math.max(scan.needAtLeast, size * 2);
    }
  } finally {
    await fh.close();
  }
}
