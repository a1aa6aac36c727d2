import type { CommandContext, OptionSpec } from "../cli/command.js";
import { chmod, copyFile, rename, rm, stat } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { fail } from "../../shared/errors.js";
import { existsSync } from "node:fs";
import { ioError, tempNameFor } from "../fsutil/index.js";
import { ensureCached } from "../pull/index.js";
import type { TrustReport } from "../trust/policy.js";
import { safeText } from "../cli/terminal.js";
import { openAgent, type AgentContext } from "../context.js";
import { createReporter, type Reporter } from "../progress/index.js";

/** Flag shared by every command that touches the cache. */
export const CACHE_DIR_OPTION: Record<string, OptionSpec> = {
  "cache-dir": { type: "string", value: "DIR", description: "the content cache to use (default: PIXELRTS_CACHE_DIR, else ~/.cache/pixelrts)" },
};

/** A `--flag SECONDS` value in ms; `zeroMeansNone` lets 0 through (no deadline). E_USAGE naming the flag. */
export function secondsFlag(values: CommandContext["values"], name: string, zeroMeansNone: boolean): number | undefined {
  const text = values[name];
  if (text === undefined) return undefined;
  const ms = typeof text === "string" && /^\d+(\.\d+)?$/.test(text.trim()) ? Number(text) * 1000 : NaN;
  if (!Number.isFinite(ms) || (ms === 0 && !zeroMeansNone)) fail("E_USAGE", `--${name} takes seconds${zeroMeansNone ? " (0: no deadline)" : ""}, got '${safeText(String(text))}'`);
  return ms;
}

/** An output path whose directory exists (like `cp`, nothing is created); E_USAGE before any work otherwise. */
export async function outputPath(path: string): Promise<string> {
  const dir = dirname(resolve(path));
  const st = await stat(dir).catch(() => undefined);
  if (!st?.isDirectory()) fail("E_USAGE", `cannot write ${safeText(path)}: the directory ${safeText(dir)} does not exist`);
  const target = await stat(path).catch(() => undefined);
  if (target?.isDirectory()) fail("E_USAGE", `${safeText(path)} is a directory; give a file name`);
  return path;
}

/** Copies a cached file out (temp file + rename beside the target: a reader never sees half of it). */
export async function copyOut(from: string, to: string): Promise<void> {
  const tmp = tempNameFor(to);
  try {
    await copyFile(from, tmp);
    await chmod(tmp, 0o644);
    await rename(tmp, to);
  } catch (e) {
    await rm(tmp, { force: true });
    throw ioError(e, `cannot write ${to}`);
  }
}

/** What a command that reads a container works on: a local file, or a cached (pulled if needed) one. */
export interface ContainerSource {
  path: string;
  /** Set when it came through the cache (it is then verified, and its signatures were judged). */
  cached?: { sha256: string; trust: TrustReport };
}

/** A ref that names a local file: one that exists, a `.png`, or a path written as one (`./x`, `/x`). URLs never. */
export function isFileRef(ref: string): boolean {
  if (/^https?:\/\//i.test(ref)) return false;
  return existsSync(ref) || ref.endsWith(".png") || ref.startsWith("./") || ref.startsWith("/");
}

/**
 * FILE, or any ref `pull` takes (catalog id or name, sha256:HEX or a unique prefix of 8+ hex
 * digits, URL): an existing path wins; otherwise the cache answers, fetching when needed.
 */
export async function containerSource(ctx: CommandContext, agent: AgentContext, ref: string): Promise<ContainerSource> {
  if (isFileRef(ref)) return { path: ref }; // a missing one is E_NOT_FOUND when read, not a catalog lookup
  const report = reporterFor(ctx);
  try {
    const hits = await agent.cache.resolve(ref);
    const ensureRef = hits.length === 1 ? `sha256:${hits[0]!.sha256}` : ref;
    const r = await ensureCached(agent, ensureRef, { emit: report, signal: ctx.signal });
    if (r.note) report({ event: "note", ref, message: r.note });
    return { path: r.path, cached: { sha256: r.sha256, trust: r.trust } };
  } finally {
    report.close();
  }
}

/** Opens the agent for one command run (flags > env > XDG defaults) and always closes it. */
export async function withAgent<T>(ctx: CommandContext, fn: (agent: AgentContext) => Promise<T>): Promise<T> {
  const cacheDir = ctx.values["cache-dir"];
  const agent = await openAgent(typeof cacheDir === "string" ? { cacheDir } : {});
  try {
    return await fn(agent);
  } finally {
    await agent.close();
  }
}

/** NDJSON on stdout with --json; a bar on stderr when it is a terminal; otherwise one-line notes only. */
export function reporterFor(ctx: CommandContext): Reporter {
  if (ctx.json) return createReporter({ mode: "json", out: ctx.out });
  const stderr = process.stderr;
  if (ctx.stdoutIsTTY && stderr.isTTY) return createReporter({ mode: "tty", out: ctx.out, err: ctx.err, tty: (s) => void stderr.write(s), columns: stderr.columns ?? 80 });
  return createReporter({ mode: "plain", out: ctx.out, err: ctx.err });
}

/**
 * Left-aligned text table (no colours: output must survive pipes and logs). Cells are made
 * terminal-safe (a CR or newline in a name cannot forge a row), and any number of rows works:
 * widths are found in one pass, not with Math.max(...rows), which overflows the stack.
 */
export function table(rows: readonly (readonly string[])[]): string[] {
  const cells = rows.map((r) => r.map(safeText));
  const widths: number[] = [];
  for (const r of cells) {
    for (let i = 0; i < r.length; i++) if (r[i]!.length > (widths[i] ?? 0)) widths[i] = r[i]!.length;
  }
  return cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join("  ").trimEnd());
}

/** Rows written per stdout write: a write per line cost a 200,000-row catalog 0.9 s of its 5.1 s (bench:cli). */
const LINES_PER_WRITE = 1024;

/** Prints `table(rows)`, a block of lines per write. */
export function printTable(out: (text: string) => void, rows: readonly (readonly string[])[]): void {
  const lines = table(rows);
  for (let i = 0; i < lines.length; i += LINES_PER_WRITE) out(lines.slice(i, i + LINES_PER_WRITE).join("\n"));
}

export function ago(ms: number, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  if (s < 86400) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
}
