/**
 * The real Worker (bundled with esbuild) in Miniflare (workerd, local R2 and D1) on 127.0.0.1: what the
 * Node-side tests talk to over real HTTP (toolchain.md §4). Any outbound fetch is recorded and
 * refused, so a test can assert the Worker reached nothing beyond loopback.
 */
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { Miniflare } from "miniflare";
import { applyMigrations } from "../../scripts/lib/d1-migrations.mjs";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
let bundled: Promise<string> | undefined;

function workerScript(): Promise<string> {
  bundled ??= build({ entryPoints: [`${ROOT}worker/index.ts`], bundle: true, format: "esm", platform: "neutral", target: "es2022", write: false, conditions: ["workerd", "worker", "browser"], mainFields: ["module", "main"], logLevel: "silent" }).then((o) => o.outputFiles[0]!.text);
  return bundled;
}

export interface TestWorker {
  url: string;
  /** URLs the Worker tried to fetch outside (should stay empty). */
  outbound: string[];
  dispose(): Promise<void>;
}

/** `persist`: a directory for R2 and D1 on disk, as under `wrangler dev` (benchmarks); in memory otherwise. */
export async function startTestWorker(bindings: Record<string, string> = {}, opts: { persist?: string } = {}): Promise<TestWorker> {
  const outbound: string[] = [];
  const mf = new Miniflare({
    modules: true,
    script: await workerScript(),
    compatibilityDate: "2026-05-03",
    r2Buckets: { BUCKET: "test-bucket" },
    d1Databases: { DB: "test-catalog-index" },
    ...(opts.persist ? { r2Persist: `${opts.persist}/r2`, d1Persist: `${opts.persist}/d1` } : {}),
    bindings: { REMOTE_SERVERS: "[]", ...bindings },
    cf: false,
    port: 0,
    host: "127.0.0.1",
    outboundService: (req) => {
      outbound.push(req.url);
      return new Response("blocked by test", { status: 599 });
    },
  });
  const url = (await mf.ready).toString().replace(/\/$/, "");
  await applyMigrations(await mf.getD1Database("DB")); // the catalog index schema (migrations/)
  return { url, outbound, dispose: () => mf.dispose() };
}
