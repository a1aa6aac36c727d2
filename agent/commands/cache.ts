import { createInterface } from "node:readline/promises";
import { fail, PixelRtsError } from "../../shared/errors.js";
import type { Command, CommandContext } from "../cli/command.js";
import { snakeKeys } from "../cli/json-keys.js";
import { safeText } from "../cli/terminal.js";
import { signedLabeller } from "../trust/label.js";
import { clear, gc, verify, type CacheEntry } from "../cache/index.js";
import { parseBytes } from "../config/settings.js";
import type { AgentContext } from "../context.js";
import { formatBytes } from "../progress/index.js";
import { ago, CACHE_DIR_OPTION, printTable, withAgent } from "./common.js";

const DIR = CACHE_DIR_OPTION;

/** One `cache VERB` entry: the agent opened around `fn`. */
function verb(name: string, summary: string, fn: (ctx: CommandContext, agent: AgentContext) => Promise<number | void>, extra: Partial<Command> = {}): Command {
  return { name, summary, options: { ...DIR, ...(extra.options ?? {}) }, ...(extra.args ? { args: extra.args } : {}), ...(extra.examples ? { examples: extra.examples } : {}), run: (ctx) => withAgent(ctx, (agent) => fn(ctx, agent)) };
}

const REF_ARG = [{ name: "<REF>", description: "a sha256 (or a unique prefix of one), or a catalog id or name" }];

export const cacheCommand: Command = {
  name: "cache",
  summary: "Inspect and maintain the local container cache",
  options: {},
  subcommands: [
    { ...verb("ls", "List cached containers (the default when no verb is given)", ls), isDefault: true },
    verb("verify", "Re-hash every cached container and remove corrupt ones (exit 3 if any)", runVerify),
    verb("gc", "Drop temp files and dangling records, then evict least-recently-used items down to the budget", runGc, {
      options: { "max-bytes": { type: "string", value: "SIZE", description: "the budget for this run, e.g. 500MiB (default: PIXELRTS_CACHE_MAX_BYTES, 10 GiB)" } },
    }),
    verb("clear", "Remove every cached container not in use", runClear, { options: { yes: { type: "boolean", short: "y", description: "do not ask for confirmation (needed when not on a terminal)" } } }),
    verb("rm", "Remove one cached container", (ctx, agent) => removeOne(ctx, agent, ctx.positionals[0]!), { args: REF_ARG, examples: ["pixelrts cache rm demo-linux", "pixelrts cache rm 69f9ac11"] }),
    verb("pin", "Keep a cached container through eviction", (ctx, agent) => pin(ctx, agent, ctx.positionals[0]!, true), { args: REF_ARG }),
    verb("unpin", "Let a pinned container be evicted again", (ctx, agent) => pin(ctx, agent, ctx.positionals[0]!, false), { args: REF_ARG }),
  ],
};

function sourceLabel(e: CacheEntry): string {
  const s = e.sources[e.sources.length - 1];
  if (!s) return "-";
  return s.id ? `${s.id}${s.server ? "@" + s.server : ""}` : s.url;
}

async function ls(ctx: CommandContext, agent: AgentContext): Promise<void> {
  const entries = (await agent.cache.list()).sort((a, b) => b.lastAccess - a.lastAccess);
  const inUse = await agent.cache.inUse();
  const total = entries.reduce((n, e) => n + e.size, 0);
  if (ctx.json) {
    const labeller = await signedLabeller(agent.paths.configDir, agent.cache.layout);
    const rows = [];
    for (const e of entries) {
      const { entry, ...record } = e;
      const src = e.sources[e.sources.length - 1];
      const signed = await labeller.label({ sha256: e.sha256, size: e.size, server: src?.server ?? null, name: src?.name ?? "", cached: true, signatures: [] });
      rows.push({ ...(snakeKeys(record) as object), in_use: inUse.has(e.sha256), path: agent.cache.blobPath(e.sha256), signed, ...(entry ? { entry } : {}) });
    }
    ctx.out(JSON.stringify({ dir: agent.cache.root, total_bytes: total, budget_bytes: agent.settings.cacheMaxBytes, entries: rows }));
    return;
  }
  if (entries.length === 0) {
    ctx.err(`the cache is empty (${agent.cache.root})`);
    return;
  }
  const labeller = await signedLabeller(agent.paths.configDir, agent.cache.layout);
  const signed = new Map<string, string>();
  for (const e of entries) signed.set(e.sha256, await labeller.label({ sha256: e.sha256, size: e.size, server: e.sources[e.sources.length - 1]?.server ?? null, name: "", cached: true, signatures: [] }));
  printTable(ctx.out, [
    ["FILE SHA256", "SIZE", "LAST USED", "FLAGS", "SIGNED", "SOURCE"],
    ...entries.map((e) => [e.sha256.slice(0, 12), formatBytes(e.size), ago(e.lastAccess), [e.pinned ? "pinned" : "", inUse.has(e.sha256) ? "in-use" : ""].filter(Boolean).join(",") || "-", signed.get(e.sha256)!, sourceLabel(e)]),
  ]);
  ctx.out(`${entries.length} item(s), ${formatBytes(total)} of ${formatBytes(agent.settings.cacheMaxBytes)} budget, in ${agent.cache.root}`);
}

