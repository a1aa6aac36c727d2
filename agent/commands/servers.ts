import { fail } from "../../shared/errors.js";
import type { Command } from "../cli/command.js";
import { resolvePaths } from "../config/paths.js";
import { ServerStore } from "../config/servers.js";
import { table } from "./common.js";

export const serversCommand: Command = {
  name: "servers",
  summary: "Add, remove and list catalog servers",
  usage: ["servers add URL [--name NAME] [--color #rrggbb]", "servers rm NAME", "servers ls [--json]"],
  options: {
    name: { type: "string" },
    color: { type: "string" },
  },
  async run(ctx) {
    const [sub, arg, ...extra] = ctx.positionals;
    const store = new ServerStore(resolvePaths().configDir);
    if (extra.length) fail("E_USAGE", `unexpected argument '${extra[0]}'`);
    switch (sub) {
      case "add": {
        if (!arg) fail("E_USAGE", "servers add needs a URL");
        const s = await store.add({ url: arg, ...(typeof ctx.values.name === "string" ? { name: ctx.values.name } : {}), ...(typeof ctx.values.color === "string" ? { color: ctx.values.color } : {}) });
        ctx.out(ctx.json ? JSON.stringify(s) : `added ${s.name} ${s.url}`);
        return;
      }
      case "rm":
      case "remove": {
        if (!arg) fail("E_USAGE", "servers rm needs a NAME");
        const s = await store.remove(arg);
        ctx.out(ctx.json ? JSON.stringify(s) : `removed ${s.name} ${s.url}`);
        return;
      }
      case "ls":
      case "list":
      case undefined: {
        if (arg) fail("E_USAGE", `unexpected argument '${arg}'`);
        const all = await store.list();
        if (ctx.json) ctx.out(JSON.stringify(all));
        else if (all.length === 0) ctx.err("no servers configured; add one with 'pixelrts servers add URL'");
        else for (const line of table([["NAME", "URL", "COLOR"], ...all.map((s) => [s.name, s.url, s.color ?? ""])])) ctx.out(line);
        return;
      }
      default:
        fail("E_USAGE", `unknown 'servers ${sub}' (use add, rm or ls)`);
    }
  },
};
