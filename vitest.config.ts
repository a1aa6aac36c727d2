import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";

// Two projects in one run: the Worker inside real workerd (vitest-pool-workers, local R2),
// and everything else (codec, agent, Worker<->agent over loopback HTTP) in Node.
export default defineConfig({
  test: {
    projects: [
      {
        plugins: [cloudflareTest({ main: "./worker/index.ts", wrangler: { configPath: "./wrangler.toml" } })],
        test: { name: "worker", include: ["worker/**/*.test.ts"] },
      },
      {
        test: {
          name: "node",
          environment: "node",
          testTimeout: 60_000,
          include: ["agent/**/*.test.ts", "shared/**/*.test.ts", "test/**/*.test.ts"],
        },
      },
    ],
  },
});
