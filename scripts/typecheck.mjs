// Type-checks both TypeScript projects (agent/shared/tests, and the Worker with workerd's
// types) at the same time: they are independent, and this is a 2-core machine.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const tsc = (project) =>
  new Promise((resolve) => {
    // --incremental: a re-run after a small change re-checks what it touched (build info kept in
    // node_modules/.cache, so a fresh clone checks everything once).
    const info = `node_modules/.cache/tsc/${project === "." ? "root" : project}.tsbuildinfo`;
    const child = spawn(process.execPath, ["node_modules/typescript/bin/tsc", "--noEmit", "--incremental", "--tsBuildInfoFile", info, "-p", project], { cwd: root, stdio: "inherit" });
    child.on("close", (code) => resolve(code ?? 1));
  });
const codes = await Promise.all([tsc("."), tsc("worker")]);
process.exitCode = codes.some((c) => c !== 0) ? 1 : 0;
