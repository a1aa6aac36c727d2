// Type-checks both TypeScript projects (agent/shared/tests, and the Worker with workerd's
// types) at the same time: they are independent, and this is a 2-core machine.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const tsc = (project) =>
  new Promise((resolve) => {
    const child = spawn(process.execPath, ["node_modules/typescript/bin/tsc", "--noEmit", "-p", project], { cwd: root, stdio: "inherit" });
    child.on("close", (code) => resolve(code ?? 1));
  });
const codes = await Promise.all([tsc("."), tsc("worker")]);
process.exitCode = codes.some((c) => c !== 0) ? 1 : 0;
