import { parseArgs } from "node:util";
import { isPixelRtsError, PixelRtsError } from "../../shared/errors.js";
import type { Command, CommandContext } from "./command.js";
import { COMMANDS } from "./commands.js";
import { exitCodeFor } from "./exit-codes.js";
import { safeJson, safeLines, safeText } from "./terminal.js";

const GLOBAL_OPTIONS = {
  json: { type: "boolean", default: false },
  verbose: { type: "boolean", short: "v", default: false },
  help: { type: "boolean", short: "h", default: false },
} as const;

function usageText(cmd?: Command): string {
  if (cmd) return [`${cmd.summary}`, "", ...cmd.usage.map((u) => `  pixelrts ${u}`)].join("\n");
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    "pixelrts — pack, inspect, fetch and boot PixelRTS v2 containers (.rts.png)",
    "",
    "Commands:",
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    "",
    "Global flags: --json (machine-readable output), --verbose/-v (error details), --help/-h",
    "Run `pixelrts help COMMAND` for a command's flags.",
  ].join("\n");
}

/**
 * Runs one CLI invocation and returns its exit status. This is the only place that turns
 * errors into exit codes and one-line messages; `process.exit` is called only below.
 * Everything printed passes through terminal.ts: commands escape each field they interpolate
 * (safeText), and here every line is checked once more, so no control character from a server
 * or a container reaches the terminal (JSON output keeps exact values).
 */
export async function runCli(argv: string[], rawIo: { out: (s: string) => void; err: (s: string) => void; stdoutIsTTY: boolean; signal: AbortSignal }): Promise<number> {
  const [name, ...rest] = argv;
  const json = rest.includes("--json");
  const clean = json ? safeJson : safeLines;
  const io = { ...rawIo, out: (s: string) => rawIo.out(clean(s)), err: (s: string) => rawIo.err(clean(s)) };
  if (!name || name === "help" || name === "--help" || name === "-h") {
    const target = rest[0] ? COMMANDS.find((c) => c.name === rest[0]) : undefined;
    io.out(usageText(target));
    return 0;
  }
  if (name === "--version") {
    io.out("pixelrts 0.1.0");
    return 0;
  }
  const cmd = COMMANDS.find((c) => c.name === name);
  let verbose = rest.includes("--verbose") || rest.includes("-v");
  try {
    if (!cmd) throw new PixelRtsError("E_USAGE", `unknown command '${name}' (run 'pixelrts help')`);
    let parsed;
    try {
      parsed = parseArgs({ args: rest, options: { ...GLOBAL_OPTIONS, ...cmd.options }, allowPositionals: true, strict: true });
    } catch (e) {
      throw new PixelRtsError("E_USAGE", `${(e as Error).message.split("\n")[0]} (usage: pixelrts ${cmd.usage[0]})`);
    }
    if (parsed.values.help) {
      io.out(usageText(cmd));
      return 0;
    }
    verbose = Boolean(parsed.values.verbose);
    const ctx: CommandContext = {
      values: parsed.values,
      positionals: parsed.positionals,
      out: io.out,
      err: io.err,
      json: Boolean(parsed.values.json),
      verbose,
      stdoutIsTTY: io.stdoutIsTTY,
      signal: io.signal,
    };
    return (await cmd.run(ctx)) ?? 0;
  } catch (e) {
    const code = isPixelRtsError(e) ? e.code : "E_INTERNAL";
    const message = e instanceof Error ? e.message : String(e);
    if (json) io.err(JSON.stringify({ event: "error", code, message, ...(isPixelRtsError(e) ? { details: e.details } : {}) }));
    else io.err(`pixelrts: ${code}: ${safeText(message)}`);
    if (verbose) {
      if (isPixelRtsError(e) && Object.keys(e.details).length) io.err(JSON.stringify(e.details, null, 2));
      if (e instanceof Error && e.stack) io.err(e.stack);
      if (e instanceof Error && e.cause) io.err(`cause: ${String((e.cause as Error).stack ?? e.cause)}`);
    } else if (!isPixelRtsError(e)) {
      io.err("(an unexpected error: run again with --verbose for details, and report it)");
    }
    return exitCodeFor(isPixelRtsError(e) ? e.code : undefined);
  }
}
