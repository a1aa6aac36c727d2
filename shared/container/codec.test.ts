import { createHash, generateKeyPairSync, sign } from "node:crypto";
import zlib from "node:zlib";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { NODE_CODEC } from "../../agent/codec/node-platform.js";
import { buildPng, filterRows, iend, idats, ihdr, itxt, rgbaRowsFor, text, ztxt, type RawChunk } from "../../test/helpers/png-builder.js";
import { concatBytes } from "../bytes.js";
import { pyDumps } from "../pyjson.js";
import { bundleMetadata, extractSegment, layoutBundle, listSegments } from "./bundle.js";
import { converterMetadata } from "./converter.js";
import { decodeContainer } from "./decode.js";
import { collectBytes, encodeContainer } from "./encode.js";
import { scanContainerHead } from "./head.js";

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const bytes = (n: number, seed = 1) => {
  const out = new Uint8Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) out[i] = (s = (s * 1103515245 + 12345) >>> 0) >>> 24;
  return out;
};
const pack = async (payload: Uint8Array, opts = {}) => collectBytes((await encodeContainer(payload, converterMetadata({}, "p.bin"), { ...NODE_CODEC, ...opts })).png);

/** A hand-built container: metadata JSON, raster rows and chunk layout all chosen by the test. */
function container(opts: { payload: Uint8Array; g?: number; meta?: Record<string, unknown>; before?: RawChunk[]; after?: RawChunk[]; filters?: number | number[]; split?: number; metaChunk?: (json: string) => RawChunk }) {
  const g = opts.g ?? 8;
  // A key given as undefined is left out (a file without data_hash, say).
  const meta = Object.fromEntries(Object.entries({ format: "PixelRTS-2.0", grid_size: g, data_hash: sha(opts.payload), data_size: opts.payload.length, ...opts.meta }).filter(([, v]) => v !== undefined));
  const json = pyDumps(meta as Record<string, unknown>);
  const metaChunk = (opts.metaChunk ?? ((j: string) => text("PixelRTS", `PixelRTS${j}`)))(json);
  const raw = filterRows(rgbaRowsFor(opts.payload, g), 4, opts.filters ?? 0);
  return buildPng([ihdr(g, g), ...(opts.before ?? [metaChunk]), ...idats(raw, opts.split ?? 0), ...(opts.after ?? []), iend()]);
}

describe("encode → decode round trip", () => {
  it("returns the payload for sizes around 4-byte, 64-byte and grid boundaries", async () => {
    for (const n of [1, 2, 3, 4, 5, 15, 16, 17, 63, 64, 65, 255, 256, 257, 1023, 1024, 1025, 16383, 16384, 16385, 65535, 65536, 65537, 262_143, 262_144, 262_145]) {
      const payload = bytes(n, n);
      const d = await decodeContainer(await pack(payload), NODE_CODEC);
      expect(d.sha256, `n=${n}`).toBe(sha(payload));
      expect(d.integrity).toBe("verified");
    }
  });

  it("holds for random payloads up to 3 MB, on the Web and the Node platform", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 3_000_000 }), fc.integer(), fc.boolean(), async (n, seed, web) => {
        const payload = bytes(n, seed);
        const file = await pack(payload, web ? { zlib: undefined, crc32: undefined, sha256: undefined } : {});
        const d = await decodeContainer(file, web ? {} : NODE_CODEC);
        expect(d.sha256).toBe(sha(payload));
        expect(d.payload.length).toBe(n);
      }),
      { numRuns: 12 },
    );
  });

  it("honours an explicit grid and refuses one that is too small or not a power of two", async () => {
    const payload = bytes(100);
    const d = await decodeContainer(await pack(payload, { gridSize: 64 }), NODE_CODEC);
    expect(d.ihdr.width).toBe(64);
    expect(d.sha256).toBe(sha(payload));
    await expect(pack(payload, { gridSize: 4 })).rejects.toMatchObject({ code: "E_GRID_TOO_SMALL", message: "Data size (100) exceeds grid capacity (64)" });
    await expect(pack(payload, { gridSize: 12 })).rejects.toMatchObject({ code: "E_BAD_GRID", message: "Grid size must be power of 2, got 12" });
  });

  it("refuses to write an empty payload but decodes the older encoder's 1x1 empty file", async () => {
    await expect(pack(new Uint8Array(0))).rejects.toMatchObject({ code: "E_EMPTY_PAYLOAD" });
    const d = await decodeContainer(container({ payload: new Uint8Array(0), g: 1 }));
    expect(d.payload.length).toBe(0);
    expect(d.sha256).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  });

  it("reads its own head (metadata before the first IDAT) from a short prefix", async () => {
    const file = await pack(bytes(5000));
    const partial = await scanContainerHead(file.subarray(0, 20));
    expect(partial.done).toBe(false);
    const scan = await scanContainerHead(file.subarray(0, 4000));
    expect(scan.done).toBe(true);
    if (scan.done) {
      expect(scan.head.metadata.data_size).toBe(5000);
      expect(scan.head.ihdr.width).toBe(64);
    }
  });
});

