import { fail } from "../../shared/errors.js";
import { parseBootFlags } from "../boot/settings.js";
import type { Command } from "../cli/command.js";
import { safeText } from "../cli/terminal.js";
import { DEFAULT_HOST, DEFAULT_PORT, MIN_TOKEN_LENGTH } from "../serve/defaults.js";
import { CACHE_DIR_OPTION, secondsFlag, withAgent } from "./common.js";

export const serveCommand: Command = {
  name: "serve",
  summary: "Run the boot host's console and local API (the visual shell's catalog server): browse, pull, boot and stop VMs from a browser",
  options: {
    port: { type: "string", value: "PORT", description: "TCP port to listen on (0: any free port)", default: String(DEFAULT_PORT) },
    host: { type: "string", value: "ADDRESS", description: "address to listen on; anything but loopback needs PIXELRTS_SERVE_TOKEN", default: DEFAULT_HOST },
    "allow-origin": { type: "list", value: "ORIGIN", description: "an origin (http://host:port) whose pages may boot, stop, pull and move tiles, e.g. the visual shell's; repeatable" },
    kvm: { type: "string", value: "MODE", description: "for the VMs it starts: auto (KVM when usable), on, or off (TCG)", default: "auto" },
    memory: { type: "string", value: "SIZE", description: "guest memory for the VMs it starts unless a request says (default: the container's, else 512M)" },
    cpus: { type: "string", value: "N", description: "virtual CPUs for the VMs it starts unless a request says (default: the container's, else 1)" },
    net: { type: "string", value: "MODE", description: "user (NAT) or none, for the VMs it starts", default: "user" },
    "stop-timeout": { type: "string", value: "SECONDS", description: "how long a guest gets to power off after Stop before QEMU is terminated", default: "30" },
    federated: { type: "boolean", description: "also list the catalogs each server aggregates (its /api/v1/remote/catalog)" },
    ...CACHE_DIR_OPTION,
  },
  examples: [
    "pixelrts serve                                   # console at http://127.0.0.1:8780/",
    "pixelrts serve --kvm off --memory 1G             # TCG guests with 1 GiB unless a request says otherwise",
    "pixelrts serve --allow-origin http://127.0.0.1:8080   # the visual shell's page may boot and stop",
    "PIXELRTS_SERVE_TOKEN=$(openssl rand -hex 16) pixelrts serve --host 0.0.0.0   # beyond loopback: token required",
  ],
  notes:
    "Routes: the original catalog server's (GET /api/v1/catalog, /api/v1/catalog/{id}[/data|/status], /api/container/{id}/download, /api/v1/health, POST /api/v1/catalog/{id}/boot|stop, POST /api/v1/catalog/layout[/batch], GET|POST /api/v1/catalog/refresh) and ours (GET /api/v1/events, POST /api/v1/pulls, GET /api/v1/vms[/{id}[/serial]]). " +
    `Requests must name this server in Host (localhost or the listening address); pages of other origins may only read, unless listed with --allow-origin; PIXELRTS_SERVE_TOKEN (≥ ${MIN_TOKEN_LENGTH} characters) makes every request need Authorization: Bearer TOKEN (the console: open /?token=TOKEN once). ` +
    "Stopping serve (Ctrl-C, SIGTERM) stops the VMs it started: power-off request, then SIGTERM, then SIGKILL.",
  async run(ctx) {
    if (ctx.positionals.length) fail("E_USAGE", "serve takes no arguments (see 'pixelrts help serve')");
    const portText = String(ctx.values.port);
    const port = /^\d{1,5}$/.test(portText) && Number(portText) <= 65535 ? Number(portText) : fail("E_USAGE", `--port must be a TCP port (0-65535), got '${safeText(portText)}'`);
    const host = String(ctx.values.host);
    if (!/^(?:[A-Za-z0-9.-]+|\[?[0-9A-Fa-f:.]+\]?)$/.test(host)) fail("E_USAGE", `--host must be an address or host name, got '${safeText(host)}'`);
    const stopTimeoutMs = secondsFlag(ctx.values, "stop-timeout", true) ?? 30_000;
    // Checked like `pixelrts boot`'s flags, before anything listens.
    const bootDefaults = parseBootFlags({ ...ctx.values, display: "none", serial: "stdio" }, ctx.given);
    const token = process.env.PIXELRTS_SERVE_TOKEN || undefined;
    return withAgent(ctx, async (agent) => {
      // loaded here: hono and its Node server cost ~70 ms of start-up that other commands skip
      const { startServe } = await import("../serve/index.js");
      const serve = await startServe({
        agent,
        host: host.replace(/^\[|\]$/g, ""),
        port,
        allowOrigins: (ctx.values["allow-origin"] as string[] | undefined) ?? [],
        ...(token ? { token } : {}),
        bootDefaults,
        federated: Boolean(ctx.values.federated),
        stopTimeoutMs,
        warn: (line) => ctx.err(`pixelrts serve: ${line}`),
      });
      if (ctx.json) ctx.out(JSON.stringify({ event: "listening", url: serve.url, port: serve.port, console: `${serve.url}/` }));
      else ctx.err(`pixelrts serve: listening on ${serve.url} — open ${serve.url}/ in a browser${token ? " (with ?token=…)" : ""}; Ctrl-C stops serve and its VMs`);
      await new Promise<void>((resolve) => {
        if (ctx.signal.aborted) return resolve();
        ctx.signal.addEventListener("abort", () => resolve(), { once: true });
      });
      const running = serve.state.vms.list().filter((v) => v.status === "booting" || v.status === "running").length;
      if (running && !ctx.json) ctx.err(`pixelrts serve: stopping ${running} VM${running === 1 ? "" : "s"}…`);
      await serve.close();
      if (ctx.json) ctx.out(JSON.stringify({ event: "stopped", vms_stopped: running }));
      return 0;
    });
  },
};
