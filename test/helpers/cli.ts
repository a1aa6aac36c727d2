/** Child processes for tests and benches: the built `pixelrts` CLI, or any command, run to their end. */
import { spawn, spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

export const CLI = fileURLToPath(new URL("../../agent/bin/pixelrts.mjs", import.meta.url));
/** A Node preload that prints the process's peak RSS (getrusage, worker threads included) as the last stderr line. */
export const WITH_RSS = fileURLToPath(new URL("../../bench/lib/with-rss.mjs", import.meta.url));

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  cwd?: string;
  /** The child's whole environment (default: this process's). */
  env?: NodeJS.ProcessEnv;
  /** Node flags before the script (`--import` a guard). */
  nodeArgs?: string[];
  /** Another build of the CLI. */
  cli?: string;
}

/** Runs `cmd` to its end, collecting its output; `ms` is its wall time. */
export function runProcess(cmd: string, argv: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliRun & { ms: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, argv, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr, ms: performance.now() - t0 }));
  });
}

/**
 * Brings dist/ up to date, so a test file run alone tests the code as it is (npm test builds
 * first too). The build writes only what changed, each file by rename: safe while other files
 * run the CLI or build the same way.
 */
export function buildCli(): { stderr: string } {
  const r = spawnSync(process.execPath, [fileURLToPath(new URL("../../scripts/build.mjs", import.meta.url))], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`scripts/build.mjs failed (exit ${r.status}): ${r.stderr}`);
  return { stderr: r.stderr };
}

/** Runs the CLI to its end; async, so independent runs can overlap. */
export function runCli(args: string[], opts: CliOptions = {}): Promise<CliRun> {
  return runProcess(process.execPath, [...(opts.nodeArgs ?? []), opts.cli ?? CLI, ...args], opts);
}

/** Separates WITH_RSS's last line from a run's stderr: the peak RSS in bytes (NaN without it). */
export function withMaxRss<R extends CliRun>(r: R): R & { maxRss: number } {
  const m = /MAXRSS (\d+)\s*$/.exec(r.stderr);
  return { ...r, stderr: r.stderr.replace(/\n?MAXRSS \d+\s*$/, ""), maxRss: m ? Number(m[1]) : NaN };
}
