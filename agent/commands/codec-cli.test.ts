/** pack / inspect / extract through the real CLI process (dist bundle built by `npm test`). */
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { type CliRun, runCli } from "../../test/helpers/cli.js";
import { fileError } from "../fsutil/index.js";

const ROOT = join(import.meta.dirname, "../..");
const VECTORS = join(ROOT, "test/fixtures/vectors");
const work = mkdtempSync(join(tmpdir(), "pixelrts-cli-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));
// Inputs the usage-error rows need, so a check that is missing shows up as the wrong error rather than "no such file".
writeFileSync(join(work, "k"), Buffer.alloc(1000, 3));
writeFileSync(join(work, "in.bin"), Buffer.alloc(100, 4));

/** The CLI as a child process; async, so independent rows can run side by side. */
function cli(...args: string[]): Promise<CliRun> {
  return runCli(args, { cwd: work });
}
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

describe("pixelrts pack/inspect/extract", () => {
  it("packs a file like the original converter and extracts it back, verified", async () => {
    const input = join(work, "vmlinuz-test");
    writeFileSync(input, Buffer.alloc(70_000, 7));
    const p = await cli("pack", input, "-o", "k.rts.png", "--name", "kernel", "--type", "kernel", "--version", "6.1", "--json");
    expect(p.code).toBe(0);
    const packed = JSON.parse(p.stdout);
    expect(packed).toMatchObject({ grid: 256, payload_size: 70_000, data_hash: sha(readFileSync(input)) });
    const i = await cli("inspect", "k.rts.png", "--json");
    expect(i.code).toBe(0);
    const info = JSON.parse(i.stdout);
    expect(info).toMatchObject({ hash_status: "verified", type: "kernel", name: "kernel", content_version: "6.1", grid: "256x256" });
    expect(info.segments).toEqual([{ name: "kernel", type: "kernel", start: 0, size: 70_000, sha256: packed.data_hash }]);
    const x = await cli("extract", "k.rts.png", "-o", "out.bin");
    expect(x.code).toBe(0);
    expect(x.stdout).toMatch(/extracted 70000 bytes .*verified/);
    expect(sha(readFileSync(join(work, "out.bin")))).toBe(packed.data_hash);
  });

  it("packs a boot bundle and extracts each segment by name", async () => {
    writeFileSync(join(work, "bzImage"), Buffer.alloc(10_000, 1));
    writeFileSync(join(work, "initrd.gz"), Buffer.alloc(5_000, 2));
    const p = await cli("pack", "--kernel", "bzImage", "--initrd", "initrd.gz", "--cmdline", "console=ttyS0 panic=-1", "--memory", "256M", "--name", "demo", "-o", "b.rts.png");
    expect(p.code, p.stderr).toBe(0);
    const info = JSON.parse((await cli("inspect", "b.rts.png", "--json")).stdout);
    expect(info.type).toBe("boot-bundle");
    expect(info.boot).toEqual({ cmdline: "console=ttyS0 panic=-1", arch: "x86_64", memory: "256M" });
    expect(info.segments.map((s: { name: string; start: number }) => [s.name, s.start])).toEqual([["kernel", 0], ["initrd", 12288]]);
    expect((await cli("extract", "b.rts.png", "--segment", "initrd", "-o", "i.out")).code).toBe(0);
    expect(readFileSync(join(work, "i.out"))).toEqual(Buffer.alloc(5_000, 2));
    const missing = await cli("extract", "b.rts.png", "--segment", "disk", "-o", "d.out");
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^pixelrts: E_NOT_FOUND: no segment named disk \(segments: kernel, initrd\)\n$/);
  });

  it("refuses a corrupted payload with one line and exit 3, writing nothing", async () => {
    copyFileSync(join(VECTORS, "corrupt_pixelflip_nonpow_1000003.rts.png"), join(work, "bad.rts.png"));
    const before = readdirSync(work).length;
    const x = await cli("extract", "bad.rts.png", "-o", "bad.bin");
    expect(x.code).toBe(3);
    expect(x.stderr.trim().split("\n")).toHaveLength(1);
    expect(x.stderr).toMatch(/^pixelrts: E_HASH_MISMATCH: Hash mismatch: expected 8401/);
    expect(existsSync(join(work, "bad.bin"))).toBe(false);
    expect(readdirSync(work).length).toBe(before);
    const forced = await cli("extract", "bad.rts.png", "-o", "bad.bin", "--no-verify");
    expect(forced.code).toBe(0);
    expect(forced.stderr).toMatch(/warning: payload SHA-256 .* does not match data_hash/);
    expect((await cli("inspect", "bad.rts.png")).code).toBe(3);
  });

  it.concurrent.each([
    [["extract", "nothere.rts.png", "-o", "x"], 1, /^pixelrts: E_NOT_FOUND: no such file: nothere\.rts\.png\n$/],
    [["inspect", join(VECTORS, "corrupt_idatflip_nonpow_1000003.rts.png")], 3, /E_PNG_CRC/],
    [["inspect", join(VECTORS, "payloads/tiny_1b.bin")], 3, /E_NOT_PNG/],
    [["pack", "in.bin"], 2, /E_USAGE: pack needs -o/],
    [["pack", "--bogus"], 2, /E_USAGE: unknown option '--bogus'/],
    [["frobnicate"], 2, /E_USAGE: unknown command 'frobnicate'/],
    // The kernel file exists: only the --arch check can refuse these, naming the flag.
    [["pack", "--kernel", "k", "--arch", "mips", "-o", "x.png"], 2, /^pixelrts: E_USAGE: --arch must be one of x86_64, aarch64, riscv64, got "mips"\n$/],
    [["pack", "--kernel", "k", "--memory", "1K", "-o", "x.png"], 2, /^pixelrts: E_USAGE: --memory must be a size like 512M/],
    [["pack", "--kernel", "k", "--memory", "512M,maxmem=8G", "-o", "x.png"], 2, /^pixelrts: E_USAGE: --memory must be/],
    [["pack", "--kernel", "k", "--cpus", "0", "-o", "x.png"], 2, /^pixelrts: E_USAGE: --cpus must be an integer from 1 to 256/],
    [["pack", "--kernel", "k", "--cmdline", "a\nb", "-o", "x.png"], 2, /^pixelrts: E_USAGE: --cmdline must not contain control characters/],
    [["pack", "--kernel", "nothere", "-o", "x.png"], 1, /^pixelrts: E_NOT_FOUND: kernel nothere: no such file or directory\n$/],
    [["pack", "in.bin", "-o", "/sys/x.rts.png"], 1, /^pixelrts: E_IO: cannot write \/sys\/x\.rts\.png: permission denied \(EACCES\)\n$/],
  ])("%j exits %i with one clear line", async (args, code, pattern) => {
    const r = await cli(...(args as string[]));
    expect(existsSync(join(work, "x.png"))).toBe(false);
    expect(r.code).toBe(code);
    expect(r.stderr).toMatch(pattern);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
  });

  it("pack reports a symlink loop as E_IO, not E_INTERNAL (regression)", async () => {
    symlinkSync("loop", join(work, "loop"));
    const r = await cli("pack", "loop", "-o", "l.rts.png");
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("pixelrts: E_IO: input loop: too many levels of symbolic links (a symlink loop) (ELOOP)\n");
  });

  it("file-system errors map to stable codes", () => {
    const errno = (code: string) => Object.assign(new Error(`${code}: boom`), { code });
    expect(fileError(errno("EROFS"), "cannot write /ro/x")).toMatchObject({ code: "E_IO", message: "cannot write /ro/x: read-only file system (EROFS)" });
    expect(fileError(errno("EACCES"), "input a")).toMatchObject({ code: "E_IO", message: "input a: permission denied (EACCES)" });
    expect(fileError(errno("ENOSPC"), "cannot write x")).toMatchObject({ code: "E_DISK_FULL" });
    expect(fileError(errno("ENOENT"), "input a")).toMatchObject({ code: "E_NOT_FOUND" });
    expect(fileError(errno("EWHATEVER"), "input a")).toMatchObject({ code: "E_IO", message: "input a: EWHATEVER: boom (EWHATEVER)" });
  });

  it("--verbose adds details after the one line", async () => {
    const r = await cli("extract", join(VECTORS, "corrupt_pixelflip_nonpow_1000003.rts.png"), "-o", "v.bin", "--verbose", "--no-sidecar");
    expect(r.code).toBe(3);
    expect(r.stderr.split("\n")[0]).toMatch(/^pixelrts: E_HASH_MISMATCH/);
    expect(r.stderr).toMatch(/"expected": "8401/);
  });
});
