import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";
import LongestFirst from "./test/longest-first.js";
import { remoteFixtures, TEST_REMOTES } from "./worker/test/remotes.node.js";

// Two projects in one run: the Worker inside real workerd (vitest-pool-workers, local R2),
// and everything else (codec, agent, Worker<->agent over loopback HTTP) in Node.
/**
 * The slow system tests: a Debian system built with mmdebstrap and booted to multi-user.target
 * from the Worker, and a 600 MiB container through the codec in bounded memory. They run in CI
 * as their own step, so `npm test` stays a fast suite (under 2 minutes on 2 cores).
 */
const SYSTEM_TESTS = ["test/e2e/debian.test.ts", "test/large-container.test.ts"];

export default defineConfig({
  test: {
    // Three test files at once on the 2-core CI machine: much of the suite waits on child
    // processes (the CLI, wrangler dev, QEMU) and sockets. Measured 2026-12-03 with the processes
    // shared: two 114 s, three 106 s, four 110 s (by three, both cores are busy).
    maxWorkers: 3,
    // The Worker project first, longest files first (test/longest-first.ts); vitest's own random
    // order when asked to shuffle (a configured sequencer would silently replace it).
    sequence: process.argv.some((a) => a.startsWith("--sequence.shuffle")) ? {} : { sequencer: LongestFirst },
    projects: [
      {
        plugins: [
          cloudflareTest({
            main: "./worker/index.ts",
            wrangler: { configPath: "./wrangler.toml" },
            miniflare: {
              // Test values over wrangler.toml's: a publish token, fake remotes with a short
              // timeout/size cap, and every outbound fetch answered by the fixtures (never the network).
              bindings: {
                PUBLISH_TOKEN: "test-token",
                REMOTE_SERVERS: JSON.stringify(TEST_REMOTES),
                REMOTE_TIMEOUT_MS: "500",
                REMOTE_MAX_BYTES: "65536",
                // the D1 catalog index schema, applied by worker/test/fresh-storage.ts
                TEST_MIGRATIONS: await readD1Migrations("./migrations"),
              },
              outboundService: remoteFixtures,
            },
          }),
        ],
        test: {
          name: "worker",
          include: ["worker/**/*.test.ts"],
          testTimeout: 30_000,
          // One workerd serves many test files (not one each); fresh-storage.ts empties R2 and D1
          // and forgets memory caches before every file, so each still starts from nothing.
          isolate: false,
          setupFiles: ["./worker/test/fresh-storage.ts"],
        },
      },
      {
        test: {
          name: "node",
          environment: "node",
          testTimeout: 60_000,
          // Test files run one after another in a few long-lived processes instead of a fresh
          // process each: re-importing miniflare, playwright-core, hono and the agent per file cost
          // ~35 s of CPU (node project 106 s -> 91 s, 2026-12-03). Every file makes its own temp
          // dirs, servers and agents and closes them; one that changes process-wide state
          // (process.env.PATH in serve-api.test.ts) puts it back in afterAll.
          isolate: false,
          include: ["agent/**/*.test.ts", "shared/**/*.test.ts", "test/**/*.test.ts"],
          exclude: SYSTEM_TESTS,
        },
      },
      {
        // `npm run test:system` (CI runs it after `npm test`): minutes, not seconds, each.
        test: { name: "system", environment: "node", testTimeout: 900_000, include: SYSTEM_TESTS },
      },
    ],
  },
});
