#!/usr/bin/env node
// `npm start`: the Worker under `wrangler dev` on 127.0.0.1, local R2 (no Cloudflare account),
// seeded with demo containers on first start, then the URLs are printed. Ctrl-C stops it.
//   PORT (default 8787), PIXELRTS_STATE_DIR (default .wrangler/state), SEED=0 to skip seeding.
// Never run two of these on the same state dir.
import { copyFileSync, existsSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { ROOT, startWranglerDev } from "./lib/wrangler-dev.mjs";
import { seed } from "./seed.mjs";

const port = Number(process.env.PORT ?? 8787);
const stateDir = process.env.PIXELRTS_STATE_DIR ?? join(ROOT, ".wrangler/state");

// wrangler dev reads secrets from .dev.vars; make one from the example on first start.
if (!existsSync(join(ROOT, ".dev.vars"))) copyFileSync(join(ROOT, ".dev.vars.example"), join(ROOT, ".dev.vars"));
const token = /^PUBLISH_TOKEN=(.*)$/m.exec(readFileSync(join(ROOT, ".dev.vars"), "utf8"))?.[1]?.trim() ?? "";

/** Is the port free on 127.0.0.1? (wrangler would otherwise fall back to another one, and we would seed whatever answers on this one.) */
function portFree(p) {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen(p, "127.0.0.1", () => s.close(() => resolve(true)));
  });
}

if (!Number.isInteger(port) || port < 1 || port > 65535) {
  console.error(`PORT must be a TCP port number, not '${process.env.PORT}'`);
  process.exit(2);
}
if (!(await portFree(port))) {
  console.error(`Port ${port} on 127.0.0.1 is taken (another Worker or server is running there). Stop it, or choose another port: PORT=${port + 1} npm start`);
  process.exit(1);
}

let worker;
try {
  worker = await startWranglerDev({ port, stateDir, stdio: "inherit" });
} catch (e) {
  console.error(String(e?.message ?? e));
  process.exit(1);
}
const stop = async (code = 0) => {
  await worker.stop();
  process.exit(code);
};
process.on("SIGINT", () => void stop(0));
process.on("SIGTERM", () => void stop(0));

try {
  if (process.env.SEED !== "0") await seed({ url: worker.url, token });
  console.log(`
  PixelRTS Edge is running (local R2 in ${stateDir})
    page            ${worker.url}/   (open it in a browser)
    catalog         ${worker.url}/api/v1/catalog
    remote catalog  ${worker.url}/api/v1/remote/catalog
    health          ${worker.url}/api/v1/health
    publish token   ${token || "(none: publishing disabled)"}   (from .dev.vars)
  Try: npx pixelrts servers add ${worker.url} --name local && npx pixelrts catalog
  Ctrl-C to stop.
`);
} catch (e) {
  console.error(String(e?.message ?? e));
  await stop(1);
}
