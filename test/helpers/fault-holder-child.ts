/**
 * Child process for the fault suite's "holder" rows: pulls one ref into the cache named by
 * PIXELRTS_CACHE_DIR (holding its download lock meanwhile) and prints the pull's events as
 * NDJSON on stdout. Run as `node --import tsx --import ./test/helpers/loopback-only.mjs THIS REF`.
 */
import { openAgent } from "../../agent/context.js";
import { ensureCached } from "../../agent/pull/ensure.js";

const print = (o: unknown) => process.stdout.write(JSON.stringify(o) + "\n");
const agent = await openAgent();
try {
  const r = await ensureCached(agent, process.argv[2]!, { emit: print });
  print({ event: "done", sha256: r.sha256, from_cache: r.fromCache });
} catch (e) {
  print({ event: "error", code: (e as { code?: string }).code ?? "E_INTERNAL", message: (e as Error).message });
  process.exitCode = 1;
} finally {
  await agent.close();
}
