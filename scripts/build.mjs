// Bundles the agent CLI into dist/pixelrts.mjs so `pixelrts` starts in plain Node
// (no TypeScript loader on the hot path: `boot --dry-run` must answer fast).
// npm dependencies stay external: they are resolved from node_modules at run time.
import { build } from "esbuild";
import { readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));

const result = await build({
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
  metafile: true,
  logLevel: "warning",
});

// Chunks of earlier builds (their names carry a content hash) would pile up: keep this build's.
const fresh = new Set(Object.keys(result.metafile.outputs).map((p) => join(root, p)));
const chunks = join(root, "dist/chunks");
for (const f of readdirSync(chunks)) if (!fresh.has(join(chunks, f))) rmSync(join(chunks, f), { force: true });
