import { rm } from "node:fs/promises";
import type { AgentContext } from "../context.js";

/**
 * Drops the saved catalog copies of every configured server at `serverUrl` (its own listing and
 * the federated one), so the next `catalog`/`pull` asks again: after a publish, the copy no
 * longer says what the server holds.
 */
export async function forgetSavedCatalogs(agent: AgentContext, serverUrl: string): Promise<void> {
  const url = serverUrl.replace(/\/+$/, "");
  for (const s of await agent.servers.list()) {
    if (s.url !== url) continue;
    for (const key of [s.name, `${s.name}.remote`]) await rm(agent.cache.layout.catalog(key), { force: true });
  }
}
