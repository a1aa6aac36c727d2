import type { ParseArgsConfig } from "node:util";

/** What every command receives: parsed flags, positionals, and where to write. */
export interface CommandContext {
  values: Record<string, string | boolean | string[] | boolean[] | undefined>;
  positionals: string[];
  /** Human output (stdout). Commands print through this, never console.log, so tests can capture it. */
  out: (line: string) => void;
  /** Diagnostics (stderr): notes and warnings that are not the command's result. */
  err: (line: string) => void;
  json: boolean;
  verbose: boolean;
  stdoutIsTTY: boolean;
  /** Aborted on SIGINT/SIGTERM; long-running commands pass it down. */
  signal: AbortSignal;
}

export interface Command {
  name: string;
  summary: string;
  /** One or more usage lines shown by `pixelrts help NAME` and on usage errors. */
  usage: string[];
  options: NonNullable<ParseArgsConfig["options"]>;
  /** Returns the process exit code (0 unless the command propagates one, like boot does QEMU's). */
  run(ctx: CommandContext): Promise<number | void>;
}
