/**
 * `pixelrts serve`: the boot host's local API and console. A Hono app on Node
 * (@hono/node-server) over the same pull, cache and boot functions as the CLI commands:
 *
 *   security.ts      Host / token / Origin / CORS rules (first middleware)
 *   errors.ts        the one place errors become responses
 *   catalog-view.ts  the merged catalog (servers + cache), ids, positions, state badges
 *   layout.ts        saved tile positions (config dir)
 *   pulls.ts         pulls with their events
 *   boots.ts         boot = pull + verify + unpack + settings + QEMU under agent/boot/vm.ts
 *   events.ts        the SSE bus
 *   routes/*         the HTTP routes; console/* the page at `/`
 *
 * Stopping serve (close(), or SIGINT/SIGTERM in the command) stops the VMs it started: each is
 * asked to power off, then terminated (see agent/boot/vm.ts for the steps and timeouts).
 */
import { mkdtemp, rm } from "node:fs/promises";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { createAdaptorServer } from "@hono/node-server";
import { Hono } from "hono";
import pkg from "../../package.json" with { type: "json" };
import { fail, PixelRtsError } from "../../shared/errors.js";
import type { BootFlagValues } from "../boot/settings.js";
import { VmSupervisor, type VmStatus } from "../boot/vm.js";
import type { AgentContext } from "../context.js";
import { CatalogView } from "./catalog-view.js";
import { consoleRoutes } from "./console/routes.js";
import { notFound, onError } from "./errors.js";
import { EventBus } from "./events.js";
import { LayoutStore } from "./layout.js";
import { PullManager } from "./pulls.js";
import { catalogRoutes } from "./routes/catalog.js";
import { vmRoutes } from "./routes/vms.js";
import { isLoopbackHost, normalizeOrigin, security } from "./security.js";
import type { ServeEnv, ServeState } from "./state.js";
import { ThumbnailCache } from "./thumbnails.js";

import { DEFAULT_HOST, DEFAULT_PORT, MIN_TOKEN_LENGTH } from "./defaults.js";

export { DEFAULT_HOST, DEFAULT_PORT, MIN_TOKEN_LENGTH };
/** Inline thumbnail characters kept per source (an original server's are ~254 KB each). */
export const SERVE_THUMBNAIL_BUDGET = 4 * 1024 * 1024;

export interface ServeOptions {
  agent: AgentContext;
  host?: string;
  /** 0: any free port. */
  port?: number;
  /** Origins (`http://host:port`) whose pages may change state (boot, stop, layout, pull). */
  allowOrigins?: string[];
  /** Bearer token; required when `host` is not loopback. */
  token?: string;
  /** serve's boot flags (--kvm, --memory, --cpus, --net), checked by parseBootFlags. */
  bootDefaults: BootFlagValues;
  /** Also list what each server aggregates (its /api/v1/remote/catalog). */
  federated?: boolean;
  thumbnailBudget?: number;
  /** VM stop steps (agent/boot/vm.ts). */
  stopTimeoutMs?: number;
  killTimeoutMs?: number;
  /** How long `POST …/boot` waits for QEMU to start before answering with `pid: null`. */
  bootWaitMs?: number;
  /** Notes for the operator (stderr in the command). */
  warn?: (line: string) => void;
  /** Listen on host:port (default); false builds the app only (tests call `app.request`). */
  listen?: boolean;
}

export interface Serve {
  app: Hono<ServeEnv>;
  state: ServeState;
  /** `http://host:port` (for an IPv6 host in brackets). */
  url: string;
  port: number;
  /** Stops the VMs, ends event streams, closes the listener. Idempotent. */
  close(): Promise<void>;
}