describe("PNG variants the original's Pillow decoder accepts", () => {
  const payload = bytes(200, 7);
  it.each([[0], [1], [2], [3], [4], [[0, 1, 2, 3, 4]]])("every filter type (%j)", async (filters) => {
    const d = await decodeContainer(container({ payload, filters }), NODE_CODEC);
    expect(d.sha256).toBe(sha(payload));
  });

  it("IDAT split into tiny and empty chunks", async () => {
    const raw = filterRows(rgbaRowsFor(payload, 8), 4, 4);
    const z = zlib.deflateSync(raw);
    const parts: RawChunk[] = [];
    for (let i = 0; i < z.length; i += 7) parts.push({ type: "IDAT", data: z.subarray(i, i + 7) }, { type: "IDAT", data: new Uint8Array(0) });
    const meta = pyDumps({ data_hash: sha(payload), data_size: payload.length });
    const file = buildPng([ihdr(8, 8), text("PixelRTS", `PixelRTS${meta}`), ...parts, iend()]);
    expect((await decodeContainer(file)).sha256).toBe(sha(payload));
  });

  it.each([
    ["zTXt", (j: string) => ztxt("PixelRTS", `PixelRTS${j}`)],
    ["iTXt", (j: string) => itxt("PixelRTS", `PixelRTS${j}`)],
    ["compressed iTXt", (j: string) => itxt("PixelRTS", `PixelRTS${j}`, true)],
    ["a tEXt with another keyword", (j: string) => text("Comment", `PixelRTS${j}`)],
  ])("metadata in %s", async (_name, metaChunk) => {
    const d = await decodeContainer(container({ payload, metaChunk }), NODE_CODEC);
    expect(d.sha256).toBe(sha(payload));
  });

  it("metadata after the image data", async () => {
    const json = pyDumps({ data_hash: sha(payload), data_size: payload.length });
    const d = await decodeContainer(container({ payload, before: [], after: [text("PixelRTS", `PixelRTS${json}`)] }), NODE_CODEC);
    expect(d.sha256).toBe(sha(payload));
  });

  it("skips the blueprint chunk and takes the first chunk that parses", async () => {
    const json = pyDumps({ data_hash: sha(payload), data_size: payload.length });
    const file = container({ payload, before: [text("PixelRTS-Blueprint", 'PixelRTS-Blueprint{"x":1}'), text("PixelRTS", "PixelRTS{not json"), text("PixelRTS", `PixelRTS${json}`)] });
    expect((await decodeContainer(file)).sha256).toBe(sha(payload));
  });

  it("RGB, grey, grey+alpha and palette images, converted to RGBA like Pillow", async () => {
    // One 4x4 grey image: every pixel (v, v, v, 255) → payload is that pattern along the curve.
    const g = 4;
    const grey = Array.from({ length: g }, (_, y) => Uint8Array.from({ length: g }, (_, x) => y * 16 + x));
    const expectPayload = (rgbaOf: (x: number, y: number) => number[]) => {
      const out = new Uint8Array(4 * g * g);
      for (let y = 0; y < g; y++) for (let x = 0; x < g; x++) out.set(rgbaOf(x, y), 4 * Number(xy(g, x, y)));
      return out;
    };
    const xy = (gg: number, x: number, y: number) => {
      const rows = rgbaRowsFor(Uint8Array.from({ length: 4 * gg * gg }, (_, i) => Math.floor(i / 4) & 0xff), gg);
      return rows[y]![4 * x]!;
    };
    const cases: { colorType: number; rows: Uint8Array[]; rgba: (x: number, y: number) => number[]; extra?: RawChunk[] }[] = [
      { colorType: 0, rows: grey, rgba: (x, y) => [y * 16 + x, y * 16 + x, y * 16 + x, 255] },
      { colorType: 4, rows: grey.map((r) => Uint8Array.from([...r].flatMap((v) => [v, 255 - v]))), rgba: (x, y) => [y * 16 + x, y * 16 + x, y * 16 + x, 255 - (y * 16 + x)] },
      { colorType: 2, rows: grey.map((r) => Uint8Array.from([...r].flatMap((v) => [v, v + 1, v + 2]))), rgba: (x, y) => [y * 16 + x, y * 16 + x + 1, y * 16 + x + 2, 255] },
      {
        colorType: 3,
        rows: grey.map((r) => Uint8Array.from([...r].map((v) => v % 16))),
        rgba: (x) => [x * 10, x * 10 + 1, x * 10 + 2, x === 0 ? 7 : 255],
        extra: [{ type: "PLTE", data: Uint8Array.from({ length: 48 }, (_, i) => Math.floor(i / 3) * 10 + (i % 3)) }, { type: "tRNS", data: new Uint8Array([7]) }],
      },
    ];
    for (const c of cases) {
      const payload = expectPayload(c.rgba);
      const bpp = { 0: 1, 2: 3, 3: 1, 4: 2 }[c.colorType]!;
      const meta = pyDumps({ data_hash: sha(payload), data_size: payload.length });
      const file = buildPng([ihdr(g, g, c.colorType), ...(c.extra ?? []), text("PixelRTS", `PixelRTS${meta}`), ...idats(filterRows(c.rows, bpp, 4)), iend()]);
      const d = await decodeContainer(file, NODE_CODEC);
      expect(d.sha256, `colour type ${c.colorType}`).toBe(sha(payload));
    }
  });

  it("zlib- and zstd-compressed payloads (compression metadata)", async () => {
    const original = new TextEncoder().encode("kernel ".repeat(300));
    const z = new Uint8Array(zlib.deflateSync(original));
    // A Zstandard frame with one raw block: magic, single-segment header with 2-byte size, block.
    const n = original.length;
    const zst = concatBytes([new Uint8Array([0x28, 0xb5, 0x2f, 0xfd, 0x60, (n - 256) & 0xff, (n - 256) >> 8]), new Uint8Array([(1 | (n << 3)) & 0xff, (n << 3) >> 8 & 0xff, (n << 3) >> 16]), original]);
    for (const [type, stored] of [["zlib", z], ["zstd-h5", zst], ["zlib", zst]] as const) {
      const file = container({
        payload: stored,
        g: 64,
        meta: { data_hash: sha(original), data_size: original.length, encoded_size: stored.length, compression: { type, level: 3, original_size: original.length, compressed_size: stored.length, ratio: stored.length / original.length } },
      });
      const d = await decodeContainer(file, NODE_CODEC);
      expect(d.sha256, type).toBe(sha(original));
    }
    const wrongSize = container({ payload: z, g: 64, meta: { data_hash: sha(original), data_size: original.length, encoded_size: z.length, compression: { type: "zlib", original_size: 5 } } });
    await expect(decodeContainer(wrongSize, NODE_CODEC)).rejects.toMatchObject({ code: "E_DECOMPRESS" });
  });

  it("code mode takes the payload from original_data_b64, and refuses code mode without it", async () => {
    const payload = bytes(27);
    const b64 = Buffer.from(payload).toString("base64");
    const ok = container({ payload: new Uint8Array(64), g: 4, meta: { encoding_mode: "RGBA-code", data_hash: sha(payload), data_size: 27, original_data_b64: b64 } });
    expect((await decodeContainer(ok)).sha256).toBe(sha(payload));
    const missing = container({ payload: new Uint8Array(64), g: 4, meta: { encoding_mode: "RGBA-code", data_hash: sha(payload), data_size: 27 } });
    await expect(decodeContainer(missing)).rejects.toMatchObject({ code: "E_UNSUPPORTED_ENCODING" });
  });
});

