import type { CommandContext } from "../cli/command.js";
import { openAgent, type AgentContext } from "../context.js";
import { createReporter, type Reporter } from "../progress/index.js";

/** Flag shared by every command that touches the cache. */
export const CACHE_DIR_OPTION = { "cache-dir": { type: "string" } } as const;

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

/** Left-aligned text table (no colours: output must survive pipes and logs). */
export function table(rows: string[][]): string[] {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join("  ").trimEnd());
}

export function ago(ms: number, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  if (s < 86400) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
}
