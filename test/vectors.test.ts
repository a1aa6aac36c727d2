/**
 * The reference containers written by the original Python tool (test/fixtures/vectors, copied
 * from the team's shared vectors): they must decode exactly, fail with the right code when
 * corrupt, and our encoder must write the same metadata chunk for the same inputs.
 */
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { latin1 } from "../shared/bytes.js";
import { converterMetadata } from "../shared/container/converter.js";
import { decodeContainer } from "../shared/container/decode.js";
import { collectBytes, encodeContainer } from "../shared/container/encode.js";
import { TEXT_KEYWORD } from "../shared/container/metadata.js";
import { pyDumps, pyLoads } from "../shared/pyjson.js";
import { readPngChunks } from "../shared/png/chunks.js";
import { NODE_CODEC } from "../agent/codec/node-platform.js";
import { readRaster } from "./helpers/png-builder.js";

const DIR = join(import.meta.dirname, "fixtures/vectors");
interface Vector {
  vector: string;
  payload_file?: string;
  payload_sha256: string;
  embedded_metadata?: Record<string, unknown>;
  ihdr: { width: number };
  hilbert_first_pixels?: { index: number; x: number; y: number; rgba: number[] }[];
  png_chunks: string[];
}
const vectors: Vector[] = readdirSync(DIR)
  .filter((f) => f.endsWith(".vector.json"))
  .map((f) => JSON.parse(readFileSync(join(DIR, f), "utf8")));
const valid = vectors.filter((v) => !v.vector.startsWith("corrupt_"));
const png = (v: Vector) => new Uint8Array(readFileSync(join(DIR, v.vector)));
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

async function pixelRtsText(file: Uint8Array): Promise<string> {
  for await (const c of readPngChunks(file)) {
    if (c.type === "tEXt") {
      const t = latin1(c.data);
      if (t.startsWith(`${TEXT_KEYWORD}\0`)) return t.slice(TEXT_KEYWORD.length + 1);
    }
  }
  throw new Error("no PixelRTS tEXt chunk");
}

