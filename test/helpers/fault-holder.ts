/**
 * Starts another pixelrts process (test/helpers/fault-holder-child.ts under tsx) pulling into a
 * shared cache, so tests can kill or freeze the process holding a download lock. Its NDJSON
 * events can be awaited; `waitFor` rejects if the process ends first, so nothing waits for ever.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const CHILD = fileURLToPath(new URL("./fault-holder-child.ts", import.meta.url));
const GUARD = fileURLToPath(new URL("./loopback-only.mjs", import.meta.url));

export type HolderEvent = { event: string; [k: string]: unknown };

export interface Holder {
  child: ChildProcess;
  events: HolderEvent[];
  waitFor(match: (e: HolderEvent) => boolean): Promise<HolderEvent>;
  /** Resolves with the exit code (null when killed by a signal) and the signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr(): string;
}

export function startHolder(ref: string, env: Record<string, string>): Holder {
  const child = spawn(process.execPath, ["--import", "tsx", "--import", GUARD, CHILD, ref], { cwd: ROOT, env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env }, stdio: ["ignore", "pipe", "pipe"] });
  const events: HolderEvent[] = [];
  const waiters: { match: (e: HolderEvent) => boolean; resolve: (e: HolderEvent) => void; reject: (e: Error) => void }[] = [];
  let buffered = "";
  let stderr = "";
  child.stdout!.on("data", (d: Buffer) => {
    buffered += d;
    for (let nl = buffered.indexOf("\n"); nl >= 0; nl = buffered.indexOf("\n")) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      if (!line.trim()) continue;
      const e = JSON.parse(line) as HolderEvent;
      events.push(e);
      for (const w of waiters.filter((w) => w.match(e))) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(e);
      }
    }
  });
  child.stderr!.on("data", (d: Buffer) => (stderr += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("close", (code, signal) => {
      for (const w of waiters.splice(0)) w.reject(new Error(`holder exited (${code ?? signal}) before the awaited event; stderr: ${stderr.slice(0, 500)}`));
      resolve({ code, signal });
    }),
  );
  return {
    child,
    events,
    exited,
    stderr: () => stderr,
    waitFor: (match) => {
      const seen = events.find(match);
      if (seen) return Promise.resolve(seen);
      if (child.exitCode !== null || child.signalCode !== null) return Promise.reject(new Error("holder already exited"));
      return new Promise((resolve, reject) => waiters.push({ match, resolve, reject }));
    },
  };
}
