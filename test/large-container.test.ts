/**
 * One large container end to end, at a size that proves the memory bounds: a 600 MiB payload
 * (more than either bound) packed by the CLI into a 16384x16384 container with peak RSS under
 * 512 MiB, extracted back with peak RSS under 256 MiB (both measured in the CLI's own fresh
 * process), and read independently by Pillow: at a few thousand sampled curve indices, walked
 * with the spec's d2xy, its pixels equal the payload's bytes. No timing is asserted.
 */
import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, mkdtempSync, openSync, rmSync, statfsSync, writeSync, closeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runCli, WITH_RSS, withMaxRss } from "./helpers/cli.js";

const PYTHON = "/usr/bin/python3";
const hasPillow = spawnSync(PYTHON, ["-c", "import PIL"]).status === 0;
if (!hasPillow && process.env.CI) throw new Error("python3-pil is missing in CI: .ci/run must install it");
const work = mkdtempSync(join(tmpdir(), "pixelrts-large-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const MiB = 1024 * 1024;
const SIZE = 600 * MiB + 12_345; // a partial last pixel too
const ENCODE_RSS_MAX = 512 * MiB;
const DECODE_RSS_MAX = 256 * MiB;

/** The CLI in a fresh process that reports its own peak RSS (main thread and worker threads). */
const cliWithRss = async (...args: string[]) => withMaxRss(await runCli(args, { cwd: work, nodeArgs: [WITH_RSS] }));

/**
 * A payload deflate gets through quickly but whose every 16 KiB differs: a random 16 KiB block
 * repeated, each copy stamped with its own index. Returns its SHA-256.
 */
function writePayload(path: string, size: number): string {
  const block = randomBytes(16 * 1024);
  const h = createHash("sha256");
  const fd = openSync(path, "w");
  try {
    const chunk = Buffer.alloc(4 * MiB);
    for (let pos = 0, n = 0; pos < size; ) {
      for (let off = 0; off < chunk.length; off += block.length, n++) {
        block.copy(chunk, off);
        chunk.writeUInt32LE(n, off);
      }
      const len = Math.min(chunk.length, size - pos);
      writeSync(fd, chunk, 0, len);
      h.update(chunk.subarray(0, len));
      pos += len;
    }
  } finally {
    closeSync(fd);
  }
  return h.digest("hex");
}

async function sha256File(path: string): Promise<string> {
  const h = createHash("sha256");
  for await (const b of createReadStream(path, { highWaterMark: 4 * MiB })) h.update(b as Buffer);
  return h.digest("hex");
}

const free = statfsSync(tmpdir());
const enoughDisk = free.bavail * free.bsize > 4 * SIZE;

describe.runIf(enoughDisk)("a 600 MiB payload in a 16384x16384 container, in bounded memory", () => {
  const input = join(work, "payload.bin");
  const out = join(work, "big.rts.png");
  let digest = "";

  it("packs with peak RSS under 512 MiB, metadata as the converter writes it", async () => {
    digest = writePayload(input, SIZE);
    const r = await cliWithRss("pack", input, "-o", out, "--name", "big", "--type", "os", "--json");
    expect(r.stderr.trim()).toBe("");
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ grid: 16384, payload_size: SIZE, data_hash: digest });
    expect(r.maxRss).toBeGreaterThan(0);
    expect(r.maxRss).toBeLessThan(ENCODE_RSS_MAX);
  });

  it("extracts back, verified, with peak RSS under 256 MiB", async () => {
    const back = join(work, "back.bin");
    const r = await cliWithRss("extract", out, "-o", back, "--json");
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ bytes: SIZE, integrity: "verified", payload_sha256: digest });
    expect(r.maxRss).toBeLessThan(DECODE_RSS_MAX);
    expect(await sha256File(back)).toBe(digest);
    rmSync(back);
  });

  it.runIf(hasPillow)("reads in Pillow: sampled pixels along the spec's curve equal the payload bytes", () => {
    const r = spawnSync(PYTHON, [join(import.meta.dirname, "compat/pillow_sample.py"), out, input, "3000", "11"], { encoding: "utf8" });
    expect(r.stderr).toBe("");
    const res = JSON.parse(r.stdout);
    expect(res).toMatchObject({ mode: "RGBA", size: [16384, 16384], grid_size: 16384, data_size: SIZE, mismatches: 0 });
    expect(res.checked).toBeGreaterThan(2900);
  });
});
