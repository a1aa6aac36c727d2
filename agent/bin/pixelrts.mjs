#!/usr/bin/env node
// Thin launcher: the CLI is bundled to dist/ by `npm run build` (run by `npm ci` via prepare).
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const bundle = new URL("../../dist/pixelrts.mjs", import.meta.url);
if (!existsSync(fileURLToPath(bundle))) {
  process.stderr.write("pixelrts: E_NOT_BUILT: the CLI is not built yet; run `npm run build` in the repository\n");
  process.exit(1);
}
await import(bundle.href);
