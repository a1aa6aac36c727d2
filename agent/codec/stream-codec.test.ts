/**
 * The streaming codec against the in-memory one: files encoded from disk in worker threads
 * decode (in memory and to files) to the same bytes; decoding to files checks every digest and
 * leaves nothing behind on a mismatch; adler32Combine agrees with a straight Adler-32.
 */
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inflateSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import { bundleMetadata, placeSegments } from "../../shared/container/bundle.js";
import { converterMetadata } from "../../shared/container/converter.js";
import { encodeContainer } from "../../shared/container/encode.js";
import { checkGridLimit, parseMaxGrid } from "../../shared/container/head.js";
import { d2xy } from "../../shared/hilbert.js";
import { readPngChunks } from "../../shared/png/chunks.js";
import { adler32, adler32Combine, zlibHeader } from "../../shared/zlib.js";
import { decodeToFiles, extractPayloadToFile } from "./decode-file.js";
import { encodeFilesToPng } from "./encode-file.js";
import { decodeFile } from "./files.js";
import { maxGridFromEnv } from "./limits.js";
import { NODE_CODEC } from "./node-platform.js";
import { pyDumps } from "../../shared/pyjson.js";
import { buildPng, filterRows, iend, idats, ihdr, text } from "../../test/helpers/png-builder.js";

const work = mkdtempSync(join(tmpdir(), "pixelrts-stream-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

describe("adler32Combine", () => {
  it("equals the Adler-32 of the concatenation", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 20000 }), fc.uint8Array({ maxLength: 20000 }), (a, b) => {
        const whole = new Uint8Array(a.length + b.length);
        whole.set(a);
        whole.set(b, a.length);
        expect(adler32Combine(adler32(a), adler32(b), b.length)).toBe(adler32(whole));
      }),
      { numRuns: 200 },
    );
    // Long runs of 0xff push the sums to their limits.
    const big = new Uint8Array(70_000).fill(255);
    expect(adler32Combine(adler32(big), adler32(big), big.length)).toBe(adler32(new Uint8Array(140_000).fill(255)));
  });

  it("writes the header zlib writes", () => {
    expect([...zlibHeader(6)]).toEqual([0x78, 0x9c]);
    expect([...zlibHeader(1)]).toEqual([0x78, 0x01]);
    expect([...zlibHeader(9)]).toEqual([0x78, 0xda]);
  });
});

