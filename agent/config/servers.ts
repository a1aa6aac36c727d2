import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { PixelRtsError } from "../../shared/errors.js";
import { writeFileAtomic } from "../fsutil/index.js";
import { SIGNATURE_POLICIES, type SignaturePolicy } from "./settings.js";

/** One catalog server the user configured (`pixelrts servers add`). */
export interface ServerConfig {
  /** Short handle used by --server and shown as the entry's source. */
  name: string;
  /** Base URL without a trailing slash, e.g. https://rts.example.net. */
  url: string;
  /** #rrggbb; the v1.2 client's sourceServerColor. */
  color?: string;
  addedAt?: string;
  /** The server `publish` uses without --server, and the first one searched for ids. */
  default?: boolean;
  /** This server's signature policy; it can only make the global one stricter. */
  signatures?: SignaturePolicy;
}

interface ServersFile {
  version: 1;
  servers: ServerConfig[];
}

const NAME_RE = /^[a-z0-9][a-z0-9._-]{0,39}$/;
const COLOR_RE = /^#[0-9a-f]{6}$/i;

/**
 * Validates a server base URL: http(s) only, no credentials, query or fragment (they would leak
 * into every request or change its meaning). The trailing slash is stripped, as the v1.2 client does.
 */
export function normalizeServerUrl(input: string): string {
  let u: URL;
  try {
    u = new URL(input);
  } catch {
    throw new PixelRtsError("E_BAD_URL", `not a URL: '${input}' (expected e.g. https://rts.example.net)`);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") throw new PixelRtsError("E_BAD_URL", `only http and https servers are supported, not '${u.protocol}'`);
  if (u.username || u.password) throw new PixelRtsError("E_BAD_URL", "server URLs must not contain credentials");
  if (u.search || u.hash) throw new PixelRtsError("E_BAD_URL", "server URLs must not contain a query or fragment");
  return u.href.replace(/\/+$/, "");
}

export function validateServerName(name: string): string {
  if (!NAME_RE.test(name)) throw new PixelRtsError("E_USAGE", `bad server name '${name}': use 1-40 of a-z 0-9 . _ - starting with a letter or digit`);
  return name;
}

/** A default handle from the URL's host: https://rts.example.net:8443 → rts.example.net-8443. */
export function defaultServerName(url: string): string {
  const u = new URL(url);
  const base = (u.hostname + (u.port ? `-${u.port}` : "")).toLowerCase().replace(/[^a-z0-9._-]/g, "-");
  return base.replace(/^[^a-z0-9]+/, "").slice(0, 40) || "server";
}

export class ServerStore {
  readonly file: string;
  constructor(configDir: string) {
    this.file = join(configDir, "servers.json");
  }

  async list(): Promise<ServerConfig[]> {
    let text: string;
    try {
      text = await readFile(this.file, "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw new PixelRtsError("E_CONFIG", `cannot read ${this.file}: ${(e as Error).message}`);
    }
    let json: ServersFile;
    try {
      json = JSON.parse(text) as ServersFile;
    } catch (e) {
      throw new PixelRtsError("E_CONFIG", `${this.file} is not valid JSON: ${(e as Error).message}`);
    }
    if (!json || !Array.isArray(json.servers)) throw new PixelRtsError("E_CONFIG", `${this.file}: expected {"version":1,"servers":[...]}`);
    const servers = json.servers.map((s, i) => {
      if (typeof s?.name !== "string" || typeof s?.url !== "string") throw new PixelRtsError("E_CONFIG", `${this.file}: servers[${i}] needs a name and a url`);
      if (s.signatures !== undefined && !SIGNATURE_POLICIES.includes(s.signatures)) throw new PixelRtsError("E_CONFIG", `${this.file}: servers[${i}].signatures must be off, warn or require`);
      return { ...s, url: normalizeServerUrl(s.url) };
    });
    // The default server first: ids are looked up in this order.
    return [...servers.filter((s) => s.default), ...servers.filter((s) => !s.default)];
  }

  async get(name: string): Promise<ServerConfig> {
    const all = await this.list();
    const s = all.find((x) => x.name === name);
    if (!s) throw new PixelRtsError("E_SERVER_UNKNOWN", `no server named '${name}' (configured: ${all.map((x) => x.name).join(", ") || "none; add one with 'pixelrts servers add URL'"})`);
    return s;
  }

  async add(input: { url: string; name?: string; color?: string; signatures?: string }): Promise<ServerConfig> {
    const url = normalizeServerUrl(input.url);
    const name = validateServerName(input.name ?? defaultServerName(url));
    if (input.color !== undefined && !COLOR_RE.test(input.color)) throw new PixelRtsError("E_USAGE", `bad color '${input.color}': use #rrggbb`);
    if (input.signatures !== undefined && !(SIGNATURE_POLICIES as readonly string[]).includes(input.signatures)) throw new PixelRtsError("E_USAGE", `--signatures must be off, warn or require, not '${input.signatures}'`);
    const all = await this.list();
    if (all.some((s) => s.name === name)) throw new PixelRtsError("E_SERVER_EXISTS", `a server named '${name}' already exists (remove it first or pick --name)`);
    const dup = all.find((s) => s.url === url);
    if (dup) throw new PixelRtsError("E_SERVER_EXISTS", `${url} is already configured as '${dup.name}'`);
    const server: ServerConfig = { name, url, ...(input.color ? { color: input.color.toLowerCase() } : {}), ...(input.signatures ? { signatures: input.signatures as SignaturePolicy } : {}), addedAt: new Date().toISOString() };
    await this.save([...all, server]);
    return server;
  }

  async remove(name: string): Promise<ServerConfig> {
    const all = await this.list();
    const s = all.find((x) => x.name === name);
    if (!s) throw new PixelRtsError("E_SERVER_UNKNOWN", `no server named '${name}'`);
    await this.save(all.filter((x) => x !== s));
    return s;
  }

  /** Renames a server (its saved catalog copy is fetched again under the new name). */
  async rename(from: string, to: string): Promise<ServerConfig> {
    const all = await this.list();
    const s = all.find((x) => x.name === from) ?? (await this.get(from));
    const name = validateServerName(to);
    if (all.some((x) => x.name === name)) throw new PixelRtsError("E_SERVER_EXISTS", `a server named '${name}' already exists`);
    const renamed = { ...s, name };
    await this.save(all.map((x) => (x === s ? renamed : x)));
    return renamed;
  }

  /** Makes `name` the default server (only one is). */
  async setDefault(name: string): Promise<ServerConfig> {
    const all = await this.list();
    const s = all.find((x) => x.name === name) ?? (await this.get(name));
    const updated = all.map((x) => {
      const { default: _, ...rest } = x;
      return x === s ? { ...rest, default: true } : rest;
    });
    await this.save(updated);
    return { ...s, default: true };
  }

  /** The default server: the one marked so, else the only one; undefined otherwise. */
  async defaultServer(): Promise<ServerConfig | undefined> {
    const all = await this.list();
    return all.find((s) => s.default) ?? (all.length === 1 ? all[0] : undefined);
  }

  private async save(servers: ServerConfig[]): Promise<void> {
    const body: ServersFile = { version: 1, servers };
    await writeFileAtomic(this.file, JSON.stringify(body, null, 2) + "\n");
  }
}
