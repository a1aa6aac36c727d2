import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it, onTestFinished, vi } from "vitest";
import { table } from "../commands/common.js";
import { createReporter, renderBar } from "../progress/index.js";
import { runCli } from "./run.js";
import { safeJson, safeLines, safeText } from "./terminal.js";

/** Any character a terminal acts on: C0, DEL, C1, bidi controls and separators. */
const RAW_CONTROL = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
const HOSTILE = "evil\x1b]0;owned\x07\x1b[2J\rverified\u009b31m\u202egnp.\u2066x\x7f\ty\nz";

describe("terminal-safe text", () => {
  it("safeText makes every control character visible", () => {
    expect(safeText(HOSTILE)).toBe("evil\\x1b]0;owned\\x07\\x1b[2J\\x0dverified\\x9b31m\\u202egnp.\\u2066x\\x7f\\x09y\\x0az");
    expect(safeText(HOSTILE)).not.toMatch(RAW_CONTROL);
    expect(safeText("plain ascii, ünïcödé and emoji 🚀")).toBe("plain ascii, ünïcödé and emoji 🚀");
  });

  it("safeLines keeps line feeds only", () => {
    expect(safeLines("a\nb\rc")).toBe("a\nb\\x0dc");
  });

  it("safeJson escapes what JSON.stringify leaves raw, and the values parse back exactly", () => {
    const text = JSON.stringify({ name: HOSTILE });
    expect(text).toMatch(RAW_CONTROL); // JSON.stringify leaves C1 and bidi controls raw
    const safe = safeJson(text);
    expect(safe).not.toMatch(RAW_CONTROL);
    expect(JSON.parse(safe)).toEqual({ name: HOSTILE });
  });

  it("a table escapes its cells, so a CR or newline cannot forge or overwrite a row", () => {
    const lines = table([["ID", "STATE"], ["a\rok-row", "cached,verified"], ["b\nfake  cached,verified", "-"]]);
    expect(lines).toHaveLength(3);
    for (const l of lines) expect(l).not.toMatch(RAW_CONTROL);
    expect(lines[1]).toBe(`${"a\\x0dok-row".padEnd("b\\x0afake  cached,verified".length)}  cached,verified`);
  });

  it("a table of 200,000 rows (regression: Math.max(...rows) overflowed the stack)", () => {
    const rows = [["ID", "NAME"], ...Array.from({ length: 200_000 }, (_, i) => [`id-${i}`, `name-${i}`])];
    const lines = table(rows);
    expect(lines).toHaveLength(200_001);
    expect(lines[200_000]).toBe("id-199999  name-199999");
    expect(lines[1]).toBe("id-0       name-0");
  });

  it("the progress reporter escapes refs, reasons and notes in every human mode", () => {
    const err: string[] = [];
    const out: string[] = [];
    const tty: string[] = [];
    const r = createReporter({ mode: "tty", out: (l) => out.push(l), err: (l) => err.push(l), tty: (c) => tty.push(c), now: () => 0 });
    r({ event: "progress", ref: HOSTILE, bytes: 1, total: 2 });
    r({ event: "retry", ref: HOSTILE, attempt: 1, of: 3, delay_ms: 10, code: "E_SERVER", reason: HOSTILE });
    r({ event: "note", ref: HOSTILE, message: HOSTILE });
    r({ event: "done", ref: HOSTILE, sha256: "ab", size: 2, path: "/p\x1b", from_cache: false });
    for (const l of [...err, ...out]) expect(l.replace("\n  ", " ")).not.toMatch(RAW_CONTROL);
    // The bar itself is drawn with \r and ESC[K; the name inside it is escaped.
    expect(tty[0]!.replace(/^\r/, "").replace(/\x1b\[K$/, "")).not.toMatch(RAW_CONTROL);
    expect(renderBar({ ref: "\x1b[31mred", bytes: 1, total: 2 }, 80)).toMatch(/^\\x1b\[31mred /);
  });

  it("runCli escapes error messages and every printed line; --json output keeps exact values", async () => {
    const lines: string[] = [];
    const io = { out: (s: string) => lines.push(s), err: (s: string) => lines.push(s), stdoutIsTTY: false, signal: new AbortController().signal };
    expect(await runCli(["catalog", `--source=${HOSTILE}`], io)).toBe(2);
    expect(lines.join("\n")).not.toMatch(RAW_CONTROL);
    expect(lines[0]).toContain("\\x1b]0;owned\\x07");
    lines.length = 0;
    expect(await runCli(["catalog", `--source=${HOSTILE}`, "--json"], io)).toBe(2);
    expect(lines.join("\n")).not.toMatch(RAW_CONTROL);
    expect(JSON.parse(lines[0]!).message).toContain(HOSTILE);
  });
});

describe("terminal-safe text: what the first pass missed", () => {
  it("invisible characters that make two names look alike are shown", () => {
    expect(safeText("demo\u200b-linux\ufeff")).toBe("demo\\u200b-linux\\ufeff");
    expect(safeText("a\u2060b")).toBe("a\\u2060b");
  });

  it("--verbose cannot be made to print a forged line through an error message", async () => {
    // never the user's own config or cache (servers it might ask)
    const dir = mkdtempSync(join(tmpdir(), "pixelrts-term-"));
    vi.stubEnv("PIXELRTS_CONFIG_DIR", join(dir, "config"));
    vi.stubEnv("PIXELRTS_CACHE_DIR", join(dir, "cache"));
    onTestFinished(() => {
      vi.unstubAllEnvs();
      rmSync(dir, { recursive: true, force: true });
    });
    const lines: string[] = [];
    const io = { out: (s: string) => lines.push(s), err: (s: string) => lines.push(s), stdoutIsTTY: false, signal: new AbortController().signal };
    expect(await runCli(["inspect", "/nonexistent\nverified OK: trust me", "--verbose"], io)).not.toBe(0);
    const printed = lines.join("\n").split("\n");
    expect(printed.some((l) => l.startsWith("verified OK"))).toBe(false);
    expect(printed[0]).toContain("\\x0averified OK");
  });
});