describe("encodeFilesToPng (parallel bands) and decodeToFiles (positioned writes)", () => {
  const sizes = [1, 100, 4096 * 4 + 3, 1_000_003, 5 * 1024 * 1024 + 17];
  for (const n of sizes) {
    it(`round-trips ${n} bytes through files, agreeing with the in-memory codec`, async () => {
      const payload = randomBytes(n);
      const input = join(work, `in-${n}.bin`);
      writeFileSync(input, payload);
      const out = join(work, `out-${n}.rts.png`);
      // Small bands: many of them, so the join and the combined Adler-32 are exercised.
      const enc = await encodeFilesToPng([{ path: input, start: 0, size: n }], n, out, (ctx) => converterMetadata({ name: "x" }, "x.bin")(ctx), { bandBytes: 50_000, threads: 2 });
      expect(enc.dataHash).toBe(sha(payload));
      // Metadata is the converter's, byte for byte, as the in-memory encoder writes it.
      const mem = await encodeContainer(payload, converterMetadata({ name: "x" }, "x.bin"), NODE_CODEC);
      expect(enc.text).toBe(mem.text);
      const png = readFileSync(out);
      // One valid zlib stream across the IDATs (node's inflate checks the Adler-32).
      const idat: Buffer[] = [];
      for await (const c of readPngChunks(png)) if (c.type === "IDAT") idat.push(Buffer.from(c.data));
      const raster = inflateSync(Buffer.concat(idat));
      expect(raster.length).toBe(enc.gridSize * (4 * enc.gridSize + 1));
      const decoded = await decodeFile(out, { sidecar: false });
      expect(Buffer.from(decoded.payload).equals(payload)).toBe(true);
      const back = join(work, `back-${n}.bin`);
      const d = await extractPayloadToFile(out, back);
      expect(d.integrity).toBe("verified");
      expect(readFileSync(back).equals(payload)).toBe(true);
      // Pixel placement checked independently of our tables: payload byte k is channel k%4 of d2xy(G, k/4).
      const g = enc.gridSize;
      for (const k of [0, n - 1, Math.floor(n / 2), Math.floor(n / 3)]) {
        const [x, y] = d2xy(g, Math.floor(k / 4));
        expect(raster[y * (4 * g + 1) + 1 + 4 * x + (k % 4)]).toBe(payload[k]);
      }
    });
  }

  it("threads: 0 (on this thread, the default for an image of one band) writes the same bytes as worker threads", async () => {
    for (const [n, bandBytes] of [[100, undefined], [300_001, 50_000]] as const) {
      const input = join(work, `same-${n}.bin`);
      writeFileSync(input, randomBytes(n));
      const files = [{ path: input, start: 0, size: n }];
      const meta = (ctx: Parameters<ReturnType<typeof converterMetadata>>[0]) => converterMetadata({ name: "x" }, "x.bin")(ctx);
      const opts = bandBytes ? { bandBytes } : {};
      await encodeFilesToPng(files, n, join(work, `t0-${n}.png`), meta, { ...opts, threads: 0 });
      await encodeFilesToPng(files, n, join(work, `t2-${n}.png`), meta, { ...opts, threads: 2 });
      await encodeFilesToPng(files, n, join(work, `auto-${n}.png`), meta, opts);
      const t2 = readFileSync(join(work, `t2-${n}.png`));
      expect(readFileSync(join(work, `t0-${n}.png`)).equals(t2)).toBe(true);
      expect(readFileSync(join(work, `auto-${n}.png`)).equals(t2)).toBe(true);
      expect((await decodeFile(join(work, `t0-${n}.png`), { sidecar: false })).integrity).toBe("verified");
    }
  });

  it("decodes a bundle into its segment files and refuses a segment whose hash does not match", async () => {
    const kernel = randomBytes(300_001);
    const disk = randomBytes(2_000_000);
    writeFileSync(join(work, "k"), kernel);
    writeFileSync(join(work, "d"), disk);
    const input = { boot: { cmdline: "console=ttyS0", arch: "x86_64" } };
    const placed = placeSegments({ ...input, segments: [{ name: "kernel", type: "kernel", size: kernel.length }, { name: "disk", type: "disk", size: disk.length }] });
    const size = placed[1]!.start + disk.length;
    const files = [{ path: join(work, "k"), start: placed[0]!.start, size: kernel.length }, { path: join(work, "d"), start: placed[1]!.start, size: disk.length }];
    const out = join(work, "bundle.rts.png");
    for (const lie of [false, true]) {
      await encodeFilesToPng(files, size, out, (ctx, hashes) => bundleMetadata({ segments: placed.map((p, i) => ({ ...p, sha256: lie && i === 1 ? "0".repeat(64) : hashes[i]! })) }, input)(ctx), { bandBytes: 100_000 });
      const dir = join(work, `seg-${lie}`);
      const run = decodeToFiles(
        out,
        (m, n) => ({ regions: placed.map((p) => ({ name: p.name, start: p.start, size: p.size, expect: [m!.offsets![p.name]!.sha256 as string] })), paths: placed.map((p) => join(dir, p.name)) }),
        dir,
      );
      if (!lie) {
        const d = await run;
        expect(d.regions.map((r) => r.sha256)).toEqual([sha(kernel), sha(disk)]);
        expect(readFileSync(join(dir, "kernel")).equals(kernel)).toBe(true);
        expect(readFileSync(join(dir, "disk")).equals(disk)).toBe(true);
        expect(readdirSync(dir).sort()).toEqual(["disk", "kernel"]); // the scratch file for the gap is gone
      } else {
        await expect(run).rejects.toMatchObject({ code: "E_SEGMENT_HASH_MISMATCH" });
        expect(readdirSync(dir)).toEqual([]);
      }
    }
  });

  it("refuses a payload whose data_hash does not match, writing nothing", async () => {
    const payload = randomBytes(200_000);
    writeFileSync(join(work, "p"), payload);
    const out = join(work, "bad.rts.png");
    await encodeFilesToPng([{ path: join(work, "p"), start: 0, size: payload.length }], payload.length, out, (ctx) => converterMetadata({}, "p")({ ...ctx, dataHash: "1".repeat(64) }));
    const target = join(work, "bad.bin");
    await expect(extractPayloadToFile(out, target)).rejects.toMatchObject({ code: "E_HASH_MISMATCH" });
    expect(existsSync(target)).toBe(false);
    expect(readdirSync(work).filter((f) => f.startsWith(".bad.bin"))).toEqual([]);
  });

  it("a non-power-of-two grid with its metadata after the image data is E_GRID_NOT_POW2, as in memory (regression: E_IO)", async () => {
    const rows = filterRows(Array.from({ length: 6 }, () => new Uint8Array(6 * 4)), 4);
    const meta = text("PixelRTS", `PixelRTS${pyDumps({ data_size: 8 })}`);
    const file = join(work, "np2.png");
    writeFileSync(file, buildPng([ihdr(6, 6), ...idats(rows), meta, iend()]));
    await expect(extractPayloadToFile(file, join(work, "np2.bin"))).rejects.toMatchObject({ code: "E_GRID_NOT_POW2" });
  });

  it("takes PIXELRTS_MAX_GRID from the environment, within 8192..32768", () => {
    expect(maxGridFromEnv({})).toBe(32768);
    expect(maxGridFromEnv({ PIXELRTS_MAX_GRID: "16384" })).toBe(16384);
    for (const bad of ["4096", "10000", "65536", "x"]) expect(() => maxGridFromEnv({ PIXELRTS_MAX_GRID: bad })).toThrow(expect.objectContaining({ code: "E_CONFIG" }));
  });

  it("checkGridLimit (for the Worker's head checks) refuses grids over the limit only", () => {
    expect(() => checkGridLimit({ width: 32768, height: 32768 })).not.toThrow();
    expect(() => checkGridLimit({ width: 65536, height: 65536 })).toThrow(expect.objectContaining({ code: "E_TOO_LARGE" }));
    expect(() => checkGridLimit({ width: 16384, height: 16384 }, 8192)).toThrow(expect.objectContaining({ code: "E_TOO_LARGE" }));
    expect(parseMaxGrid(undefined)).toBe(32768);
    expect(parseMaxGrid("12345")).toBeUndefined();
  });

  it("refuses to encode a grid over the limit before reading a byte", async () => {
    await expect(encodeFilesToPng([{ path: join(work, "missing"), start: 0, size: 300 << 20 }], 300 << 20, join(work, "never.png"), () => new Map(), { maxGrid: 8192 })).rejects.toMatchObject({ code: "E_TOO_LARGE" });
  });
});
