/** What every command receives: parsed flags, positionals, and where to write. */
export interface CommandContext {
  /** Flags by their long name (`dry-run`); switches are false when absent, lists [] when absent. */
  values: Record<string, string | boolean | string[] | undefined>;
  /** The flags given on the command line (not defaults), by long name. */
  given: ReadonlySet<string>;
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

/** One flag: how it parses, and what `pixelrts help COMMAND` says about it. */
export interface OptionSpec {
  /** `string` takes a value, `boolean` is a switch, `list` takes a value and may be repeated. */
  type: "string" | "boolean" | "list";
  short?: string;
  /** Name of the value in help (`--memory SIZE`). */
  value?: string;
  /** One line: what it does, including its default when there is one. */
  description: string;
  /** Applied when the flag is absent (string flags only), and shown in help. */
  default?: string;
}

export interface Command {
  name: string;
  /** One line for the command list. */
  summary: string;
  /** Positional arguments as help shows them, commander syntax: `<REF>`, `[QUERY]`, `<FILES...>`. */
  args?: { name: string; description: string }[];
  options: Record<string, OptionSpec>;
  /** Shown under "Examples:" in the command's help, one command line each (comments after #). */
  examples?: string[];
  /** A paragraph after the flags (rules, exit codes specific to the command). */
  notes?: string;
  /** Verbs (`servers add`). */
  subcommands?: Command[];
  /** For a verb: the one that runs when its command is given without a verb (`pixelrts cache`). */
  isDefault?: boolean;
  /** Returns the process exit code (0 unless the command propagates one, like boot does QEMU's). */
  run?(ctx: CommandContext): Promise<number | void>;
}
