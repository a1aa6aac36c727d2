import { createHash } from "node:crypto";
import { open } from "node:fs/promises";

/** Feeds bytes [0, length) of a file (the whole file by default) to `update`, in 1 MiB blocks. Returns the count. */
export async function readFileBlocks(path: string, update: (block: Buffer) => void | Promise<void>, length = Infinity): Promise<number> {
  const fh = await open(path, "r");
  try {
    let pos = 0;
    while (pos < length) {
      // A fresh buffer per block: `update` may keep it (the worker hasher transfers it).
      const buf = Buffer.allocUnsafe(Math.min(1 << 20, length - pos));
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      if (bytesRead === 0) break;
      await update(buf.subarray(0, bytesRead)); // a slower consumer (the worker hasher) sets the pace
      pos += bytesRead;
    }
    return pos;
  } finally {
    await fh.close();
  }
}

/** SHA-256 (hex) of a whole file. */
export async function hashFile(path: string): Promise<{ hex: string; bytes: number }> {
  const h = createHash("sha256");
  const bytes = await readFileBlocks(path, (b) => void h.update(b));
  return { hex: h.digest("hex"), bytes };
}
