import { latin1 } from "../bytes.js";
import { fail } from "../errors.js";
import { inflateBounded, type ZlibTransform } from "../zlib.js";
import type { PngChunk } from "./chunks.js";

export interface TextChunk {
  keyword: string;
  text: string;
}

export const TEXT_CHUNK_TYPES = new Set(["tEXt", "zTXt", "iTXt"]);

/**
 * The text chunks of one file, decoded within one budget for all of them together (like
 * Pillow's MAX_TEXT_MEMORY): many small compressed chunks must not add up to gigabytes. Used by
 * the head scan (Worker uploads, inspect) and the full decoder alike.
 */
export class TextChunks {
  readonly texts: TextChunk[] = [];
  constructor(
    private budget: number,
    private readonly inflate?: ZlibTransform,
  ) {}

  /** Decodes `chunk` when it is a text chunk (true); other chunks are left alone (false). */
  async take(chunk: PngChunk): Promise<boolean> {
    if (!TEXT_CHUNK_TYPES.has(chunk.type)) return false;
    if (this.budget <= 0) fail("E_TOO_LARGE", "text chunks exceed the total text budget");
    const t = await decodeTextChunk(chunk, this.budget, this.inflate);
    if (t) {
      this.budget -= t.text.length;
      this.texts.push(t);
    }
    return true;
  }
}

/** Decodes tEXt (Latin-1), zTXt (zlib, Latin-1) and iTXt (UTF-8, optionally zlib), as Pillow does. */
export async function decodeTextChunk(chunk: PngChunk, maxTextBytes: number, inflate?: ZlibTransform): Promise<TextChunk | undefined> {
  const d = chunk.data;
  const nul = d.indexOf(0);
  if (nul < 1 || nul > 79) return undefined; // no valid keyword: Pillow skips it too
  const keyword = latin1(d.subarray(0, nul));
  switch (chunk.type) {
    case "tEXt":
      return { keyword, text: latin1(d.subarray(nul + 1)) };
    case "zTXt": {
      if (d[nul + 1] !== 0) return undefined;
      return { keyword, text: latin1(await inflateOrFail(d.subarray(nul + 2), maxTextBytes, inflate)) };
    }
    case "iTXt": {
      const compressed = d[nul + 1] === 1;
      if (compressed && d[nul + 2] !== 0) return undefined;
      const langEnd = d.indexOf(0, nul + 3);
      const transEnd = langEnd < 0 ? -1 : d.indexOf(0, langEnd + 1);
      if (transEnd < 0) return undefined;
      let body = d.subarray(transEnd + 1);
      if (compressed) body = await inflateOrFail(body, maxTextBytes, inflate);
      return { keyword, text: new TextDecoder().decode(body) };
    }
  }
  return undefined;
}

async function inflateOrFail(data: Uint8Array, max: number, inflate?: ZlibTransform): Promise<Uint8Array> {
  try {
    return await inflateBounded(data, max, inflate);
  } catch (e) {
    if ((e as { code?: string }).code === "E_TOO_LARGE") throw e;
    fail("E_PNG_CORRUPT", "a compressed text chunk does not inflate", {}, e);
  }
}
