/**
 * Setup file of the Worker test project: applies migrations/ to the test D1 database (the pool
 * reads them in vitest.config.ts with readD1Migrations). Storage is per test file, and
 * applyD1Migrations skips what is already applied, so running it before every file is cheap.
 */
import { applyD1Migrations } from "cloudflare:test";
import { env } from "cloudflare:workers";

await applyD1Migrations(env.DB, (env as unknown as { TEST_MIGRATIONS: Parameters<typeof applyD1Migrations>[1] }).TEST_MIGRATIONS);