export async function startServe(opts: ServeOptions): Promise<Serve> {
  const host = opts.host ?? DEFAULT_HOST;
  const loopback = isLoopbackHost(host);
  if (!loopback && !opts.token) fail("E_USAGE", `--host ${host} is not a loopback address: set PIXELRTS_SERVE_TOKEN (at least ${MIN_TOKEN_LENGTH} characters; clients send Authorization: Bearer TOKEN) to listen there`);
  if (opts.token !== undefined && (opts.token.length < MIN_TOKEN_LENGTH || !/^[\x21-\x7e]+$/.test(opts.token))) fail("E_USAGE", `PIXELRTS_SERVE_TOKEN must be at least ${MIN_TOKEN_LENGTH} printable characters without spaces`);
  const allowOrigins = (opts.allowOrigins ?? []).map((o) => normalizeOrigin(o) ?? fail("E_USAGE", `--allow-origin takes an origin like http://127.0.0.1:8080 (scheme, host and port only), got ${JSON.stringify(o)}`));
  const warn = opts.warn ?? ((line: string) => console.error(`pixelrts serve: ${line}`));
  const { agent } = opts;
  await agent.cache.init();

  const runDir = await mkdtemp(join(tmpdir(), "pixelrts-serve-"));
  const bus = new EventBus();
  const vms = new VmSupervisor({ runDir, ...(opts.stopTimeoutMs !== undefined ? { stopTimeoutMs: opts.stopTimeoutMs } : {}), ...(opts.killTimeoutMs !== undefined ? { killTimeoutMs: opts.killTimeoutMs } : {}) });
  let vmVersion = 0;
  vms.on("state", (v) => {
    vmVersion++;
    bus.publish("vm", v);
  });
  vms.on("serial", (chunk) => bus.publish("serial", chunk));
  const layout = await LayoutStore.open(agent.paths.configDir, warn);
  const view = new CatalogView(agent, layout, {
    federated: opts.federated ?? false,
    thumbnailBudget: opts.thumbnailBudget ?? SERVE_THUMBNAIL_BUDGET,
    vmStatuses: () => {
      // Oldest first, so the newest VM of an entry wins, and a live one over any ended one.
      const out = new Map<string, VmStatus>();
      for (const v of vms.list()) if (v.status === "booting" || v.status === "running" || !["booting", "running"].includes(out.get(v.entry_id) ?? "")) out.set(v.entry_id, v.status);
      return out;
    },
    vmVersion: () => vmVersion,
    onChange: (reason, entries) => bus.publish("catalog", { reason, entries_count: entries }),
    warn,
  });
  const pulls = new PullManager(agent, view, bus);
  const version = String(pkg.version);
  let port = opts.port ?? DEFAULT_PORT;
  const state: ServeState = {
    agent,
    view,
    vms,
    pulls,
    bus,
    layout,
    boot: { agent, vms, pulls, defaults: opts.bootDefaults, waitMs: opts.bootWaitMs ?? 3000, publish: (data) => bus.publish("boot", data) },
    thumbs: new ThumbnailCache(),
    source: (origin) => ({ id: "serve", name: `pixelrts serve on ${hostname()}`, url: origin, color: "#4f8cff" }),
    version,
  };

  const app = new Hono<ServeEnv>();
  app.use("*", security({ host, port: () => port, allowOrigins, ...(opts.token !== undefined ? { token: opts.token } : {}) }));
  app.use("*", async (c, next) => {
    await next();
    c.res.headers.set("x-content-type-options", "nosniff");
    if (!c.res.headers.has("cache-control")) c.res.headers.set("cache-control", "no-store");
  });
  catalogRoutes(app, state);
  vmRoutes(app, state);
  consoleRoutes(app, state);
  app.onError(onError);
  app.notFound(notFound);

  let server: Server | undefined;
  if (opts.listen !== false) {
    server = createAdaptorServer({ fetch: app.fetch, overrideGlobalObjects: false }) as Server;
    await new Promise<void>((resolve, reject) => {
      server!.once("error", (e: NodeJS.ErrnoException) =>
        reject(e.code === "EADDRINUSE" ? new PixelRtsError("E_ADDRESS_IN_USE", `${host}:${port} is in use (another serve?); pick another --port`) : new PixelRtsError("E_IO", `cannot listen on ${host}:${port}: ${e.message}`, { errno: e.code })),
      );
      server!.listen(port, host, () => resolve());
    }).catch(async (e) => {
      await rm(runDir, { recursive: true, force: true });
      throw e;
    });
    port = (server.address() as AddressInfo).port;
  }
  // The first merge starts now; requests wait for it.
  void view.ready().catch((e) => warn(`cannot list the catalog: ${(e as Error).message}`));

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      const closed = server ? new Promise<void>((r) => server!.close(() => r())) : Promise.resolve();
      await vms.close();
      bus.close();
      server?.closeAllConnections();
      await closed;
      await rm(runDir, { recursive: true, force: true });
    })());
  const urlHost = host.includes(":") ? `[${host}]` : host;
  return { app, state, url: `http://${urlHost}:${port}`, port, close };
}
