import { readFileSync } from "node:fs";
import { fail } from "../../shared/errors.js";
import type { Command } from "../cli/command.js";
import { safeText } from "../cli/terminal.js";
import { retryPolicyFrom } from "../config/settings.js";
import { forgetSavedCatalogs } from "../catalog/saved.js";
import { publishContainer } from "../publish/publish.js";
import { Keyring } from "../trust/keyring.js";
import { signSubject, type FileSubject } from "../trust/sign.js";
import { CACHE_DIR_OPTION, reporterFor, withAgent } from "./common.js";

/** The publish token: --token-file, else PIXELRTS_TOKEN (never a plain flag: it would show in `ps`). */
export function publishToken(tokenFile: string | undefined, env = process.env): string {
  if (tokenFile) {
    try {
      const t = readFileSync(tokenFile, "utf8").trim();
      if (t) return t;
    } catch (e) {
      fail("E_USAGE", `cannot read --token-file ${tokenFile}: ${(e as Error).message}`);
    }
    fail("E_USAGE", `--token-file ${tokenFile} is empty`);
  }
  return env.PIXELRTS_TOKEN?.trim() || fail("E_AUTH", "no publish token: set PIXELRTS_TOKEN (the Worker's PUBLISH_TOKEN secret) or pass --token-file");
}

export const publishCommand: Command = {
  name: "publish",
  summary: "Upload a container (and its thumbnail) to a server's catalog",
  args: [{ name: "<FILE>", description: "the .rts.png to upload" }],
  options: {
    server: { type: "string", value: "NAME|URL", description: "a configured server (see `pixelrts servers ls`) or a Worker URL (default: the default server)" },
    name: { type: "string", value: "NAME", description: "the catalog name (default: the container's name, else the file name)" },
    "token-file": { type: "string", value: "FILE", description: "read the publish token from this file (default: PIXELRTS_TOKEN)" },
    distro: { type: "string", value: "DISTRO", description: "catalog field (default: from the metadata)" },
    arch: { type: "string", value: "ARCH", description: "catalog field (default: from the metadata)" },
    "kernel-version": { type: "string", value: "VERSION", description: "catalog field (default: from the metadata)" },
    "no-thumbnail": { type: "boolean", description: "do not upload a thumbnail" },
    sign: { type: "string", value: "KEY", description: "sign what is published with this key (`pixelrts key ls`): the envelope goes with the upload" },
    ...CACHE_DIR_OPTION,
  },
  examples: ["PIXELRTS_TOKEN=dev-token pixelrts publish demo.rts.png --server local", "pixelrts publish demo.rts.png --server edge --sign release", "pixelrts publish big.rts.png --server edge --token-file ~/.config/pixelrts/token"],
  notes: "The file is decoded and checked before upload; containers over 95 MB go through multipart upload automatically.",
  async run(ctx) {
    const file = ctx.positionals[0] ?? fail("E_USAGE", "publish needs a FILE");
    const token = publishToken(ctx.values["token-file"] as string | undefined);
    return withAgent(ctx, async (agent) => {
      const key = typeof ctx.values.sign === "string" ? await new Keyring(agent.paths.configDir).load(ctx.values.sign) : undefined;
      const serverRef =
        (ctx.values.server as string | undefined) ??
        (await agent.servers.defaultServer())?.name ??
        fail("E_USAGE", "publish needs --server NAME (see `pixelrts servers ls`) or a URL, or a default server (`pixelrts servers default NAME`)");
      const serverUrl = /^https?:\/\//i.test(serverRef) ? serverRef : (await agent.servers.get(serverRef)).url;
      // A progress bar for the upload on a terminal (never in --json or piped output).
      const bar = !ctx.json && process.stderr.isTTY ? reporterFor(ctx) : undefined;
      const r = await publishContainer(agent.http, file, {
        ...(bar ? { onProgress: (sent: number, total: number) => bar({ event: "progress", ref: file, bytes: sent, total }) } : {}),
        serverUrl,
        token,
        ...(ctx.values.name ? { name: ctx.values.name as string } : {}),
        thumbnail: !ctx.values["no-thumbnail"],
        ...(ctx.values.distro ? { distro: ctx.values.distro as string } : {}),
        ...(ctx.values.arch ? { arch: ctx.values.arch as string } : {}),
        ...(ctx.values["kernel-version"] ? { kernelVersion: ctx.values["kernel-version"] as string } : {}),
        retry: retryPolicyFrom(agent.settings),
        resumeDir: agent.cache.layout.uploadsDir,
        ...(key ? { sign: async (subject: FileSubject) => (await signSubject(subject, key)).envelope } : {}),
        onRetry: (ev) => ctx.err(`retry ${ev.attempt}/${ev.of} in ${(ev.delayMs / 1000).toFixed(1)} s: ${safeText(ev.reason)}`),
        onStep: (step) => !ctx.json && ctx.verbose && ctx.err(safeText(step)),
        signal: ctx.signal,
      }).finally(() => bar?.close());
      // The server's saved catalog copy is out of date now: the next `catalog`/`pull` asks again.
      await forgetSavedCatalogs(agent, serverUrl);
      const signed = key ? { keyid: key.key.keyid, key_name: key.name } : null;
      if (ctx.json) ctx.out(JSON.stringify({ event: "published", name: r.name, sha256: r.sha256, size: r.size, catalog_url: r.catalogUrl, deduplicated: Boolean(r.entry.deduplicated), multipart: r.multipart, thumbnail: r.thumbnail, signed }));
      else ctx.out(`published ${safeText(file)} as ${safeText(r.name)} (${r.size} bytes, file sha256 ${safeText(r.sha256)}${r.entry.deduplicated ? ", already stored" : ""}${key ? `, signed by ${key.name} ${key.key.keyid}` : ""}): ${safeText(r.catalogUrl)}`);
    });
  },
};
