import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { availableParallelism } from "node:os";
import { createHasher, resolveHashMode } from "./hasher.js";

const MiB = 1 << 20;

function bytes(n: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  let x = seed;
  for (let i = 0; i < n; i++) b[i] = (x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 24;
  return b;
}

describe("hasher", () => {
  // The worker hasher copies chunks into 1 MiB batches and sends a batch when it is full; the
  // final partial batch is only sent by digest(). Sizes around the batch edge catch a lost flush.
  it.each([0, 1, 65_537, MiB - 1, MiB, MiB + 1, 3 * MiB + 12_345])("worker and inline agree with node:crypto for %i bytes fed in uneven chunks", async (n) => {
    const data = bytes(n, n + 1);
    const expected = createHash("sha256").update(data).digest("hex");
    for (const mode of ["worker", "inline"] as const) {
      const h = createHasher(mode);
      try {
        for (let off = 0, step = 1; off < n; off += step, step = (step * 7 + 13) % 300_000 || 1) h.update(data.subarray(off, Math.min(n, off + step)));
        expect(await h.digest(), mode).toBe(expected);
      } finally {
        h.dispose();
      }
    }
  });

  it("the worker hasher asks its feeder to wait once 16 MiB are queued, and the digest stays right", async () => {
    const data = bytes(40 * MiB + 5, 9);
    const h = createHasher("worker");
    try {
      let waits = 0;
      for (let off = 0; off < data.length; off += 8 * MiB) {
        const pending = h.update(data.subarray(off, off + 8 * MiB));
        if (pending) {
          waits++;
          await pending;
        }
      }
      expect(waits).toBeGreaterThan(0); // 8 MiB per call: the second call already has 16 batches queued
      expect(await h.digest()).toBe(createHash("sha256").update(data).digest("hex"));
    } finally {
      h.dispose();
    }
  });

  it("auto picks inline below 32 MiB, the worker above when there is a second core; explicit modes are kept", () => {
    expect(resolveHashMode("auto", 1000)).toBe("inline");
    expect(resolveHashMode("auto", 64 << 20)).toBe(availableParallelism() > 1 ? "worker" : "inline");
    expect(resolveHashMode("worker", 1000)).toBe("worker");
    expect(resolveHashMode("inline", 1 << 30)).toBe("inline");
  });
});
