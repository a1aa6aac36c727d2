import { homedir } from "node:os";
import { isAbsolute, join, resolve } from "node:path";

/** Environment variables the agent reads (documented in README's config table). */
export type Env = Record<string, string | undefined>;

export interface AgentPaths {
  /** Holds servers.json and config.json. */
  configDir: string;
  /** Root of the content cache; the versioned layout lives below it (see agent/cache/layout.ts). */
  cacheDir: string;
}

function xdg(env: Env, name: "XDG_CONFIG_HOME" | "XDG_CACHE_HOME", fallback: string): string {
  const v = env[name];
  // XDG spec: relative paths in these variables are invalid and must be ignored.
  return v && isAbsolute(v) ? v : join(env.HOME || homedir(), fallback);
}

/**
 * Where things live. Precedence: flag > PIXELRTS_* env > XDG_* env > ~/.config, ~/.cache.
 */
export function resolvePaths(env: Env = process.env, flags: { cacheDir?: string; configDir?: string } = {}): AgentPaths {
  const configDir = flags.configDir ?? env.PIXELRTS_CONFIG_DIR ?? join(xdg(env, "XDG_CONFIG_HOME", ".config"), "pixelrts");
  const cacheDir = flags.cacheDir ?? env.PIXELRTS_CACHE_DIR ?? join(xdg(env, "XDG_CACHE_HOME", ".cache"), "pixelrts");
  return { configDir: resolve(configDir), cacheDir: resolve(cacheDir) };
}
