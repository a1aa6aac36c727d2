import { Command as Commander, CommanderError, Option } from "commander";
import pkg from "../../package.json" with { type: "json" };
import { isPixelRtsError, PixelRtsError } from "../../shared/errors.js";
import type { Command, CommandContext, OptionSpec } from "./command.js";
import { COMMANDS } from "./commands.js";
import { exitCodeFor } from "./exit-codes.js";
import { closest } from "../../shared/suggest.js";
import { safeJson, safeLines, safeText } from "./terminal.js";

export const VERSION: string = pkg.version;

type Io = { out: (s: string) => void; err: (s: string) => void; stdoutIsTTY: boolean; signal: AbortSignal };

/** Flags every command takes. */
const GLOBAL_OPTIONS: Record<string, OptionSpec> = {
  json: { type: "boolean", description: "machine-readable output: one JSON document, or NDJSON events for pull/boot" },
  verbose: { type: "boolean", short: "v", description: "on error, print details and the stack" },
};

function toOption(name: string, spec: OptionSpec): Option {
  const flags = `${spec.short ? `-${spec.short}, ` : ""}--${name}${spec.type === "boolean" ? "" : ` <${spec.value ?? "VALUE"}>`}`;
  const o = new Option(flags, spec.description);
  if (spec.type === "list") o.argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v]);
  if (spec.default !== undefined) o.default(spec.default, spec.default);
  return o;
}

/**
 * Commander's parsed options back under our flag names (`dry-run`, `no-thumbnail`), switches
 * false when absent, and which of them were given on the command line.
 */
function valuesOf(spec: Record<string, OptionSpec>, cmd: Commander): { values: CommandContext["values"]; given: Set<string> } {
  const values: CommandContext["values"] = {};
  const given = new Set<string>();
  const opts = cmd.opts();
  for (const [name, o] of Object.entries(spec)) {
    const negated = name.startsWith("no-");
    const attr = (negated ? name.slice(3) : name).replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    if (cmd.getOptionValueSource(attr) === "cli") given.add(name);
    const v = opts[attr];
    if (negated) values[name] = v === false;
    else if (o.type === "boolean") values[name] = v === true;
    else if (o.type === "list") values[name] = (v as string[] | undefined) ?? [];
    else values[name] = v as string | undefined;
  }
  return { values, given };
}

function examplesText(c: Command): string {
  const parts: string[] = [];
  if (c.notes) parts.push(`\n${c.notes}`);
  if (c.examples?.length) parts.push(`\nExamples:\n${c.examples.map((e) => `  ${e}`).join("\n")}`);
  return parts.join("\n");
}

/** Builds commander's tree from the command table; `onRun` receives the command and its context. */
type OnRun = (c: Command, ctx: CommandContext) => Promise<void>;

function attach(parent: Commander, c: Command, io: Io, onRun: OnRun): void {
  const sub = parent.command(c.name).description(c.summary);
  configure(sub, io);
  for (const a of c.args ?? []) sub.argument(a.name, a.description);
  const text = examplesText(c);
  if (text) sub.addHelpText("after", text);
  if (c.subcommands) {
    for (const s of c.subcommands) attach(sub, s, io, onRun);
    return;
  }
  const spec = { ...c.options, ...GLOBAL_OPTIONS };
  for (const [name, o] of Object.entries(spec)) sub.addOption(toOption(name, o));
  sub.action(async (...args: unknown[]) => {
    const cmd = args[args.length - 1] as Commander;
    const { values, given } = valuesOf(spec, cmd);
    const ctx: CommandContext = {
      values,
      given,
      positionals: cmd.args,
      out: io.out,
      err: io.err,
      json: values.json === true,
      verbose: values.verbose === true,
      stdoutIsTTY: io.stdoutIsTTY,
      signal: io.signal,
    };
    await onRun(c, ctx);
  });
}

function configure(c: Commander, io: Io): Commander {
  return c
    .exitOverride()
    .showSuggestionAfterError(true)
    .configureOutput({ writeOut: (s) => io.out(s.replace(/\n$/, "")), writeErr: (s) => io.err(s.replace(/\n$/, "")), outputError: () => {} })
    .configureHelp({ showGlobalOptions: false });
}

export function buildProgram(io: Io, onRun: OnRun): Commander {
  const program = configure(new Commander("pixelrts"), io)
    // Program flags (--version) only before the command: `pack --version 6.1` is pack's own flag.
    .enablePositionalOptions()
    .description("pack, inspect, fetch and boot PixelRTS v2 containers (.rts.png)")
    .version(`pixelrts ${VERSION}`, "-V, --version", "print the version")
    .helpCommand("help [command]", "show help for a command")
    .addHelpText("after", "\nRun `pixelrts help COMMAND` (or `pixelrts COMMAND --help`) for a command's flags, defaults and examples.\nEvery command takes --json (machine-readable output) and --verbose (error details).");
  for (const c of COMMANDS) attach(program, c, io, onRun);
  return program;
}