async function runVerify(ctx: CommandContext, agent: AgentContext): Promise<number> {
  const rep = await verify(agent.cache);
  if (ctx.json) ctx.out(JSON.stringify(snakeKeys(rep)));
  else {
    for (const r of rep.removed) ctx.out(`removed ${r.sha256.slice(0, 12)} (${formatBytes(r.size)}): ${safeText(r.reason)}`);
    for (const a of rep.adopted) ctx.out(`re-recorded ${a.slice(0, 12)}: bytes OK, index record was missing or damaged`);
    ctx.out(`verified ${rep.checked} item(s), ${formatBytes(rep.bytesHashed)} hashed: ${rep.ok} ok, ${rep.removed.length} removed, ${rep.adopted.length} re-recorded`);
  }
  return rep.removed.length ? 3 : 0;
}

async function runGc(ctx: CommandContext, agent: AgentContext): Promise<void> {
  const mb = ctx.values["max-bytes"];
  const budget = typeof mb === "string" ? parseBytesFlag(mb) : agent.settings.cacheMaxBytes;
  const rep = await gc(agent.cache, budget);
  if (ctx.json) {
    ctx.out(JSON.stringify(snakeKeys(rep)));
    return;
  }
  for (const s of rep.steps) ctx.out(`${s.step.padEnd(12)} removed ${s.removed}, freed ${formatBytes(s.freedBytes)}`);
  ctx.out(`cache now ${formatBytes(rep.totalBytes)} of ${formatBytes(rep.budgetBytes)} budget${rep.totalBytes > rep.budgetBytes ? " (over budget: the rest is pinned or in use)" : ""}`);
}

function parseBytesFlag(v: string): number {
  try {
    return parseBytes(v);
  } catch (e) {
    throw new PixelRtsError("E_USAGE", `--max-bytes: ${(e as Error).message}`);
  }
}

async function runClear(ctx: CommandContext, agent: AgentContext): Promise<void> {
  if (!ctx.values.yes) {
    if (!process.stdin.isTTY) fail("E_USAGE", "cache clear removes every cached container; pass --yes to confirm (not on a terminal, so it cannot ask)");
    const entries = await agent.cache.list();
    const total = entries.reduce((n, e) => n + e.size, 0);
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    try {
      const answer = await rl.question(`Remove ${entries.length} cached container(s), ${formatBytes(total)}, from ${agent.cache.root}? [y/N] `, { signal: ctx.signal });
      if (!/^y(es)?$/i.test(answer.trim())) {
        ctx.err("nothing removed");
        return;
      }
    } finally {
      rl.close();
    }
  }
  const rep = await clear(agent.cache);
  if (ctx.json) ctx.out(JSON.stringify(snakeKeys(rep)));
  else ctx.out(`removed ${rep.removed} item(s), freed ${formatBytes(rep.freedBytes)}${rep.skippedInUse.length ? `; ${rep.skippedInUse.length} in use, kept` : ""}`);
}

async function cachedOne(agent: AgentContext, ref: string): Promise<CacheEntry> {
  const hits = await agent.cache.resolve(ref);
  if (hits.length === 0) fail("E_NOT_CACHED", `nothing in the cache matches '${safeText(ref)}' (see 'pixelrts cache ls')`);
  if (hits.length > 1) fail("E_AMBIGUOUS", `'${safeText(ref)}' matches ${hits.length} cached items: ${hits.map((h) => h.sha256.slice(0, 12)).join(", ")}; use a longer sha256 prefix`);
  return hits[0]!;
}

async function removeOne(ctx: CommandContext, agent: AgentContext, ref: string): Promise<void> {
  const e = await cachedOne(agent, ref);
  if ((await agent.cache.inUse()).has(e.sha256)) fail("E_IN_USE", `${e.sha256.slice(0, 12)} is in use by a running boot; stop it first`);
  await agent.cache.remove(e.sha256);
  ctx.out(ctx.json ? JSON.stringify({ removed: e.sha256, size: e.size }) : `removed ${e.sha256.slice(0, 12)} (${formatBytes(e.size)}, ${safeText(sourceLabel(e))})`);
}

async function pin(ctx: CommandContext, agent: AgentContext, ref: string, pinned: boolean): Promise<void> {
  const e = await agent.cache.setPinned((await cachedOne(agent, ref)).sha256, pinned);
  const { entry: _, ...record } = e;
  ctx.out(ctx.json ? JSON.stringify(snakeKeys(record)) : `${pinned ? "pinned" : "unpinned"} ${e.sha256.slice(0, 12)} (${safeText(sourceLabel(e))})`);
}
