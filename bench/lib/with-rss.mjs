// Runs a Node script (argv[2]) with the remaining arguments and, on exit, prints its own peak
// RSS ("MAXRSS <bytes>", getrusage of the whole process: main thread and worker threads) as the
// last line of stderr. A file, not `node -e`, so no flag reaches the script's worker threads.
const [script, ...rest] = process.argv.slice(2);
process.argv = [process.argv[0], script, ...rest];
process.on("exit", () => process.stderr.write(`\nMAXRSS ${process.resourceUsage().maxRSS * 1024}\n`));
await import(new URL(script, `file://${process.cwd()}/`).href);
