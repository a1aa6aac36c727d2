// Bundles the agent CLI into dist/pixelrts.mjs so `pixelrts` starts in plain Node
// (no TypeScript loader on the hot path: `boot --dry-run` must answer fast).
// npm dependencies stay external: they are resolved from node_modules at run time.
// Files are written only when they changed, each by rename: a CLI starting while a build runs
// (tests build too) never reads a half-written bundle.
import { build } from "esbuild";
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
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
  write: false,
  logLevel: "warning",
});

const unchanged = (path, bytes) => {
  try {
    return Buffer.from(bytes).equals(readFileSync(path));
  } catch {
    return false;
  }
};
for (const f of result.outputFiles) {
  if (unchanged(f.path, f.contents)) continue;
  mkdirSync(dirname(f.path), { recursive: true });
  const tmp = `${f.path}.${process.pid}.tmp`;
  writeFileSync(tmp, f.contents);
  renameSync(tmp, f.path);
}

// Chunks of earlier builds (their names carry a content hash) would pile up: keep this build's.
const fresh = new Set(result.outputFiles.map((f) => f.path));
const chunks = join(root, "dist/chunks");
for (const f of readdirSync(chunks)) if (!fresh.has(join(chunks, f)) && !f.endsWith(".tmp")) rmSync(join(chunks, f), { force: true });
