// Bundles the agent CLI into dist/pixelrts.mjs so `pixelrts` starts in plain Node
// (no TypeScript loader on the hot path: `boot --dry-run` must answer fast).
// npm dependencies stay external: they are resolved from node_modules at run time.
import { build } from "esbuild";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));

await build({
  absWorkingDir: root,
  entryPoints: { pixelrts: "agent/cli/main.ts" },
  outdir: "dist",
  outExtension: { ".js": ".mjs" },
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  packages: "external",
  // chunks loaded on demand: `serve` imports its server (hono) only when it runs
  splitting: true,
  chunkNames: "chunks/[name]-[hash]",
  sourcemap: "linked",
  logLevel: "warning",
});
