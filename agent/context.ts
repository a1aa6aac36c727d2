import type { Dispatcher } from "undici";
import { ContentCache } from "./cache/cache.js";
import { resolvePaths, type AgentPaths, type Env } from "./config/paths.js";
import { ServerStore } from "./config/servers.js";
import { loadSettings, type Settings } from "./config/settings.js";
import { createHttpClient, httpOptionsFrom } from "./http/client.js";
import { PixelRtsError } from "../shared/errors.js";

/** Everything a command needs, built once per invocation. Close it to drop keep-alive sockets. */
export interface AgentContext {
  paths: AgentPaths;
  settings: Settings;
  servers: ServerStore;
  cache: ContentCache;
  http: Dispatcher;
  close(): Promise<void>;
}

export interface OpenAgentOptions {
  env?: Env;
  cacheDir?: string;
  configDir?: string;
  /** Override settings (flags, tests). */
  settings?: Partial<Settings>;
  /** Extra undici interceptors (tests add a loopback guard). */
  interceptors?: Dispatcher.DispatcherComposeInterceptor[];
  /** Use this dispatcher instead of creating one. */
  http?: Dispatcher;
}

export async function openAgent(opts: OpenAgentOptions = {}): Promise<AgentContext> {
  const env = opts.env ?? process.env;
  const paths = resolvePaths(env, { ...(opts.cacheDir ? { cacheDir: opts.cacheDir } : {}), ...(opts.configDir ? { configDir: opts.configDir } : {}) });
  const settings = await loadSettings(paths.configDir, env, opts.settings);
  // Created on first use: most commands never touch the network (agent/http/undici.ts).
  let http = opts.http;
  const owned = !opts.http;
  let closed = false;
  return {
    paths,
    settings,
    servers: new ServerStore(paths.configDir),
    cache: new ContentCache(paths.cacheDir),
    get http() {
      // After close, no new client (nothing would close it); a late request fails as interrupted.
      if (!http && closed) throw new PixelRtsError("E_INTERRUPTED", "the agent is shutting down");
      return (http ??= createHttpClient({ ...httpOptionsFrom(settings), ...(opts.interceptors ? { interceptors: opts.interceptors } : {}) }));
    },
    close: async () => {
      closed = true;
      if (owned) await http?.close().catch(() => {});
    },
  };
}
