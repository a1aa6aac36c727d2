/** Container files on disk: decode with the sidecar rule, write atomically. */
import { createReadStream, existsSync, statSync } from "node:fs";
import { mkdir, open, readFile, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { randomBytes } from "node:crypto";
import { decodeContainer, type DecodeOptions, type DecodedContainer } from "../../shared/container/decode.js";
import { scanContainerHead, type HeadScan } from "../../shared/container/head.js";
import type { ContainerHead } from "../../shared/container/types.js";
import { fail } from "../../shared/errors.js";
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

export async function decodeFile(path: string, opts: DecodeOptions & { sidecar?: string | false } = {}): Promise<DecodedContainer & { sidecarPath?: string }> {
  const sidecar = await findSidecar(path, opts.sidecar);
  const result = await decodeContainer(openForRead(path), { ...NODE_CODEC, ...opts, sidecarJson: sidecar?.json ?? opts.sidecarJson });
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

/**
 * Writes a file so that readers see the old one or the complete new one, never a part:
 * a temp file beside the target, fsync, rename. On any error the temp file is removed.
 */
export async function writeFileAtomic(target: string, data: AsyncIterable<Uint8Array> | Uint8Array): Promise<number> {
  await mkdir(dirname(target), { recursive: true });
  const tmp = join(dirname(target), `.${basename(target)}.${randomBytes(6).toString("hex")}.tmp`);
  const fh = await open(tmp, "wx");
  let written = 0;
  try {
    const parts = data instanceof Uint8Array ? [data] : data;
    for await (const part of parts) {
      let off = 0;
      while (off < part.length) {
        const { bytesWritten } = await fh.write(part, off, part.length - off);
        off += bytesWritten;
      }
      written += part.length;
    }
    await fh.sync();
    await fh.close();
    await rename(tmp, target);
    return written;
  } catch (e) {
    await fh.close().catch(() => {});
    await rm(tmp, { force: true });
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOSPC") fail("E_DISK_FULL", `no space left writing ${target}; nothing was written`, {}, e);
    throw e;
  }
}