describe("reference vectors from the original tool", () => {
  it("covers every vector file", () => {
    expect(valid.length).toBeGreaterThanOrEqual(7);
    expect(vectors.length).toBe(valid.length + 2);
  });

  for (const platform of [{ name: "Web APIs (Worker path)", opts: {} }, { name: "node:zlib (agent path)", opts: NODE_CODEC }]) {
    it.each(valid.map((v) => [v.vector, v] as const))(`decodes %s to the recorded payload hash with ${platform.name}`, async (_n, v) => {
      const d = await decodeContainer(png(v), platform.opts);
      expect(d.sha256).toBe(v.payload_sha256);
      expect(d.integrity).toBe("verified");
      expect(d.metadataSource).toBe("embedded");
      if (v.payload_file) expect(sha(d.payload)).toBe(sha(new Uint8Array(readFileSync(join(DIR, v.payload_file)))));
    });
  }

  it("refuses the pixel-flipped file with E_HASH_MISMATCH and both digests", async () => {
    const v = vectors.find((x) => x.vector.startsWith("corrupt_pixelflip"))!;
    const err = await decodeContainer(png(v), NODE_CODEC).catch((e) => e);
    expect(err.code).toBe("E_HASH_MISMATCH");
    expect(err.message).toMatch(/^Hash mismatch: expected [0-9a-f]{64}, got [0-9a-f]{64}$/);
    expect(err.details.expected).not.toBe(err.details.actual);
    // --no-verify still returns the bytes, reported as skipped.
    const skipped = await decodeContainer(png(v), { ...NODE_CODEC, verify: false });
    expect(skipped.integrity).toBe("skipped");
    expect(skipped.sha256).toBe(err.details.actual);
  });

  it("refuses the IDAT-flipped file as a broken PNG (CRC), unlike the original", async () => {
    const v = vectors.find((x) => x.vector.startsWith("corrupt_idatflip"))!;
    await expect(decodeContainer(png(v), NODE_CODEC)).rejects.toMatchObject({ code: "E_PNG_CRC", message: expect.stringContaining("broken data stream") });
  });

  it.each(valid.map((v) => [v.vector, v] as const))("re-serialises the embedded metadata of %s byte for byte", async (_n, v) => {
    const text = await pixelRtsText(png(v));
    expect(text.startsWith(TEXT_KEYWORD)).toBe(true);
    const json = text.slice(TEXT_KEYWORD.length);
    expect(pyDumps(pyLoads(json))).toBe(json);
    expect(JSON.parse(json)).toEqual(v.embedded_metadata);
  });

  // Files the original converter wrote with the current grid rule, from payloads we have.
  const packable = valid.filter((v) => v.payload_file && !v.vector.startsWith("feb_") && !v.vector.startsWith("code_mode"));
  it.each(packable.map((v) => [v.vector, v] as const))("packs %s's payload with the same options into the same tEXt chunk", async (_n, v) => {
    const meta = v.embedded_metadata as { type?: string; name?: string; content_version?: string; description?: string };
    const opts = { type: meta.type, name: meta.name, version: meta.content_version, description: meta.description };
    const payload = new Uint8Array(readFileSync(join(DIR, v.payload_file!)));
    const encoded = await encodeContainer(payload, converterMetadata(opts, v.payload_file!.split("/").pop()!), NODE_CODEC);
    const ours = await collectBytes(encoded.png);
    expect(await pixelRtsText(ours)).toBe(await pixelRtsText(png(v)));
    expect(encoded.gridSize).toBe(v.ihdr.width);
    expect((await decodeContainer(ours, NODE_CODEC)).sha256).toBe(v.payload_sha256);
  });

  it.each(valid.filter((v) => !v.vector.startsWith("code_mode")).map((v) => [v.vector, v] as const))("%s has the recorded first pixels along the curve", async (_n, v) => {
    const { width, rgba } = await readRaster(png(v));
    for (const p of v.hilbert_first_pixels ?? []) {
      const o = (p.y * width + p.x) * 4;
      expect([...rgba.subarray(o, o + 4)], `pixel ${p.index}`).toEqual(p.rgba);
    }
  });

  it("places tiny_100b's bytes in rows 0 and 1 as the spec says, in the original's file and in ours", async () => {
    const payload = new Uint8Array(readFileSync(join(DIR, "payloads/tiny_100b.bin")));
    const ours = await collectBytes((await encodeContainer(payload, converterMetadata({}, "x.bin"), NODE_CODEC)).png);
    for (const file of [png(vectors.find((v) => v.vector === "tiny_100b.rts.png")!), ours]) {
      const { rgba } = await readRaster(file);
      const px = (x: number, y: number) => [...rgba.subarray((y * 8 + x) * 4, (y * 8 + x) * 4 + 4)];
      expect([px(0, 0), px(1, 0), px(2, 0), px(3, 0)]).toEqual([[0, 1, 2, 3], [12, 13, 14, 15], [16, 17, 18, 19], [20, 21, 22, 23]]);
      expect([px(0, 1), px(1, 1), px(2, 1), px(3, 1)]).toEqual([[4, 5, 6, 7], [8, 9, 10, 11], [28, 29, 30, 31], [24, 25, 26, 27]]);
    }
  });

  it("uses a converter sidecar when given, ignoring user_metadata", async () => {
    const v = valid.find((x) => x.vector === "tiny_100b.rts.png")!;
    const sidecar = readFileSync(join(DIR, "tiny_100b.rts.png.meta.json"), "utf8");
    expect(existsSync(join(DIR, "tiny_100b.rts.png.meta.json"))).toBe(true);
    const d = await decodeContainer(png(v), { ...NODE_CODEC, sidecarJson: sidecar });
    expect(d.metadataSource).toBe("sidecar");
    expect(d.metadata.user_metadata).toBeUndefined();
    expect(d.sha256).toBe(v.payload_sha256);
    expect(d.warnings).toEqual([]);
  });
});
