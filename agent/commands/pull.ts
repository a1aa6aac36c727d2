import { fail, isPixelRtsError } from "../../shared/errors.js";
import type { Command } from "../cli/command.js";
import { ensureCached } from "../pull/index.js";
import { CACHE_DIR_OPTION, copyOut, outputPath, reporterFor, secondsFlag, withAgent } from "./common.js";

export const pullCommand: Command = {
  name: "pull",
  summary: "Download a container into the verified local cache (resumes, retries, shares downloads)",
  args: [{ name: "<REF>", description: "catalog id or name, sha256:HEX, or an http(s) URL" }],
  options: {
    server: { type: "string", value: "NAME", description: "look the id up on this configured server only" },
    timeout: { type: "string", value: "SECONDS", description: "give up after this long, retries included (default: PIXELRTS_PULL_TIMEOUT_MS, 4 h; 0: none)" },
    refresh: { type: "boolean", description: "revalidate a cached copy of a URL even if it is fresh (names are always asked again)" },
    sha256: { type: "string", value: "HEX", description: "the file's SHA-256, for a URL on a server that sends none (a plain static server)" },
    output: { type: "string", short: "o", value: "FILE", description: "also copy the verified container to FILE (its directory must exist)" },
    "allow-downgrade": { type: "boolean", description: "accept a signed container older than the newest one accepted for this name (E_ROLLBACK otherwise)" },
    offline: { type: "boolean", description: "use the cache only: succeed with a cached copy or fail with E_OFFLINE" },
    ...CACHE_DIR_OPTION,
  },
  examples: [
    "pixelrts pull demo-linux                        # by catalog id or name",
    "pixelrts pull sha256:69f9ac1111b68fdd…          # by the file's SHA-256 (any configured server)",
    "pixelrts pull https://edge.example.net/api/v1/containers/demo-linux",
    "pixelrts pull https://files.example.net/os.rts.png --sha256 69f9ac11…   # a plain web server",
    "pixelrts pull demo-linux -o demo-linux.rts.png  # and keep a copy outside the cache",
  ],
  notes: "Downloads resume after a reset, are retried (network errors, 408, 429, 5xx), and are verified against the file's SHA-256 before they enter the cache; two processes pulling the same container share one download.",
  async run(ctx) {
    const ref = ctx.positionals[0] ?? fail("E_USAGE", "pull needs an ID, NAME, URL or sha256:HEX");
    if (ctx.positionals.length > 1) fail("E_USAGE", `unexpected argument '${ctx.positionals[1]}'`);
    // overall deadline (default: pullTimeoutMs, 4 h); 0 means none
    const timeoutMs = secondsFlag(ctx.values, "timeout", true);
    // Checked before anything is fetched: a download must not end in a path that cannot be written.
    const output = typeof ctx.values.output === "string" ? await outputPath(ctx.values.output) : undefined;
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
          ...(typeof ctx.values.sha256 === "string" ? { sha256: ctx.values.sha256 } : {}),
          ...(ctx.values["allow-downgrade"] ? { allowDowngrade: true } : {}),
        });
        if (r.note) report({ event: "note", ref, message: r.note });
        if (r.trust.state !== "not-checked") report({ event: "note", ref, message: r.trust.line });
        if (output) await copyOut(r.path, output);
        const { line: _, ...signature } = r.trust;
        report({ event: "done", ref, sha256: r.sha256, size: r.size, path: r.path, from_cache: r.fromCache, ...(r.stale ? { stale: true } : {}), signature, ...(output ? { output } : {}) });
      } catch (e) {
        report.close();
        if (ctx.json) report({ event: "error", ref, code: isPixelRtsError(e) ? e.code : "E_INTERNAL", message: (e as Error).message });
        throw e;
      }
    });
  },
};
