import { fail, isPixelRtsError } from "../../shared/errors.js";
import type { Command } from "../cli/command.js";
import { ensureCached } from "../pull/index.js";
import { CACHE_DIR_OPTION, reporterFor, withAgent } from "./common.js";

export const pullCommand: Command = {
  name: "pull",
  summary: "Download a container into the verified local cache (resumes, retries, shares downloads)",
  usage: ["pull ID|NAME|URL|sha256:HEX [--server NAME] [--refresh] [--offline] [--timeout SECONDS] [--json] [--cache-dir DIR]"],
  options: {
    server: { type: "string" },
    timeout: { type: "string" },
    refresh: { type: "boolean", default: false },
    offline: { type: "boolean", default: false },
    ...CACHE_DIR_OPTION,
  },
  async run(ctx) {
    const ref = ctx.positionals[0] ?? fail("E_USAGE", "pull needs an ID, NAME, URL or sha256:HEX");
    if (ctx.positionals.length > 1) fail("E_USAGE", `unexpected argument '${ctx.positionals[1]}'`);
    // overall deadline (default: pullTimeoutMs, 4 h); 0 means none
    const timeoutText = ctx.values.timeout as string | undefined;
    const timeoutMs = timeoutText === undefined ? undefined : Number(timeoutText) * 1000;
    if (timeoutMs !== undefined && (timeoutText!.trim() === "" || !Number.isFinite(timeoutMs) || timeoutMs < 0)) fail("E_USAGE", `--timeout takes seconds (0: no deadline), got '${timeoutText}'`);
    const report = reporterFor(ctx);
    return withAgent(ctx, async (agent) => {
      try {
        const r = await ensureCached(agent, ref, {
          emit: report,
          signal: ctx.signal,
          refresh: Boolean(ctx.values.refresh),
          offline: Boolean(ctx.values.offline),
          ...(timeoutMs !== undefined ? { timeoutMs } : {}),
          ...(typeof ctx.values.server === "string" ? { server: ctx.values.server } : {}),
        });
        if (r.note) report({ event: "note", ref, message: r.note });
        report({ event: "done", ref, sha256: r.sha256, size: r.size, path: r.path, from_cache: r.fromCache, ...(r.stale ? { stale: true } : {}) });
      } catch (e) {
        report.close();
        if (ctx.json) report({ event: "error", ref, code: isPixelRtsError(e) ? e.code : "E_INTERNAL", message: (e as Error).message });
        throw e;
      }
    });
  },
};
