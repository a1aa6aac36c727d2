// `npm test`: builds the CLI, then type-checks and runs the suite (the Worker and Node projects)
// side by side. The suite leaves part of a core idle while its tests wait on processes and
// sockets; the type-check (~5 s here, ~15 s on a fresh clone) runs at a lower CPU priority in
// those gaps instead of before the suite. Fails if either fails. Extra arguments go to vitest
// (`npm test -- test/publish.test.ts`).
import { spawn, spawnSync } from "node:child_process";
import { setPriority } from "node:os";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const node = (script, args = []) => spawn(process.execPath, [script, ...args], { cwd: root, stdio: "inherit" });
const exitOf = (child) => new Promise((resolve) => child.on("close", (code, signal) => resolve(code ?? (signal ? 128 : 1))));

const build = spawnSync(process.execPath, ["scripts/build.mjs"], { cwd: root, stdio: "inherit" });
if (build.status !== 0) process.exit(build.status ?? 1);

const typecheck = node("scripts/typecheck.mjs");
try {
  setPriority(typecheck.pid, 10); // its children (tsc) inherit the niceness
} catch {
  // not permitted here: it just competes at normal priority
}
const suite = node("node_modules/vitest/vitest.mjs", ["run", "--project", "worker", "--project", "node", ...process.argv.slice(2)]);
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => [typecheck, suite].forEach((c) => c.kill(sig)));

const [types, tests] = await Promise.all([exitOf(typecheck), exitOf(suite)]);
if (types !== 0) console.error("npm test: the type-check failed (see the tsc errors above)");
process.exitCode = types !== 0 ? types : tests;
