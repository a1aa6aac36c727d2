import { PixelRtsError } from "../../shared/errors.js";
import { runCli } from "./run.js";

async function main(): Promise<void> {
  // `pixelrts catalog | head -1`: the reader went away, which is not an error worth a stack trace.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on("error", (e: NodeJS.ErrnoException) => {
      if (e.code === "EPIPE") process.exit(process.exitCode ?? 0);
      throw e;
    });
  }
  const controller = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(130);
    controller.abort(new PixelRtsError("E_INTERRUPTED", `interrupted by ${sig}`));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const status = await runCli(process.argv.slice(2), {
    out: (s) => void process.stdout.write(s + "\n"),
    err: (s) => void process.stderr.write(s + "\n"),
    stdoutIsTTY: Boolean(process.stdout.isTTY),
    signal: controller.signal,
  });
  process.exitCode = status;
}

await main();
