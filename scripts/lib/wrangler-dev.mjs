// Starts the Worker under `wrangler dev` on 127.0.0.1 with local R2, waits until it answers,
// and stops it by PID (children first: npm → node → workerd). Used by `npm start`, the demo
// and the end-to-end tests. Never point two instances at the same state dir.
import { spawn, spawnSync } from "node:child_process";
import { createServer } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));

export const WRANGLER_ENV = {
  WRANGLER_SEND_METRICS: "false", // no telemetry
  WRANGLER_SEND_ERROR_REPORTS: "false", // no crash prompt waiting for input
  CLOUDFLARE_CF_FETCH_ENABLED: "false", // built-in request.cf, no DNS lookups
  WRANGLER_HIDE_BANNER: "true", // no banner or update check
};

/** A free TCP port on 127.0.0.1 (asked from the kernel, then released). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export function killTree(pid, signal = "SIGTERM") {
  const kids = spawnSync("pgrep", ["-P", String(pid)], { encoding: "utf8" }).stdout.split(/\s+/).filter(Boolean);
  for (const k of kids) killTree(Number(k), signal);
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

async function waitReady(url, child, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`wrangler dev exited with ${child.exitCode} before it was ready`);
    try {
      const res = await fetch(`${url}/api/v1/health`, { signal: AbortSignal.timeout(2000) });
      if (res.ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`wrangler dev did not answer ${url}/api/v1/health within ${timeoutMs / 1000} s`);
}

/**
 * Applies migrations/ (the D1 catalog index schema) to the local database in `stateDir` with
 * wrangler's own command (~3 s); already-applied migrations are skipped. Run before wrangler dev
 * starts on that state dir (never two wrangler processes on one state dir).
 */
export function applyLocalMigrations(stateDir, stdio = "pipe") {
  const r = spawnSync(process.execPath, [join(ROOT, "node_modules/wrangler/bin/wrangler.js"), "d1", "migrations", "apply", "DB", "--local", "--persist-to", stateDir], {
    cwd: ROOT,
    env: { ...process.env, ...WRANGLER_ENV, CI: "1" }, // CI: no confirmation prompt
    stdio: ["ignore", stdio, stdio],
    encoding: "utf8",
  });
  if (r.status !== 0) throw new Error(`wrangler d1 migrations apply failed (exit ${r.status}): ${(r.stderr ?? "").slice(-2000)}${(r.stdout ?? "").slice(-2000)}`);
}

/**
 * @param {{ port?: number, stateDir: string, vars?: Record<string,string>, stdio?: "inherit"|"pipe"|"ignore", timeoutMs?: number }} opts
 * @returns {Promise<{ url: string, port: number, pid: number, output: () => string, stop: () => Promise<void> }>}
 */
export async function startWranglerDev(opts) {
  applyLocalMigrations(opts.stateDir, opts.stdio === "inherit" ? "inherit" : "pipe");
  const port = opts.port ?? (await freePort());
  const inspectorPort = await freePort();
  const args = [join(ROOT, "node_modules/wrangler/bin/wrangler.js"), "dev", "--ip", "127.0.0.1", "--port", String(port), "--inspector-port", String(inspectorPort), "--persist-to", opts.stateDir, "--show-interactive-dev-session=false"];
  for (const [k, v] of Object.entries(opts.vars ?? {})) args.push("--var", `${k}:${v}`);
  const stdio = opts.stdio ?? "pipe";
  const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, ...WRANGLER_ENV }, stdio: ["ignore", stdio, stdio] });
  let log = "";
  if (stdio === "pipe") {
    child.stdout.on("data", (c) => (log = (log + c).slice(-20_000)));
    child.stderr.on("data", (c) => (log = (log + c).slice(-20_000)));
  }
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    killTree(child.pid);
    const timer = setTimeout(() => killTree(child.pid, "SIGKILL"), 5000);
    await exited;
    clearTimeout(timer);
  };
  try {
    await waitReady(url, child, opts.timeoutMs ?? 60_000);
  } catch (e) {
    await stop();
    throw new Error(`${e.message}\n${log.slice(-3000)}`);
  }
  return { url, port, pid: child.pid, output: () => log, stop };
}
