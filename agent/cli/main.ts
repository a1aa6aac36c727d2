import { PixelRtsError } from "../../shared/errors.js";
import { runCli } from "./run.js";

async function main(): Promise<void> {
  const controller = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(130);
    controller.abort(new PixelRtsError("E_INTERRUPTED", `interrupted by ${sig}`));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const status = await runCli(process.argv.slice(2), {
    out: (s) => process.stdout.write(s + "\n"),
    err: (s) => process.stderr.write(s + "\n"),
    stdoutIsTTY: Boolean(process.stdout.isTTY),
    signal: controller.signal,
  });
  process.exitCode = status;
}

await main();
