export { resolvePaths, type AgentPaths, type Env } from "./paths.js";
export { loadSettings, parseBytes, DEFAULT_SETTINGS, type Settings } from "./settings.js";
export { ServerStore, normalizeServerUrl, defaultServerName, validateServerName, type ServerConfig } from "./servers.js";
