import { asciiBytes, byteChunks, readU32BE, type ByteSource } from "../bytes.js";
import { fail } from "../errors.js";
import { crc32 as jsCrc32, type Crc32Fn } from "./crc32.js";

export const PNG_SIGNATURE = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** The original's wording (Pillow) for any damaged PNG; our codes say which damage. */
export const BROKEN_STREAM = "broken data stream when reading image file";

export interface PngChunk {
  type: string;
  data: Uint8Array;
  /** Byte offset of the chunk's length field in the file. */
  offset: number;
}

export interface ChunkReaderOptions {
  crc32?: Crc32Fn;
  /** Largest non-IDAT chunk accepted (text chunks are parsed as JSON: bound them). */
  maxAncillaryBytes?: number;
  /**
   * Reading a known prefix of a file (publish validation): running out of bytes throws
   * `NeedMoreBytes` instead of reporting truncation.
   */
  prefix?: boolean;
  /** Stop at the first chunk of this type, yielding it with empty data (its body is not read). */
  stopAt?: string;
}

export const DEFAULT_MAX_ANCILLARY_BYTES = 64 * 1024 * 1024;

export class NeedMoreBytes extends Error {
  constructor(readonly needAtLeast: number) {
    super(`need at least ${needAtLeast} bytes`);
  }
}

/** Pulls exact byte counts out of an arbitrary chunking of the input. */
class ByteQueue {
  private pieces: Uint8Array[] = [];
  private head = 0; // read position inside pieces[0]
  private buffered = 0;
  position = 0;
  private done = false;
  constructor(private readonly it: AsyncIterator<Uint8Array>) {}

  /** Makes n bytes available; false if the input ended first. */
  async fill(n: number): Promise<boolean> {
    while (this.buffered < n) {
      if (this.done) return false;
      const r = await this.it.next();
      if (r.done) {
        this.done = true;
        return false;
      }
      if (r.value.length) {
        this.pieces.push(r.value);
        this.buffered += r.value.length;
      }
    }
    return true;
  }

  /** Takes n bytes (already filled): a view when they sit in one piece, else a copy. */
  take(n: number): Uint8Array {
    this.position += n;
    this.buffered -= n;
    const first = this.pieces[0];
    if (first && first.length - this.head >= n) {
      const out = first.subarray(this.head, this.head + n);
      this.head += n;
      if (this.head === first.length) {
        this.pieces.shift();
        this.head = 0;
      }
      return out;
    }
    const out = new Uint8Array(n);
    let off = 0;
    while (off < n) {
      const p = this.pieces[0]!;
      const k = Math.min(n - off, p.length - this.head);
      out.set(p.subarray(this.head, this.head + k), off);
      off += k;
      this.head += k;
      if (this.head === p.length) {
        this.pieces.shift();
        this.head = 0;
      }
    }
    return out;
  }

  async close(): Promise<void> {
    if (!this.done) await this.it.return?.();
  }
}

function chunkTypeName(b: Uint8Array): string | undefined {
  for (let i = 0; i < 4; i++) {
    const c = b[i]!;
    if (!((c >= 65 && c <= 90) || (c >= 97 && c <= 122))) return undefined;
  }
  return String.fromCharCode(b[0]!, b[1]!, b[2]!, b[3]!);
}

/**
 * Walks a PNG's chunks in file order, checking the signature and every CRC-32 (including
 * IDAT's, which the original skips), and stops after IEND. Each chunk is yielded whole;
 * memory is bounded by the largest chunk, and a chunk's declared length is never allocated
 * before its bytes have actually arrived.
 */
export async function* readPngChunks(source: ByteSource, opts: ChunkReaderOptions = {}): AsyncGenerator<PngChunk> {
  const crc32 = opts.crc32 ?? jsCrc32;
  const maxAncillary = opts.maxAncillaryBytes ?? DEFAULT_MAX_ANCILLARY_BYTES;
  const q = new ByteQueue(byteChunks(source)[Symbol.asyncIterator]());
  const need = async (n: number, what: string): Promise<void> => {
    if (await q.fill(n)) return;
    if (opts.prefix) throw new NeedMoreBytes(q.position + n);
    fail("E_PNG_CORRUPT", `truncated PNG: file ends inside ${what} at byte ${q.position} (${BROKEN_STREAM})`, { offset: q.position });
  };
  try {
    if (!(await q.fill(8))) {
      if (opts.prefix) throw new NeedMoreBytes(8);
      fail("E_NOT_PNG", "not a PNG file (shorter than the 8-byte PNG signature)");
    }
    const sig = q.take(8);
    if (!sig.every((b, i) => b === PNG_SIGNATURE[i])) fail("E_NOT_PNG", "not a PNG file (bad signature)");
    for (;;) {
      const offset = q.position;
      await need(8, "a chunk header");
      const header = q.take(8);
      const length = readU32BE(header, 0);
      const typeBytes = header.subarray(4, 8);
      const type = chunkTypeName(typeBytes);
      if (!type) fail("E_PNG_CORRUPT", `invalid chunk type at byte ${offset} (${BROKEN_STREAM})`, { offset });
      if (length > 0x7fffffff) fail("E_PNG_CORRUPT", `chunk ${type} at byte ${offset} declares an impossible length ${length}`, { offset });
      if (type !== "IDAT" && length > maxAncillary) {
        fail("E_TOO_LARGE", `chunk ${type} at byte ${offset} is ${length} bytes, over the ${maxAncillary}-byte limit for non-image chunks`, { offset, length });
      }
      if (type === opts.stopAt) {
        yield { type, data: new Uint8Array(0), offset };
        return;
      }
      const typeCopy = asciiBytes(type);
      await need(length + 4, `chunk ${type}`);
      const data = q.take(length);
      const stored = readU32BE(q.take(4), 0);
      const actual = crc32(data, crc32(typeCopy));
      if (stored !== actual) {
        fail("E_PNG_CRC", `CRC mismatch in chunk ${type} at byte ${offset} (${BROKEN_STREAM})`, { offset, type });
      }
      yield { type, data, offset };
      if (type === "IEND") return;
    }
  } finally {
    await q.close();
  }
}

/** Serialises one chunk (length, type, data, CRC) for the writer. */
export function encodeChunk(type: string, data: Uint8Array, crc32: Crc32Fn = jsCrc32): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  const typeBytes = asciiBytes(type);
  out.set(typeBytes, 4);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(data, crc32(typeBytes)));
  return out;
}
