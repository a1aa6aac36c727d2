#!/usr/bin/env node
// `npm start`: the Worker under `wrangler dev` on 127.0.0.1, local R2 (no Cloudflare account),
// seeded with demo containers on first start, then the URLs are printed. Ctrl-C stops it.
//   PORT (default 8787), PIXELRTS_STATE_DIR (default .wrangler/state), SEED=0 to skip seeding.
// Never run two of these on the same state dir.
import { copyFileSync, existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, startWranglerDev } from "./lib/wrangler-dev.mjs";
import { seed } from "./seed.mjs";

const port = Number(process.env.PORT ?? 8787);
const stateDir = process.env.PIXELRTS_STATE_DIR ?? join(ROOT, ".wrangler/state");

// wrangler dev reads secrets from .dev.vars; make one from the example on first start.
if (!existsSync(join(ROOT, ".dev.vars"))) copyFileSync(join(ROOT, ".dev.vars.example"), join(ROOT, ".dev.vars"));
const token = /^PUBLISH_TOKEN=(.*)$/m.exec(readFileSync(join(ROOT, ".dev.vars"), "utf8"))?.[1]?.trim() ?? "";

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
