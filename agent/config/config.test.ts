import { mkdtemp, rm, writeFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadSettings, normalizeServerUrl, parseBytes, resolvePaths, ServerStore } from "./index.js";

describe("config", () => {
  it("paths: flag > PIXELRTS_* > XDG_* > HOME", () => {
    expect(resolvePaths({ HOME: "/h" })).toEqual({ configDir: "/h/.config/pixelrts", cacheDir: "/h/.cache/pixelrts" });
    expect(resolvePaths({ HOME: "/h", XDG_CACHE_HOME: "/x", XDG_CONFIG_HOME: "rel" })).toEqual({ configDir: "/h/.config/pixelrts", cacheDir: "/x/pixelrts" });
    expect(resolvePaths({ HOME: "/h", XDG_CACHE_HOME: "/x", PIXELRTS_CACHE_DIR: "/p" }).cacheDir).toBe("/p");
    expect(resolvePaths({ PIXELRTS_CACHE_DIR: "/p" }, { cacheDir: "/f" }).cacheDir).toBe("/f");
  });

  it("settings: defaults, config.json, env, overrides; bad values are E_CONFIG", async () => {
    const dir = await mkdtemp(join(tmpdir(), "pixelrts-cfg-"));
    try {
      expect((await loadSettings(dir, {})).retries).toBe(3);
      await writeFile(join(dir, "config.json"), JSON.stringify({ cacheMaxBytes: "500MiB", retries: 5 }));
      const s = await loadSettings(dir, { PIXELRTS_RETRIES: "1" }, { retryBaseMs: 7 });
      expect(s).toMatchObject({ cacheMaxBytes: 500 * 1024 * 1024, retries: 1, retryBaseMs: 7, retryMaxMs: 10_000 });
      await expect(loadSettings(dir, { PIXELRTS_RETRIES: "many" })).rejects.toMatchObject({ code: "E_CONFIG" });
      await writeFile(join(dir, "config.json"), JSON.stringify({ retires: 1 }));
      await expect(loadSettings(dir, {})).rejects.toMatchObject({ code: "E_CONFIG" });
      expect(parseBytes("10GiB")).toBe(10 * 1024 ** 3);
    } finally {
      await rm(dir, { recursive: true });
    }
  });

  it("pull limits: finite defaults, env names match the keys, byte sizes accepted for the low-speed limit", async () => {
    const dir = await mkdtemp(join(tmpdir(), "pixelrts-cfg-"));
    try {
      expect(await loadSettings(dir, {})).toMatchObject({ pullTimeoutMs: 4 * 3600_000, lowSpeedBytes: 1024, lowSpeedMs: 60_000 });
      const s = await loadSettings(dir, { PIXELRTS_PULL_TIMEOUT_MS: "5000", PIXELRTS_LOW_SPEED_BYTES: "2KiB", PIXELRTS_LOW_SPEED_MS: "1500" });
      expect(s).toMatchObject({ pullTimeoutMs: 5000, lowSpeedBytes: 2048, lowSpeedMs: 1500 });
      await writeFile(join(dir, "config.json"), JSON.stringify({ pullTimeoutMs: 0, lowSpeedBytes: "10k" }));
      expect(await loadSettings(dir, {})).toMatchObject({ pullTimeoutMs: 0, lowSpeedBytes: 10_000 });
      await expect(loadSettings(dir, { PIXELRTS_LOW_SPEED_MS: "-1" })).rejects.toMatchObject({ code: "E_CONFIG" });
    } finally {
      await rm(dir, { recursive: true });
    }
  });

  it("server URLs are validated and normalised", () => {
    expect(normalizeServerUrl("https://rts.example.net/")).toBe("https://rts.example.net");
    expect(normalizeServerUrl("http://127.0.0.1:8787/base/")).toBe("http://127.0.0.1:8787/base");
    for (const bad of ["ftp://x", "not a url", "https://u:p@x", "https://x/?q=1", "file:///etc"]) {
      expect(() => normalizeServerUrl(bad)).toThrow(expect.objectContaining({ code: "E_BAD_URL" }));
    }
  });

  it("servers add/ls/rm persist atomically and refuse duplicates", async () => {
    const dir = await mkdtemp(join(tmpdir(), "pixelrts-srv-"));
    try {
      await mkdir(dir, { recursive: true });
      const store = new ServerStore(dir);
      const a = await store.add({ url: "http://127.0.0.1:9/" });
      expect(a).toMatchObject({ name: "127.0.0.1-9", url: "http://127.0.0.1:9" });
      await store.add({ url: "http://127.0.0.1:10", name: "two", color: "#AABBCC" });
      await expect(store.add({ url: "http://127.0.0.1:10/", name: "three" })).rejects.toMatchObject({ code: "E_SERVER_EXISTS" });
      await expect(store.add({ url: "http://127.0.0.1:11", name: "two" })).rejects.toMatchObject({ code: "E_SERVER_EXISTS" });
      await expect(store.add({ url: "http://127.0.0.1:11", color: "red" })).rejects.toMatchObject({ code: "E_USAGE" });
      expect((await new ServerStore(dir).list()).map((s) => [s.name, s.color])).toEqual([["127.0.0.1-9", undefined], ["two", "#aabbcc"]]);
      await store.remove("two");
      await expect(store.remove("two")).rejects.toMatchObject({ code: "E_SERVER_UNKNOWN" });
      expect((await store.list()).length).toBe(1);
    } finally {
      await rm(dir, { recursive: true });
    }
  });
});
