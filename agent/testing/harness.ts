/**
 * Test scaffolding for the agent: temp config/cache dirs, an agent with fast retry delays, and
 * an event collector that tests can wait on. Tests only; nothing in the CLI imports this.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Settings } from "../config/settings.js";
import { openAgent, type AgentContext, type OpenAgentOptions } from "../context.js";
import type { PullEvent } from "../progress/events.js";

/** Short delays and timeouts; tests that are not about retries pass `retries: 0`. */
export const FAST_RETRIES: Partial<Settings> = { retries: 3, retryBaseMs: 5, retryMaxMs: 2000, retryJitterMs: 5, headersTimeoutMs: 5000, bodyTimeoutMs: 5000, catalogTimeoutMs: 3000 };

export interface TestAgent {
  agent: AgentContext;
  dir: string;
  env: Record<string, string>;
  events: PullEvent[];
  emit: (e: PullEvent) => void;
  /** Resolves with the first event (already seen or to come) that matches. */
  waitForEvent(match: (e: PullEvent) => boolean): Promise<PullEvent>;
  cleanup(): Promise<void>;
}

export async function makeTestAgent(settings: Partial<Settings> = {}, cacheDir?: string, extra: Pick<OpenAgentOptions, "interceptors"> = {}): Promise<TestAgent> {
  const dir = await mkdtemp(join(tmpdir(), "pixelrts-test-"));
  const env = { PIXELRTS_CONFIG_DIR: join(dir, "config"), PIXELRTS_CACHE_DIR: cacheDir ?? join(dir, "cache"), HOME: dir };
  const agent = await openAgent({ env, settings: { ...FAST_RETRIES, ...settings }, ...extra });
  const events: PullEvent[] = [];
  const waiters: { match: (e: PullEvent) => boolean; resolve: (e: PullEvent) => void }[] = [];
  return {
    agent,
    dir,
    env,
    events,
    emit: (e) => {
      events.push(e);
      for (const w of waiters.filter((w) => w.match(e))) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(e);
      }
    },
    waitForEvent: (match) => {
      const seen = events.find(match);
      return seen ? Promise.resolve(seen) : new Promise((resolve) => waiters.push({ match, resolve }));
    },
    cleanup: async () => {
      await agent.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
