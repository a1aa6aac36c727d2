import type { Command } from "../cli/command.js";
import { TrustStore } from "../trust/store.js";
import { printTable, withAgent } from "./common.js";

const add: Command = {
  name: "add",
  summary: "Trust a publisher's key: containers it signed satisfy `signatures: require`",
  args: [{ name: "<KEY>", description: "the publisher's public key, ed25519:<base64> (from `pixelrts key export`)" }],
  options: {
    name: { type: "string", value: "NAME", description: "a name to show for the key (default: its key id)" },
    server: { type: "string", value: "SERVER", description: "trust it only for containers from this configured server (default: from any)" },
  },
  examples: ["pixelrts trust add ed25519:Wq3b…= --name alice", "pixelrts trust add ed25519:Wq3b…= --server edge"],
  async run(ctx) {
    return withAgent(ctx, async (agent) => {
      const server = typeof ctx.values.server === "string" ? (await agent.servers.get(ctx.values.server)).name : undefined;
      const e = await new TrustStore(agent.paths.configDir).add({ key: ctx.positionals[0]!, ...(typeof ctx.values.name === "string" ? { name: ctx.values.name } : {}), ...(server ? { server } : {}) });
      ctx.out(ctx.json ? JSON.stringify(e) : `trusted ${e.name} (${e.keyid}) for ${e.servers.length ? e.servers.join(", ") : "every server"}`);
    });
  },
};

const ls: Command = {
  name: "ls",
  isDefault: true,
  summary: "List the trusted publisher keys",
  options: {},
  async run(ctx) {
    return withAgent(ctx, async (agent) => {
      const keys = await new TrustStore(agent.paths.configDir).list();
      if (ctx.json) ctx.out(JSON.stringify(keys));
      else if (keys.length === 0) ctx.err(`no trusted keys (signatures: ${agent.settings.signatures}); add one with 'pixelrts trust add ed25519:…'`);
      else printTable(ctx.out, [["NAME", "KEY ID", "SERVERS", "ADDED"], ...keys.map((k) => [k.name, k.keyid, k.servers.join(",") || "all", k.added_at.slice(0, 10)])]);
    });
  },
};

const rm: Command = {
  name: "rm",
  summary: "Stop trusting a key (containers signed only by it no longer boot under `require`)",
  args: [{ name: "<NAME|KEYID>", description: "the key's name or key id" }],
  options: {},
  async run(ctx) {
    return withAgent(ctx, async (agent) => {
      const e = await new TrustStore(agent.paths.configDir).remove(ctx.positionals[0]!);
      ctx.out(ctx.json ? JSON.stringify(e) : `no longer trusted: ${e.name} (${e.keyid})`);
    });
  },
};

export const trustCommand: Command = {
  name: "trust",
  summary: "Choose whose signatures this boot host believes (docs/TRUST.md)",
  options: {},
  subcommands: [ls, add, rm],
  notes: "The policy is `signatures: off | warn | require` (config.json, PIXELRTS_SIGNATURES, or per server with `servers add --signatures`); warn is the default.",
};