describe("hostile and broken input gives a clear error, never a hang or a crash", () => {
  const payload = bytes(300, 3);
  const metaText = (m: Record<string, unknown> = {}) => text("PixelRTS", `PixelRTS${pyDumps({ data_hash: sha(payload), data_size: 300, ...m })}`);
  const validChunks = (): RawChunk[] => [ihdr(16, 16), metaText(), ...idats(filterRows(rgbaRowsFor(payload, 16), 4)), iend()];

  it("the unbroken file used below decodes", async () => {
    expect((await decodeContainer(buildPng(validChunks()))).sha256).toBe(sha(payload));
  });

  it("every truncation of a valid file is refused", async () => {
    const file = container({ payload, g: 16, split: 50 });
    for (let cut = 0; cut < file.length; cut += 7) {
      const err = await decodeContainer(file.subarray(0, cut)).catch((e) => e);
      expect(["E_NOT_PNG", "E_PNG_CORRUPT"], `cut at ${cut}`).toContain(err.code);
    }
  });

  it("a bad CRC in any chunk is E_PNG_CRC", async () => {
    for (const which of ["IHDR", "tEXt", "IDAT", "IEND"]) {
      const good = buildPng(validChunks());
      const bad = buildPng(validChunks().map((c) => (c.type === which ? { ...c, crc: 0xdeadbeef } : c)));
      expect(good.length).toBe(bad.length);
      await expect(decodeContainer(bad), which).rejects.toMatchObject({ code: "E_PNG_CRC" });
    }
  });

  it("not a PNG at all", async () => {
    await expect(decodeContainer(new TextEncoder().encode("<html>502 Bad Gateway</html>"))).rejects.toMatchObject({ code: "E_NOT_PNG" });
    await expect(decodeContainer(new Uint8Array(0))).rejects.toMatchObject({ code: "E_NOT_PNG" });
  });

  it("a giant IHDR is refused before anything is allocated", async () => {
    const meta = pyDumps({ data_hash: sha(payload), data_size: 300 });
    const file = buildPng([ihdr(1 << 30, 1 << 30), text("PixelRTS", `PixelRTS${meta}`), ...idats(new Uint8Array(10)), iend()]);
    await expect(decodeContainer(file)).rejects.toMatchObject({ code: "E_TOO_LARGE" });
    const late = buildPng([ihdr(1 << 20, 1 << 20), ...idats(new Uint8Array(10)), text("PixelRTS", `PixelRTS${meta}`), iend()]);
    await expect(decodeContainer(late)).rejects.toMatchObject({ code: "E_TOO_LARGE" });
  });

  it("a chunk declaring 2 GB of text is refused without reading it", async () => {
    const file = concatBytes([buildPng([ihdr(8, 8)]), new Uint8Array([0x7f, 0xff, 0xff, 0xff, 0x74, 0x45, 0x58, 0x74, 1, 2, 3])]);
    await expect(decodeContainer(file)).rejects.toMatchObject({ code: "E_TOO_LARGE" });
  });

  it("metadata JSON bombs: deep nesting and a zTXt that inflates without end", async () => {
    const deep = container({ payload, metaChunk: () => text("PixelRTS", "PixelRTS" + "[".repeat(200_000) + "]".repeat(200_000)) });
    await expect(decodeContainer(deep)).rejects.toMatchObject({ code: "E_NO_METADATA" });
    const bomb = { type: "zTXt", data: concatBytes([new TextEncoder().encode("PixelRTS\0\0"), zlib.deflateSync(Buffer.alloc(80 << 20, 0x20))]) };
    await expect(decodeContainer(container({ payload, metaChunk: () => bomb }), { maxTextBytes: 16 << 20 })).rejects.toMatchObject({ code: "E_TOO_LARGE" });
  });

  /** A zstd frame of RLE blocks, each 1 MiB of 'A' from 4 bytes: 400 of them are 400 MiB from 1.6 kB. */
  const zstdRleBomb = (blocks: number, blockSize = 1 << 20) => {
    const out: number[] = [0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x58]; // magic, no content size, window 32 MiB
    for (let i = 0; i < blocks; i++) {
      const h = (i === blocks - 1 ? 1 : 0) | (1 << 1) | (blockSize << 3);
      out.push(h & 255, (h >> 8) & 255, (h >> 16) & 255, 0x41);
    }
    return new Uint8Array(out);
  };
  const A16 = new Uint8Array(16).fill(0x41);
  const compressed = (stored: Uint8Array, type: string, original: Uint8Array, originalSize = original.length) =>
    container({ payload: stored, g: 256, meta: { data_hash: sha(original), data_size: original.length, encoded_size: stored.length, compression: { type, original_size: originalSize } } });

  it("decompression bombs stop at original_size, even when the first original_size bytes match data_hash (regression)", async () => {
    // data_hash is that of the first 16 output bytes: only the bound itself can refuse this file
    // (a decoder that cut the output at 16 bytes, or never bounded it, would not say this).
    const zst = zstdRleBomb(400);
    const err = await decodeContainer(compressed(zst, "zstd-h5", A16), NODE_CODEC).catch((e) => e);
    expect(err).toMatchObject({ code: "E_DECOMPRESS", message: "Decompression failed: output exceeds original_size 16" });
    const z = new Uint8Array(zlib.deflateSync(Buffer.alloc(64 << 20, 0x41)));
    for (const platform of [{}, NODE_CODEC]) {
      await expect(decodeContainer(compressed(z, "zlib", A16), platform)).rejects.toMatchObject({ code: "E_DECOMPRESS", message: "Decompression failed: output exceeds original_size 16" });
    }
    await expect(decodeContainer(container({ payload: zst, g: 32, meta: { data_hash: sha(A16), data_size: 16, encoded_size: zst.length, compression: { type: "zstd-h5" } } }))).rejects.toMatchObject({ code: "E_METADATA_INVALID" });
    await expect(decodeContainer(compressed(zst, "zstd-h5", A16, 2 ** 40))).rejects.toMatchObject({ code: "E_TOO_LARGE" });
  });

  it("zstd output past original_size is E_DECOMPRESS, as zlib's is, not silently cut (regression)", async () => {
    const original = bytes(300, 5);
    const n = original.length;
    // One raw block holding all 300 bytes, in a frame that does not declare its size.
    const zst = concatBytes([new Uint8Array([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x00]), new Uint8Array([(1 | (n << 3)) & 0xff, ((n << 3) >> 8) & 0xff, (n << 3) >> 16]), original]);
    const first200 = original.subarray(0, 200);
    const zlibbed = new Uint8Array(zlib.deflateSync(original));
    for (const [type, stored] of [["zstd-h5", zst], ["zlib", zlibbed]] as const) {
      const ok = await decodeContainer(compressed(stored, type, original), NODE_CODEC);
      expect(ok.sha256, type).toBe(sha(original));
      // original_size 200 and data_hash of the first 200 bytes: cutting would "verify".
      await expect(decodeContainer(compressed(stored, type, first200), NODE_CODEC), type).rejects.toMatchObject({ code: "E_DECOMPRESS", message: "Decompression failed: output exceeds original_size 200" });
    }
  });

  it("zstd frame headers cannot make the decoder allocate what original_size does not allow", async () => {
    // Single-segment frame declaring 2^32 + 255 bytes (8-byte size field) with one empty last block.
    const huge = new Uint8Array([0x28, 0xb5, 0x2f, 0xfd, 0xe0, 0xff, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0]);
    await expect(decodeContainer(compressed(huge, "zstd-h5", A16))).rejects.toMatchObject({ code: "E_DECOMPRESS", message: "Decompression failed: output exceeds original_size 16" });
    // A window descriptor asking for ~2 GiB (exponent 20, mantissa 7).
    const wide = new Uint8Array([0x28, 0xb5, 0x2f, 0xfd, 0x00, (21 << 3) | 7, 1, 0, 0]);
    await expect(decodeContainer(compressed(wide, "zstd-h5", A16))).rejects.toMatchObject({ code: "E_DECOMPRESS", message: expect.stringMatching(/window of \d+ bytes is over/) });
    // Truncated inside a block, and trailing bytes that are not a frame.
    const cut = zstdRleBomb(3, 8).subarray(0, 12);
    await expect(decodeContainer(compressed(cut, "zstd-h5", A16))).rejects.toMatchObject({ code: "E_DECOMPRESS" });
    const trailing = concatBytes([zstdRleBomb(2, 8), new Uint8Array([1, 2, 3, 4, 5])]);
    await expect(decodeContainer(compressed(trailing, "zstd-h5", A16))).rejects.toMatchObject({ code: "E_DECOMPRESS" });
    // Two frames and a skippable frame between them decode to their concatenation.
    const skippable = new Uint8Array([0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 9, 9, 9]);
    const two = concatBytes([zstdRleBomb(1, 8), skippable, zstdRleBomb(1, 8)]);
    expect((await decodeContainer(compressed(two, "zstd-h5", A16), NODE_CODEC)).sha256).toBe(sha(A16));
  });

  it("many compressed text chunks share one budget (regression)", async () => {
    const z = { type: "zTXt", data: concatBytes([new TextEncoder().encode("Comment\0\0"), zlib.deflateSync(Buffer.alloc(6 << 20, 0x20))]) };
    const file = container({ payload, g: 16, before: [z, z, z, z, z, text("PixelRTS", `PixelRTS${pyDumps({ data_hash: sha(payload), data_size: 300 })}`)] });
    await expect(decodeContainer(file, { maxTextBytes: 16 << 20 })).rejects.toMatchObject({ code: "E_TOO_LARGE" });
  });

  it("metadata claiming more bytes than the grid holds is rejected, not truncated", async () => {
    const file = container({ payload, g: 16, meta: { data_size: 16 * 16 * 4 + 1 } });
    await expect(decodeContainer(file)).rejects.toMatchObject({ code: "E_SIZE_EXCEEDS_GRID" });
  });

  it.each([
    [{ data_size: -1 }, "E_METADATA_INVALID"],
    [{ data_size: 1.5 }, "E_METADATA_INVALID"],
    [{ data_size: "300" }, "E_METADATA_INVALID"],
    [{ data_hash: "abc" }, "E_METADATA_INVALID"],
    [{ hashes: { data: "0".repeat(64) } }, "E_METADATA_INVALID"],
  ])("invalid metadata %j → %s", async (meta, code) => {
    await expect(decodeContainer(container({ payload, g: 16, meta }))).rejects.toMatchObject({ code });
  });

  it("no metadata at all is E_NO_METADATA with the original's wording, or the raw grid on request", async () => {
    const file = buildPng([ihdr(16, 16), ...idats(filterRows(rgbaRowsFor(payload, 16), 4)), iend()]);
    await expect(decodeContainer(file)).rejects.toMatchObject({ code: "E_NO_METADATA", message: expect.stringContaining("No metadata found") });
    const raw = await decodeContainer(file, { raw: true });
    expect(raw.payload.length).toBe(1024);
    expect(sha(raw.payload.subarray(0, 300))).toBe(sha(payload));
  });

  it("non-square, non-power-of-two, interlaced, 16-bit and bad filter bytes", async () => {
    const meta = text("PixelRTS", `PixelRTS${pyDumps({ data_hash: sha(payload), data_size: 8 })}`);
    const rows = (w: number, h: number) => filterRows(Array.from({ length: h }, () => new Uint8Array(w * 4)), 4);
    await expect(decodeContainer(buildPng([ihdr(8, 4), meta, ...idats(rows(8, 4)), iend()]))).rejects.toMatchObject({ code: "E_NOT_SQUARE", message: "Image must be square, got 8x4" });
    await expect(decodeContainer(buildPng([ihdr(6, 6), meta, ...idats(rows(6, 6)), iend()]))).rejects.toMatchObject({ code: "E_GRID_NOT_POW2", message: "Invalid grid size: 6 (not power of 2)" });
    await expect(decodeContainer(buildPng([ihdr(8, 8, 6, 8, 1), meta, ...idats(rows(8, 8)), iend()]))).rejects.toMatchObject({ code: "E_PNG_UNSUPPORTED" });
    await expect(decodeContainer(buildPng([ihdr(8, 8, 6, 16), meta, ...idats(rows(8, 8)), iend()]))).rejects.toMatchObject({ code: "E_PNG_UNSUPPORTED" });
    const badFilter = rows(8, 8);
    badFilter[33 * 3] = 9;
    await expect(decodeContainer(buildPng([ihdr(8, 8), meta, ...idats(badFilter), iend()]))).rejects.toMatchObject({ code: "E_PNG_CORRUPT" });
  });

  it("image data that ends early or does not inflate", async () => {
    const short = filterRows(rgbaRowsFor(payload, 16), 4).subarray(0, 100);
    const garbage = { type: "IDAT", data: new Uint8Array([1, 2, 3, 4, 5]) };
    for (const platform of [{}, NODE_CODEC]) {
      await expect(decodeContainer(buildPng([ihdr(16, 16), metaText(), ...idats(short), iend()]), platform)).rejects.toMatchObject({ code: "E_PNG_CORRUPT", message: expect.stringContaining("ends early") });
      await expect(decodeContainer(buildPng([ihdr(16, 16), metaText(), garbage, iend()]), platform)).rejects.toMatchObject({ code: "E_PNG_CORRUPT", message: expect.stringContaining("does not inflate") });
    }
  });
});

