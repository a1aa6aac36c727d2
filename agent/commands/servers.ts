import { isPixelRtsError } from "../../shared/errors.js";
import type { Command, CommandContext } from "../cli/command.js";
import { snakeKeys } from "../cli/json-keys.js";
import { AcceptedSignatures, TrustStore } from "../trust/store.js";
import { safeText } from "../cli/terminal.js";
import type { ServerConfig } from "../config/servers.js";
import type { AgentContext } from "../context.js";
import { getJson } from "../http/json.js";
import { printTable, withAgent } from "./common.js";

const one = (ctx: CommandContext, s: ServerConfig, verb: string): void => ctx.out(ctx.json ? JSON.stringify(snakeKeys(s)) : `${verb} ${s.name} ${s.url}${s.default ? " (default)" : ""}`);

/** Does the server answer its health route? A warning, never a refusal: it may just be down now. */
async function checkHealth(ctx: CommandContext, agent: AgentContext, url: string): Promise<void> {
  try {
    await getJson(agent.http, `${url}/api/v1/health`, { timeoutMs: agent.settings.catalogTimeoutMs, signal: ctx.signal });
  } catch (e) {
    const why = isPixelRtsError(e) ? `${e.code}: ${e.message}` : String(e);
    ctx.err(`warning: ${safeText(url)} does not answer /api/v1/health (${safeText(why)}); added anyway (--no-check skips this check)`);
  }
}

const add: Command = {
  name: "add",
  summary: "Add a catalog server (another PixelRTS Edge Worker, or an original PixelRTS catalog server)",
  args: [{ name: "<URL>", description: "the server's base URL, http(s)" }],
  options: {
    name: { type: "string", value: "NAME", description: "a short handle for --server (default: from the host name)" },
    color: { type: "string", value: "#rrggbb", description: "the colour UIs tag its entries with" },
    "no-check": { type: "boolean", description: "do not check that the server answers /api/v1/health" },
    signatures: { type: "string", value: "POLICY", description: "this server's signature policy: off, warn or require (default: the global one; only ever stricter)" },
  },
  examples: ["pixelrts servers add http://127.0.0.1:8787 --name local", "pixelrts servers add https://images.example.net --name vendor --signatures require", "pixelrts servers add https://pixelrts-edge.example.workers.dev --name edge --color '#e4572e'"],
  async run(ctx) {
    return withAgent(ctx, async (agent) => {
      const s = await agent.servers.add({
        url: ctx.positionals[0]!,
        ...(typeof ctx.values.name === "string" ? { name: ctx.values.name } : {}),
        ...(typeof ctx.values.color === "string" ? { color: ctx.values.color } : {}),
        ...(typeof ctx.values.signatures === "string" ? { signatures: ctx.values.signatures } : {}),
      });
      if (!ctx.values["no-check"]) await checkHealth(ctx, agent, s.url);
      one(ctx, s, "added");
    });
  },
};

const rm: Command = {
  name: "rm",
  summary: "Remove a catalog server",
  args: [{ name: "<NAME>", description: "the server's handle" }],
  options: {},
  async run(ctx) {
    return withAgent(ctx, async (agent) => one(ctx, await agent.servers.remove(ctx.positionals[0]!), "removed"));
  },
};

const rename: Command = {
  name: "rename",
  summary: "Rename a catalog server",
  args: [
    { name: "<NAME>", description: "its handle now" },
    { name: "<NEW_NAME>", description: "the new handle" },
  ],
  options: {},
  async run(ctx) {
    return withAgent(ctx, async (agent) => {
      const from = (await agent.servers.get(ctx.positionals[0]!)).name;
      const renamed = await agent.servers.rename(from, ctx.positionals[1]!);
      // trust scoped to the server and its rollback state follow it (agent/trust/store.ts)
      await new TrustStore(agent.paths.configDir).renameServer(from, renamed.name);
      await new AcceptedSignatures(agent.paths.configDir).renameServer(from, renamed.name);
      return one(ctx, renamed, "renamed to");
    });
  },
};

const setDefault: Command = {
  name: "default",
  summary: "Make a server the default: `publish` uses it without --server, and ids are looked up there first",
  args: [{ name: "<NAME>", description: "the server's handle" }],
  options: {},
  async run(ctx) {
    return withAgent(ctx, async (agent) => one(ctx, await agent.servers.setDefault(ctx.positionals[0]!), "default:"));
  },
};

const ls: Command = {
  name: "ls",
  isDefault: true,
  summary: "List the configured servers (the default when no verb is given)",
  options: {},
  async run(ctx) {
    return withAgent(ctx, async (agent) => {
      const all = await agent.servers.list();
      if (ctx.json) ctx.out(JSON.stringify(all.map((s) => ({ name: s.name, url: s.url, color: s.color ?? null, default: Boolean(s.default), signatures: s.signatures ?? null, added_at: s.addedAt ?? null }))));
      else if (all.length === 0) ctx.err("no servers configured; add one with 'pixelrts servers add URL'");
      else printTable(ctx.out, [["NAME", "URL", "COLOR", "DEFAULT", "SIGNATURES"], ...all.map((s) => [s.name, s.url, s.color ?? "", s.default ? "yes" : "", s.signatures ?? ""])]);
    });
  },
};

export const serversCommand: Command = {
  name: "servers",
  summary: "Add, remove, rename and list catalog servers",
  options: {},
  subcommands: [ls, add, rm, rename, setDefault],
};
