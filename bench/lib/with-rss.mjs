// Runs a Node script (argv[2]) with the remaining arguments and, on exit, prints its own peak
// RSS ("MAXRSS <bytes>": the process's VmHWM, main thread and worker threads) as the last line of
// stderr. VmHWM, not getrusage's maxRSS: on Linux a child's ru_maxrss starts at its parent's
// high-water mark, so a big test runner or bench process would set the floor. A file, not
// `node -e`, so no flag reaches the script's worker threads.
import { readFileSync } from "node:fs";

const [script, ...rest] = process.argv.slice(2);
process.argv = [process.argv[0], script, ...rest];
function peakRss() {
  const hwm = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync("/proc/self/status", "utf8"));
  return hwm ? Number(hwm[1]) * 1024 : process.resourceUsage().maxRSS * 1024;
}
process.on("exit", () => process.stderr.write(`\nMAXRSS ${peakRss()}\n`));
await import(new URL(script, `file://${process.cwd()}/`).href);