describe("boot bundles (spec §6.3)", () => {
  const kernel = bytes(5000, 11);
  const initrd = bytes(2000, 12);
  const input = { segments: [{ name: "kernel", type: "kernel", data: kernel }, { name: "initrd", type: "initrd", data: initrd }], boot: { cmdline: "console=ttyS0", arch: "x86_64", memory: "512M", cpus: 1 } };

  it("lays segments at 4 KiB starts with zero gaps and writes the spec's metadata shape", async () => {
    const layout = await layoutBundle(input);
    expect(layout.segments.map((s) => [s.name, s.start, s.size])).toEqual([["kernel", 0, 5000], ["initrd", 8192, 2000]]);
    expect(layout.payload.length).toBe(10192);
    expect(layout.payload.subarray(5000, 8192).every((b) => b === 0)).toBe(true);
    const enc = await encodeContainer(layout.payload, bundleMetadata(layout, input), NODE_CODEC);
    const K = sha(kernel), I = sha(initrd), D = sha(layout.payload);
    expect(enc.text).toBe(
      `PixelRTS{"format":"PixelRTS-2.0","format_version":2,"grid_size":64,"encoding":{"type":"RGBA-dense","bytes_per_pixel":4,"mapping":"Hilbert space-filling curve"},` +
        `"offsets":{"kernel":{"start":0,"size":5000,"sha256":"${K}","type":"kernel"},"initrd":{"start":8192,"size":2000,"sha256":"${I}","type":"initrd"}},` +
        `"hashes":{"kernel":"${K}","initrd":"${I}","data":"${D}"},"encoding_mode":"RGBA-dense","type":"boot-bundle",` +
        `"boot":{"cmdline":"console=ttyS0","arch":"x86_64","memory":"512M","cpus":1},"data_hash":"${D}","data_size":10192}`,
    );
    const d = await decodeContainer(await collectBytes(enc.png), NODE_CODEC);
    const segs = listSegments(d.metadata, d.payload.length);
    expect(sha(await extractSegment(d.metadata, d.payload, segs[0]!))).toBe(K);
    expect(sha(await extractSegment(d.metadata, d.payload, segs[1]!))).toBe(I);
  });

  it("refuses segments out of bounds, overlapping or with a wrong hash", async () => {
    const base = { type: "boot-bundle", data_size: 100, hashes: {} as Record<string, string> };
    expect(() => listSegments({ ...base, offsets: { kernel: { start: 90, size: 20 } } }, 100)).toThrow(expect.objectContaining({ code: "E_SEGMENT_BOUNDS" }));
    expect(() => listSegments({ ...base, offsets: { kernel: { start: 0, size: 60 }, initrd: { offset: 50, size: 10 } } }, 100)).toThrow(expect.objectContaining({ code: "E_SEGMENT_BOUNDS" }));
    const payload = bytes(100);
    const m = { ...base, offsets: { kernel: { start: 0, size: 50, sha256: "0".repeat(64) } } };
    await expect(extractSegment(m, payload, listSegments(m, 100)[0]!)).rejects.toMatchObject({ code: "E_SEGMENT_HASH_MISMATCH" });
  });

  it("verifies an Ed25519 signature over hashes.data: trusted key, embedded key, forged value", async () => {
    const { publicKey, privateKey } = generateKeyPairSync("ed25519");
    const pub = (publicKey.export({ format: "der", type: "spki" }) as Buffer).subarray(-32).toString("hex");
    const layout = await layoutBundle(input);
    const build = (forge: boolean) =>
      encodeContainer(layout.payload, (ctx) => {
        const doc = bundleMetadata(layout, input)(ctx);
        let value = sign(null, Buffer.from(ctx.dataHash, "hex"), privateKey).toString("hex");
        if (forge) value = (value[0] === "0" ? "1" : "0") + value.slice(1);
        doc.set("signature", new Map([["algorithm", "Ed25519"], ["public_key", pub], ["value", value]]));
        return doc;
      }, NODE_CODEC);
    const good = await collectBytes((await build(false)).png);
    expect((await decodeContainer(good, { trustedKeys: [pub] })).signature.state).toBe("trusted");
    expect((await decodeContainer(good)).signature.state).toBe("untrusted");
    await expect(decodeContainer(await collectBytes((await build(true)).png))).rejects.toMatchObject({ code: "E_SIGNATURE_INVALID" });
  });

  it("a valid signature is trusted only for the payload whose hash it signs (regression: no data_hash, any payload, 'trusted')", async () => {
    const { publicKey, privateKey } = generateKeyPairSync("ed25519");
    const pub = (publicKey.export({ format: "der", type: "spki" }) as Buffer).subarray(-32).toString("hex");
    const signed = bytes(200, 21);
    const signedHash = sha(signed);
    const signature = { algorithm: "Ed25519", public_key: pub, value: sign(null, Buffer.from(signedHash, "hex"), privateKey).toString("hex") };
    // The signature and hashes.data of one payload, on a file that carries another and no data_hash.
    const other = bytes(200, 22);
    const forged = container({ payload: other, g: 16, meta: { data_hash: undefined, hashes: { data: signedHash }, signature } });
    await expect(decodeContainer(forged, { trustedKeys: [pub] })).rejects.toMatchObject({ code: "E_SIGNATURE_INVALID", message: expect.stringContaining("it signs other bytes") });
    const looked = await decodeContainer(forged, { trustedKeys: [pub], verify: false });
    expect(looked.integrity).toBe("unverified");
    expect(looked.signature.state).toBe("invalid");
    // The same signature on the payload it signs, still without data_hash: trusted, as the hash was checked.
    const genuine = await decodeContainer(container({ payload: signed, g: 16, meta: { data_hash: undefined, hashes: { data: signedHash }, signature } }), { trustedKeys: [pub] });
    expect(genuine.integrity).toBe("unverified");
    expect(genuine.signature).toEqual({ state: "trusted", publicKey: pub });
    // With --no-verify on a payload that fails its data_hash, the signature is not trusted either.
    const flipped = container({ payload: other, g: 16, meta: { data_hash: signedHash, hashes: { data: signedHash }, signature } });
    expect((await decodeContainer(flipped, { trustedKeys: [pub], verify: false })).signature.state).toBe("invalid");
  });
});
