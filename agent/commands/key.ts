import type { Command } from "../cli/command.js";
import { Keyring } from "../trust/keyring.js";
import { printTable, withAgent } from "./common.js";

const generate: Command = {
  name: "generate",
  summary: "Make an Ed25519 signing key (private part kept in the config dir, mode 0600)",
  args: [{ name: "<NAME>", description: "a name for the key (1-64 of A-Z a-z 0-9 . _ -)" }],
  options: {},
  examples: ["pixelrts key generate release", "pixelrts key export release   # give this to the hosts that should trust you"],
  notes: "Prints the public key (ed25519:<base64>) and its key id; the private key is never printed or uploaded.",
  async run(ctx) {
    return withAgent(ctx, async (agent) => {
      const key = await new Keyring(agent.paths.configDir).generate(ctx.positionals[0]!);
      if (ctx.json) ctx.out(JSON.stringify({ name: ctx.positionals[0], keyid: key.keyid, public_key: key.text }));
      else {
        ctx.out(key.text);
        ctx.err(`key id ${key.keyid}; hosts trust it with: pixelrts trust add ${key.text} --name ${ctx.positionals[0]}`);
      }
    });
  },
};

const ls: Command = {
  name: "ls",
  isDefault: true,
  summary: "List this machine's signing keys (public parts)",
  options: {},
  async run(ctx) {
    return withAgent(ctx, async (agent) => {
      const keys = await new Keyring(agent.paths.configDir).list();
      if (ctx.json) ctx.out(JSON.stringify(keys.map((k) => ({ name: k.name, keyid: k.key.keyid, public_key: k.key.text }))));
      else if (keys.length === 0) ctx.err("no signing keys; make one with 'pixelrts key generate NAME'");
      else printTable(ctx.out, [["NAME", "KEY ID", "PUBLIC KEY"], ...keys.map((k) => [k.name, k.key.keyid, k.key.text])]);
    });
  },
};

const exportKey: Command = {
  name: "export",
  summary: "Print a signing key's public part (ed25519:<base64>), for `pixelrts trust add` on boot hosts",
  args: [{ name: "<NAME>", description: "the key's name" }],
  options: {},
  async run(ctx) {
    return withAgent(ctx, async (agent) => {
      const k = await new Keyring(agent.paths.configDir).load(ctx.positionals[0]!);
      ctx.out(ctx.json ? JSON.stringify({ name: k.name, keyid: k.key.keyid, public_key: k.key.text }) : k.key.text);
    });
  },
};

export const keyCommand: Command = {
  name: "key",
  summary: "Make and list the Ed25519 keys this machine signs containers with",
  options: {},
  subcommands: [ls, generate, exportKey],
};
