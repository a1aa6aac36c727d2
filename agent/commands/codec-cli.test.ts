/** pack / inspect / extract through the real CLI process (dist bundle built by `npm test`). */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "../..");
const VECTORS = join(ROOT, "test/fixtures/vectors");
const work = mkdtempSync(join(tmpdir(), "pixelrts-cli-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [join(ROOT, "agent/bin/pixelrts.mjs"), ...args], { cwd: work, encoding: "utf8" });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

describe("pixelrts pack/inspect/extract", () => {
  it("packs a file like the original converter and extracts it back, verified", () => {
    const input = join(work, "vmlinuz-test");
    writeFileSync(input, Buffer.alloc(70_000, 7));
    const p = cli("pack", input, "-o", "k.rts.png", "--name", "kernel", "--type", "kernel", "--version", "6.1", "--json");
    expect(p.code).toBe(0);
    const packed = JSON.parse(p.stdout);
    expect(packed).toMatchObject({ grid: 256, payload_size: 70_000, data_hash: sha(readFileSync(input)) });
    const i = cli("inspect", "k.rts.png", "--json");
    expect(i.code).toBe(0);
    const info = JSON.parse(i.stdout);
    expect(info).toMatchObject({ hash_status: "verified", type: "kernel", name: "kernel", content_version: "6.1", grid: "256x256" });
    expect(info.segments).toEqual([{ name: "kernel", type: "kernel", start: 0, size: 70_000, sha256: packed.data_hash }]);
    const x = cli("extract", "k.rts.png", "-o", "out.bin");
    expect(x.code).toBe(0);
    expect(x.stdout).toMatch(/extracted 70000 bytes .*verified/);
    expect(sha(readFileSync(join(work, "out.bin")))).toBe(packed.data_hash);
  });

  it("packs a boot bundle and extracts each segment by name", () => {
    writeFileSync(join(work, "bzImage"), Buffer.alloc(10_000, 1));
    writeFileSync(join(work, "initrd.gz"), Buffer.alloc(5_000, 2));
    const p = cli("pack", "--kernel", "bzImage", "--initrd", "initrd.gz", "--cmdline", "console=ttyS0 panic=-1", "--memory", "256M", "--name", "demo", "-o", "b.rts.png");
    expect(p.code, p.stderr).toBe(0);
    const info = JSON.parse(cli("inspect", "b.rts.png", "--json").stdout);
    expect(info.type).toBe("boot-bundle");
    expect(info.boot).toEqual({ cmdline: "console=ttyS0 panic=-1", arch: "x86_64", memory: "256M" });
    expect(info.segments.map((s: { name: string; start: number }) => [s.name, s.start])).toEqual([["kernel", 0], ["initrd", 12288]]);
    expect(cli("extract", "b.rts.png", "--segment", "initrd", "-o", "i.out").code).toBe(0);
    expect(readFileSync(join(work, "i.out"))).toEqual(Buffer.alloc(5_000, 2));
    const missing = cli("extract", "b.rts.png", "--segment", "disk", "-o", "d.out");
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^pixelrts: E_NOT_FOUND: no segment named disk \(segments: kernel, initrd\)\n$/);
  });

  it("refuses a corrupted payload with one line and exit 3, writing nothing", () => {
    copyFileSync(join(VECTORS, "corrupt_pixelflip_nonpow_1000003.rts.png"), join(work, "bad.rts.png"));
    const before = readdirSync(work).length;
    const x = cli("extract", "bad.rts.png", "-o", "bad.bin");
    expect(x.code).toBe(3);
    expect(x.stderr.trim().split("\n")).toHaveLength(1);
    expect(x.stderr).toMatch(/^pixelrts: E_HASH_MISMATCH: Hash mismatch: expected 8401/);
    expect(existsSync(join(work, "bad.bin"))).toBe(false);
    expect(readdirSync(work).length).toBe(before);
    const forced = cli("extract", "bad.rts.png", "-o", "bad.bin", "--no-verify");
    expect(forced.code).toBe(0);
    expect(forced.stderr).toMatch(/warning: payload SHA-256 .* does not match data_hash/);
    expect(cli("inspect", "bad.rts.png").code).toBe(3);
  });

  it.each([
    [["extract", "nothere.rts.png", "-o", "x"], 1, /E_NOT_FOUND/],
    [["inspect", join(VECTORS, "corrupt_idatflip_nonpow_1000003.rts.png")], 3, /E_PNG_CRC/],
    [["inspect", join(VECTORS, "payloads/tiny_1b.bin")], 3, /E_NOT_PNG/],
    [["pack", "in.bin"], 2, /E_USAGE: pack needs -o/],
    [["pack", "--bogus"], 2, /E_USAGE: Unknown option '--bogus'/],
    [["frobnicate"], 2, /E_USAGE: unknown command 'frobnicate'/],
    [["pack", "--kernel", "k", "--arch", "mips", "-o", "x.png"], 1, /E_NOT_FOUND|E_USAGE/],
  ])("%j exits %i with one clear line", (args, code, pattern) => {
    const r = cli(...(args as string[]));
    expect(r.code).toBe(code);
    expect(r.stderr).toMatch(pattern);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
  });

  it("--verbose adds details after the one line", () => {
    const r = cli("extract", join(VECTORS, "corrupt_pixelflip_nonpow_1000003.rts.png"), "-o", "v.bin", "--verbose", "--no-sidecar");
    expect(r.code).toBe(3);
    expect(r.stderr.split("\n")[0]).toMatch(/^pixelrts: E_HASH_MISMATCH/);
    expect(r.stderr).toMatch(/"expected": "8401/);
  });
});