/**
 * What commander cannot say for us: `help NAME [VERB]` for an unknown name is a usage error with
 * a suggestion (not the general help), and a command with verbs run without one (`pixelrts
 * servers`, `pixelrts cache --json`) runs its default verb.
 */
function normalizeArgv(argv: string[]): string[] {
  const [first, ...rest] = argv;
  if (first === "help") {
    const path = rest.filter((a) => !a.startsWith("-"));
    if (path.length === 0) return ["--help"];
    let level: readonly Command[] = COMMANDS;
    for (const name of path) {
      const hit = level.find((c) => c.name === name);
      if (!hit) throw unknownCommand(name, level);
      level = hit.subcommands ?? [];
    }
    return [...path, "--help"];
  }
  const cmd = COMMANDS.find((c) => c.name === first);
  const fallback = cmd?.subcommands?.find((s) => s.isDefault);
  if (fallback && (rest.length === 0 || (rest[0]!.startsWith("-") && rest[0] !== "-h" && rest[0] !== "--help"))) return [first!, fallback.name, ...rest];
  return argv;
}

function unknownCommand(name: string, among: readonly Command[]): PixelRtsError {
  const near = closest(name, among.map((c) => c.name));
  return new PixelRtsError("E_USAGE", `unknown command '${safeText(name)}'${near.length ? ` (did you mean ${near.join(" or ")}?)` : ""} (see 'pixelrts help')`);
}

/** Commander's own messages ("error: unknown option '--memmory'\n(Did you mean --memory?)") as one E_USAGE line. */
function usageError(e: CommanderError): PixelRtsError {
  const text = e.message.replace(/^error: /, "").replace(/\n\(Did you mean (.*)\?\)/, " (did you mean $1?)").split("\n")[0]!;
  return new PixelRtsError("E_USAGE", `${text} (see 'pixelrts help')`);
}

/**
 * Runs one CLI invocation and returns its exit status. This is the only place that turns
 * errors into exit codes and one-line messages; `process.exit` is never called from commands.
 * Everything printed passes through terminal.ts: commands escape each field they interpolate
 * (safeText), and here every line is checked once more, so no control character from a server
 * or a container reaches the terminal (JSON output keeps exact values).
 */
export async function runCli(argv: string[], rawIo: Io): Promise<number> {
  const json = argv.includes("--json");
  const verbose = argv.includes("--verbose") || argv.includes("-v");
  const clean = json ? safeJson : safeLines;
  const io: Io = { ...rawIo, out: (s: string) => rawIo.out(clean(s)), err: (s: string) => rawIo.err(clean(s)) };
  let status = 0;
  const program = buildProgram(io, async (c, ctx) => {
    const r = await c.run!(ctx);
    status = typeof r === "number" ? r : 0;
  });
  try {
    if (argv.length === 0) {
      program.outputHelp();
      return 0;
    }
    await program.parseAsync(normalizeArgv(argv), { from: "user" });
    return status;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === "commander.helpDisplayed" || e.code === "commander.version" || e.code === "commander.help") return 0;
      return report(usageError(e), io, json, verbose);
    }
    return report(e, io, json, verbose);
  }
}

function report(e: unknown, io: Io, json: boolean, verbose: boolean): number {
  const code = isPixelRtsError(e) ? e.code : "E_INTERNAL";
  const message = e instanceof Error ? e.message : String(e);
  if (json) io.err(JSON.stringify({ event: "error", code, message, ...(isPixelRtsError(e) ? { details: e.details } : {}) }));
  else io.err(`pixelrts: ${code}: ${safeText(message)}`);
  if (verbose) {
    if (isPixelRtsError(e) && Object.keys(e.details).length) io.err(JSON.stringify(e.details, null, 2));
    // A message may carry a server's words: its line breaks must not forge lines of their own.
    if (e instanceof Error && e.stack) io.err(e.stack.replace(e.message, safeText(e.message)));
    if (e instanceof Error && e.cause) io.err(`cause: ${safeText((e.cause as Error).message ?? String(e.cause))}${(e.cause as Error).stack ? `\n${(e.cause as Error).stack!.split("\n").slice(1).join("\n")}` : ""}`);
  } else if (!isPixelRtsError(e)) {
    io.err("(an unexpected error: run again with --verbose for details, and report it)");
  }
  return exitCodeFor(isPixelRtsError(e) ? e.code : undefined);
}
