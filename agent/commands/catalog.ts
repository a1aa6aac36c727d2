import { fail } from "../../shared/errors.js";
import type { Command } from "../cli/command.js";
import { safeText } from "../cli/terminal.js";
import { hybridView, loadCatalogs, type HybridRow, type ServerCatalog } from "../catalog/index.js";
import { signedLabeller } from "../trust/label.js";
import { formatBytes } from "../progress/index.js";
import { ago, CACHE_DIR_OPTION, printTable, withAgent } from "./common.js";

export const catalogCommand: Command = {
  name: "catalog",
  summary: "List containers on the configured servers and in the local cache",
  args: [{ name: "[QUERY]", description: "words to look for in ids, names, descriptions, distros" }],
  options: {
    source: { type: "string", value: "WHERE", description: "cache (what is downloaded here), servers (the configured catalogs) or all", default: "all" },
    server: { type: "string", value: "NAME", description: "only this configured server" },
    federated: { type: "boolean", description: "also list the catalogs each server aggregates (its /api/v1/remote/catalog)" },
    offline: { type: "boolean", description: "no requests: the saved copies of server catalogs, and the cache" },
    refresh: { type: "boolean", description: "ask every server again now (default: a copy younger than 60 s answers)" },
    ...CACHE_DIR_OPTION,
  },
  examples: ["pixelrts catalog                  # every server and the cache", "pixelrts catalog debian --source servers", "pixelrts catalog --federated --json"],
  notes: "SOURCE is the server a row came from (server/source for federated rows, `cache` for items no server lists). Exit 4 when every server failed.",
  async run(ctx) {
    const source = ctx.values.source as string;
    if (source !== "cache" && source !== "servers" && source !== "all") fail("E_USAGE", `--source must be cache, servers or all, not '${source}'`);
    if (ctx.positionals.length > 1) fail("E_USAGE", "catalog takes at most one QUERY (quote multi-word queries)");
    const query = ctx.positionals[0];
    const server = ctx.values.server as string | undefined;
    return withAgent(ctx, async (agent) => {
      const catalogs: ServerCatalog[] =
        source === "cache"
          ? []
          : await loadCatalogs(agent, { ...(server ? { only: server } : {}), federated: Boolean(ctx.values.federated), offline: Boolean(ctx.values.offline), ...(ctx.values.refresh ? { freshMs: 0 } : {}), signal: ctx.signal });
      const cached = await agent.cache.list();
      const view = hybridView({ catalogs, cached, source, filter: query ? { q: query } : {} });
      // Every server failed and none had a saved copy: the network exit status, whatever the cache showed.
      const failed = catalogs.length > 0 && view.servers.every((s) => s.status === "error") ? 4 : 0;
      const labeller = await signedLabeller(agent.paths.configDir, agent.cache.layout);
      const rows: (HybridRow & { signed: string })[] = [];
      for (const r of view.rows) rows.push({ ...r, signed: await labeller.label(r) });
      if (ctx.json) {
        ctx.out(JSON.stringify({ ...view, rows }));
        return failed;
      }
      for (const s of view.servers) {
        if (s.status === "ok") continue;
        const copy = s.fetched_at ? `showing the copy from ${ago(Date.parse(s.fetched_at))}` : "no saved copy";
        ctx.err(`pixelrts: ${safeText(s.server)}: ${safeText(s.error?.code)}: ${safeText(s.error?.message)} (${copy})`);
      }
      if (view.rows.length === 0) {
        ctx.err(query ? `nothing matches '${safeText(query)}'` : source === "cache" ? "the cache is empty" : "no containers found");
        return failed;
      }
      const state = (r: (typeof rows)[number]) => [r.cached ? (r.verified ? "cached,verified" : "cached") : "", r.pinned ? "pinned" : "", r.stale ? "stale" : ""].filter(Boolean).join(",") || "-";
      // NAME only when some row's name differs from its id (it usually is the id).
      const names = rows.some((r) => r.name !== r.id);
      const updated = (iso: string | null) => (iso && !Number.isNaN(Date.parse(iso)) ? ago(Date.parse(iso)) : "-");
      printTable(ctx.out, [
        ["ID", ...(names ? ["NAME"] : []), "SIZE", "ARCH", "TYPE", "UPDATED", "SOURCE", "STATE", "SIGNED", "FILE SHA256"],
        ...rows.map((r) => [r.id, ...(names ? [r.name] : []), formatBytes(r.size), r.architecture ?? "-", r.type ?? "-", updated(r.updated_at), r.source, state(r), r.signed, r.sha256 ? r.sha256.slice(0, 12) : "(none)"]),
      ]);
      return failed;
    });
  },
};
