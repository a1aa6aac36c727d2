/**
 * Test scaffolding for the agent: temp config/cache dirs, an agent with fast retry delays, and
 * an event collector. Tests only; nothing in the CLI imports this.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Settings } from "../config/settings.js";
import { openAgent, type AgentContext } from "../context.js";
import type { PullEvent } from "../progress/events.js";

export const FAST_RETRIES: Partial<Settings> = { retries: 3, retryBaseMs: 5, retryMaxMs: 2000, retryJitterMs: 5, headersTimeoutMs: 5000, bodyTimeoutMs: 5000, catalogTimeoutMs: 3000 };

export interface TestAgent {
  agent: AgentContext;
  dir: string;
  env: Record<string, string>;
  events: PullEvent[];
  emit: (e: PullEvent) => void;
  cleanup(): Promise<void>;
}

export async function makeTestAgent(settings: Partial<Settings> = {}, cacheDir?: string): Promise<TestAgent> {
  const dir = await mkdtemp(join(tmpdir(), "pixelrts-test-"));
  const env = { PIXELRTS_CONFIG_DIR: join(dir, "config"), PIXELRTS_CACHE_DIR: cacheDir ?? join(dir, "cache"), HOME: dir };
  const agent = await openAgent({ env, settings: { ...FAST_RETRIES, ...settings } });
  const events: PullEvent[] = [];
  return {
    agent,
    dir,
    env,
    events,
    emit: (e) => void events.push(e),
    cleanup: async () => {
      await agent.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
