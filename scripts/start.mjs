#!/usr/bin/env node
// `npm start`: the Worker under `wrangler dev` on 127.0.0.1, local R2 (no Cloudflare account),
// seeded with demo containers on first start, then the URLs are printed. Ctrl-C stops it.
//   PORT (default 8787), PIXELRTS_STATE_DIR (default .wrangler/state), SEED=0 to skip seeding.
// Never run two of these on the same state dir.
import { spawn, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { seed } from "./seed.mjs";

const root = fileURLToPath(new URL("..", import.meta.url));
const port = process.env.PORT ?? "8787";
const stateDir = process.env.PIXELRTS_STATE_DIR ?? join(root, ".wrangler/state");
const url = `http://127.0.0.1:${port}`;

if (!existsSync(join(root, ".dev.vars"))) copyFileSync(join(root, ".dev.vars.example"), join(root, ".dev.vars"));
const token = /^PUBLISH_TOKEN=(.*)$/m.exec(readFileSync(join(root, ".dev.vars"), "utf8"))?.[1]?.trim() ?? "";

const env = {
  ...process.env,
  WRANGLER_SEND_METRICS: "false",
  WRANGLER_SEND_ERROR_REPORTS: "false",
  CLOUDFLARE_CF_FETCH_ENABLED: "false",
  WRANGLER_HIDE_BANNER: "true",
};
const wrangler = spawn(
  process.execPath,
  [join(root, "node_modules/wrangler/bin/wrangler.js"), "dev", "--ip", "127.0.0.1", "--port", port, "--persist-to", stateDir, "--show-interactive-dev-session=false"],
  { cwd: root, env, stdio: ["ignore", "inherit", "inherit"] },
);

function killTree(pid) {
  const kids = spawnSync("pgrep", ["-P", String(pid)], { encoding: "utf8" }).stdout.split(/\s+/).filter(Boolean);
  for (const k of kids) killTree(Number(k));
  try {
    process.kill(pid, "SIGTERM");
  } catch {
    // already gone
  }
}
let stopping = false;
const stop = (code = 0) => {
  if (stopping) return;
  stopping = true;
  killTree(wrangler.pid);
  setTimeout(() => process.exit(code), 300);
};
process.on("SIGINT", () => stop(0));
process.on("SIGTERM", () => stop(0));
wrangler.on("exit", (code) => {
  if (!stopping) {
    console.error(`wrangler dev exited (${code})`);
    process.exit(code ?? 1);
  }
});

async function ready(deadline = Date.now() + 60_000) {
  while (Date.now() < deadline) {
    try {
      if ((await fetch(`${url}/api/v1/health`)).ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error("wrangler dev did not become ready within 60 s");
}

try {
  await ready();
  if (process.env.SEED !== "0") await seed({ url, token });
  console.log(`
  PixelRTS Edge is running (local R2 in ${stateDir})
    catalog         ${url}/api/v1/catalog
    remote catalog  ${url}/api/v1/remote/catalog
    health          ${url}/api/v1/health
    publish token   ${token || "(none: publishing disabled)"}   (from .dev.vars)
  Ctrl-C to stop.
`);
} catch (e) {
  console.error(String(e?.message ?? e));
  stop(1);
}
