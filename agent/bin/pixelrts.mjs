#!/usr/bin/env node
// Thin launcher: the CLI is bundled to dist/ by `npm run build` (run by `npm ci` via prepare).
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { setFlagsFromString } from "node:v8";

// undici parses HTTP with llhttp, a WebAssembly module. V8 first compiles it with its baseline
// compiler (Liftoff), then optimizes it on background threads, and a process cannot exit before
// those finish: ~0.13 s of CPU and of wall time at the end of every networked command, for code
// that only reads headers and chunk sizes. Baseline code only (measured: `servers add` 0.48 s ->
// 0.34 s; pulls run at the same speed, see bench/pull.bench.ts). Before anything compiles wasm.
setFlagsFromString("--liftoff-only");

const bundle = new URL("../../dist/pixelrts.mjs", import.meta.url);
if (!existsSync(fileURLToPath(bundle))) {
  process.stderr.write("pixelrts: E_NOT_BUILT: the CLI is not built yet; run `npm run build` in the repository\n");
  process.exit(1);
}
await import(bundle.href);
