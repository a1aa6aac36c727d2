/**
 * Decoding while downloading (cold-unpack.ts) and verification stamps (stamp.ts, unpack.ts), on
 * real files: a container written into a "partial" file piece by piece, the follower told of each
 * piece the way the pull's progress events tell it; files kept only when every digest matched.
 */
import { createHash, randomBytes } from "node:crypto";
import { appendFileSync, chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { bundleMetadata, placeSegments } from "../../shared/container/bundle.js";
import { CacheLayout } from "../cache/index.js";
import { encodeFilesToPng } from "../codec/encode-file.js";
import type { PullEvent } from "../progress/events.js";
import { ColdUnpack } from "./cold-unpack.js";
import { blobDigest, recordStamp } from "./stamp.js";
import { unpackForBoot } from "./unpack.js";

const work = mkdtempSync(join(tmpdir(), "pixelrts-cold-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

const kernel = randomBytes(1_234_567);
const disk = randomBytes(3_000_000);
writeFileSync(join(work, "k"), kernel);
writeFileSync(join(work, "d"), disk);
const boot = { boot: { cmdline: "console=ttyS0", arch: "x86_64" } };
const placed = placeSegments({ ...boot, segments: [{ name: "kernel", type: "kernel", size: kernel.length }, { name: "disk", type: "disk", size: disk.length }] });
const container = join(work, "b.rts.png");
const built = encodeFilesToPng(
  [{ path: join(work, "k"), start: 0, size: kernel.length }, { path: join(work, "d"), start: placed[1]!.start, size: disk.length }],
  placed[1]!.start + disk.length,
  container,
  (ctx, hashes) => bundleMetadata({ segments: placed.map((p, i) => ({ ...p, sha256: hashes[i]! })) }, boot)(ctx),
);

/** Plays a download: the body goes to `partial` in pieces, each announced as the pull announces it. */
async function download(cold: ColdUnpack, partial: string, bytes: Buffer, piece = 300_000): Promise<PullEvent[]> {
  const seen: PullEvent[] = [];
  const emit = cold.tap((ev) => seen.push(ev));
  writeFileSync(partial, "");
  cold.onBody({ path: partial, start: 0, total: bytes.length });
  for (let pos = 0; pos < bytes.length; pos += piece) {
    appendFileSync(partial, bytes.subarray(pos, pos + piece));
    emit({ event: "progress", ref: "x", bytes: Math.min(bytes.length, pos + piece), total: bytes.length });
    await new Promise((r) => setImmediate(r)); // let the follower read what is there
  }
  return seen;
}

describe("ColdUnpack", () => {
  it("decodes while the file arrives and keeps the files once every digest matched", async () => {
    await built;
    const bytes = readFileSync(container);
    const cache = join(work, "cache1");
    const cold = new ColdUnpack(cache);
    const seen = await download(cold, join(work, "partial1"), bytes);
    expect(seen.filter((e) => e.event === "progress").length).toBeGreaterThan(5); // events still reach the reporter
    expect(await cold.finish(sha(bytes), join(work, "partial1"))).toBe(true);
    // unpackForBoot finds them: nothing is decoded again.
    const u = await unpackForBoot(join(work, "partial1"), cache);
    expect(u.reused).toBe(true);
    expect(readFileSync(u.files.kernel!).equals(kernel)).toBe(true);
    expect(readFileSync(u.files.disk!.path).equals(disk)).toBe(true);
    expect(readdirSync(new CacheLayout(cache).unpackedDir).filter((d) => d.startsWith("."))).toEqual([]);
  });

  it("keeps nothing when the verified file is not what it decoded", async () => {
    await built;
    const bytes = readFileSync(container);
    const cache = join(work, "cache2");
    const cold = new ColdUnpack(cache);
    await download(cold, join(work, "partial2"), bytes);
    expect(await cold.finish("0".repeat(64), join(work, "partial2"))).toBe(false);
    expect(existsSync(new CacheLayout(cache).unpackedDir) ? readdirSync(new CacheLayout(cache).unpackedDir) : []).toEqual([]);
  });

  it("steps aside on a resumed download", async () => {
    await built;
    const bytes = readFileSync(container);
    const cache = join(work, "cache3");
    const cold = new ColdUnpack(cache);
    // the real, complete container: a follower that did not step aside would unpack it (true)
    cold.onBody({ path: container, start: 1000, total: bytes.length });
    expect(await cold.finish(sha(bytes), container)).toBe(false);
    expect(existsSync(new CacheLayout(cache).unpackedDir) ? readdirSync(new CacheLayout(cache).unpackedDir) : []).toEqual([]);
  });
});

describe("verification stamps", () => {
  it("trust an unchanged file and re-hash a touched one", async () => {
    const f = join(work, "blob");
    writeFileSync(f, randomBytes(100_000));
    const digest = sha(readFileSync(f));
    const cache = join(work, "cache4");
    expect(await blobDigest(cache, f, digest)).toEqual({ hex: digest, hashed: true });
    expect(await blobDigest(cache, f, digest)).toEqual({ hex: digest, hashed: false });
    expect(await blobDigest(cache, f, digest, { rehash: true })).toEqual({ hex: digest, hashed: true });
    // Same bytes, new times: hashed again (then trusted again).
    utimesSync(f, new Date(2020, 1, 1), new Date(2020, 1, 1));
    expect((await blobDigest(cache, f, digest)).hashed).toBe(true);
    // Damaged in place, even with its old mtime put back: the ctime changed, so it is read, and refused.
    await recordStamp(cache, f, digest);
    const b = readFileSync(f);
    b[5] = b[5]! ^ 1;
    writeFileSync(f, b);
    utimesSync(f, new Date(2020, 1, 1), new Date(2020, 1, 1));
    expect((await blobDigest(cache, f, digest)).hex).not.toBe(digest);
  });

  it("unpacked files damaged after unpacking are found by their stamp, or by --verify", async () => {
    await built;
    const cache = join(work, "cache5");
    const first = await unpackForBoot(container, cache);
    expect(first.reused).toBe(false);
    expect((await unpackForBoot(container, cache)).reused).toBe(true);
    const k = first.files.kernel!;
    chmodSync(k, 0o644);
    const b = readFileSync(k);
    b[0] = b[0]! ^ 1;
    writeFileSync(k, b);
    const again = await unpackForBoot(container, cache);
    expect(again.reused).toBe(false); // the stamp changed: re-hashed, found damaged, unpacked anew
    expect(readFileSync(again.files.kernel!).equals(kernel)).toBe(true);
    expect((await unpackForBoot(container, cache, { rehash: true })).reused).toBe(true);
  });
});
