/**
 * Setup file of the Worker test project, run before every test file: each file starts from empty
 * storage and a cold isolate's memory, then the catalog index schema (migrations/, read by
 * vitest.config.ts with readD1Migrations) is applied.
 *
 * The project runs without per-file isolation (one workerd for many files: starting a workerd
 * per file cost ~0.6 s of CPU each), so "empty" is made here rather than given: every R2 object
 * is deleted and every D1 table and view dropped. What a file stored cannot reach the next one
 * (work a file left running past its end, e.g. after a timeout, still could: only a failure
 * leaves such work behind).
 */
import { applyD1Migrations } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { clearRemoteCache } from "../remote/cache.js";

async function emptyBucket(bucket: R2Bucket): Promise<void> {
  for (;;) {
    const page = await bucket.list({ limit: 1000 });
    if (page.objects.length === 0) return;
    await bucket.delete(page.objects.map((o) => o.key));
  }
}

/** Drops every view and table (virtual tables first: dropping an FTS table drops its shadow tables). */
async function emptyDatabase(db: D1Database): Promise<void> {
  const { results } = await db
    .prepare(
      `SELECT type, name FROM sqlite_master WHERE type IN ('view', 'table') AND substr(name, 1, 7) <> 'sqlite_' AND substr(name, 1, 4) <> '_cf_'
       ORDER BY type = 'view' DESC, sql LIKE 'CREATE VIRTUAL%' DESC`,
    )
    .all<{ type: "view" | "table"; name: string }>();
  for (const { type, name } of results) {
    // IF EXISTS: the shadow tables of a dropped FTS table are gone already
    await db.prepare(`DROP ${type === "view" ? "VIEW" : "TABLE"} IF EXISTS "${name.replaceAll('"', '""')}"`).run();
  }
}

const testEnv = env as unknown as { BUCKET: R2Bucket; DB: D1Database; TEST_MIGRATIONS: Parameters<typeof applyD1Migrations>[1] };
await emptyBucket(testEnv.BUCKET);
await emptyDatabase(testEnv.DB);
clearRemoteCache();
await applyD1Migrations(testEnv.DB, testEnv.TEST_MIGRATIONS);
