/**
 * Files our `pixelrts pack` writes must decode with the original's algorithm: here Pillow
 * (what the original reads PNGs with) plus an independent Python walk of the spec's curve.
 * Needs Debian's python3-pil, which .ci/run installs; outside CI it says how to get it.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const PYTHON = "/usr/bin/python3";
const hasPillow = spawnSync(PYTHON, ["-c", "import PIL"]).status === 0;
if (!hasPillow && process.env.CI) throw new Error("python3-pil is missing in CI: .ci/run must install it");
if (!hasPillow) console.warn("pillow-compat: not run here: apt-get install python3-pil (CI installs it and runs it)");
const ROOT = join(import.meta.dirname, "..");
const CLI = join(ROOT, "agent/bin/pixelrts.mjs");
const work = mkdtempSync(join(tmpdir(), "pixelrts-pillow-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
function bytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) out[i] = (s = (s * 1103515245 + 12345) >>> 0) >>> 24;
  return out;
}
const pillow = (file: string) => JSON.parse(execFileSync(PYTHON, [join(import.meta.dirname, "compat/pillow_decode.py"), file], { encoding: "utf8" }));

describe.runIf(hasPillow)("our containers decode with Pillow and the spec's Python curve", () => {
  it.each([1, 3, 16, 17, 100, 4097, 65_537, 300_001])("a %i-byte payload packed by the CLI", (n) => {
    const input = join(work, `p${n}.bin`);
    const payload = bytes(n, n);
    writeFileSync(input, payload);
    const out = join(work, `p${n}.rts.png`);
    execFileSync(process.execPath, [CLI, "pack", input, "-o", out, "--name", `p${n}`, "--type", "kernel"]);
    const r = pillow(out);
    expect(r.sha256).toBe(sha(payload));
    expect(r.size).toBe(n);
    expect(r.text_keys).toEqual(["PixelRTS"]);
  });

  it("a boot bundle reads as one plain payload whose hash is data_hash", () => {
    const k = join(work, "k.bin");
    const i = join(work, "i.bin");
    writeFileSync(k, bytes(9000, 1));
    writeFileSync(i, bytes(3000, 2));
    const out = join(work, "b.rts.png");
    const summary = JSON.parse(execFileSync(process.execPath, [CLI, "pack", "--kernel", k, "--initrd", i, "--cmdline", "console=ttyS0", "-o", out, "--json"], { encoding: "utf8" }));
    expect(pillow(out).sha256).toBe(summary.data_hash);
    expect(readFileSync(out).subarray(1, 4).toString()).toBe("PNG");
  });
});
