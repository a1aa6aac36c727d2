/**
 * The boot host's trust: which publisher keys it believes (`<config>/trust.json`, edited by
 * `pixelrts trust add|ls|rm`), and, per server and name, the newest signature time it has
 * accepted (`<config>/trust-state.json`), so an older signed container served later under the
 * same name is a rollback. Both live in the config dir: clearing the cache must not reset them.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { fail, PixelRtsError } from "../../shared/errors.js";
import { parsePublicKey } from "../../shared/trust/keys.js";
import type { TrustedKey } from "../../shared/trust/verify.js";
import { ioError, isErrno, writeFileAtomic } from "../fsutil/index.js";
import { validateKeyName } from "./keyring.js";

export interface TrustEntry {
  /** Local name of the key (defaults to its key id). */
  name: string;
  /** `ed25519:<base64>`. */
  key: string;
  keyid: string;
  /** Servers this key is trusted for; empty = every server (and local files). */
  servers: string[];
  added_at: string;
}

async function readJson<T>(file: string, empty: T, check: (doc: unknown) => doc is T): Promise<T> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    if (isErrno(e, "ENOENT")) return empty;
    throw ioError(e, `cannot read ${file}`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new PixelRtsError("E_CONFIG", `${file} is not valid JSON: ${(e as Error).message}`);
  }
  if (!check(doc)) fail("E_CONFIG", `${file} does not have the expected shape; fix or remove it`);
  return doc;
}

interface TrustFile {
  version: 1;
  keys: TrustEntry[];
}

const isTrustFile = (d: unknown): d is TrustFile =>
  typeof d === "object" && d !== null && (d as TrustFile).version === 1 && Array.isArray((d as TrustFile).keys) &&
  (d as TrustFile).keys.every((k) => typeof k?.name === "string" && typeof k.key === "string" && typeof k.keyid === "string" && Array.isArray(k.servers));

export class TrustStore {
  readonly file: string;
  constructor(configDir: string) {
    this.file = join(configDir, "trust.json");
  }

  async list(): Promise<TrustEntry[]> {
    return (await readJson<TrustFile>(this.file, { version: 1, keys: [] }, isTrustFile)).keys;
  }

  /** Trusts a key (for one server, or everywhere); adding a server to a known key widens it. */
  async add(input: { key: string; name?: string; server?: string }): Promise<TrustEntry> {
    const key = await parsePublicKey(input.key.trim(), "the key to trust");
    const name = validateKeyName(input.name ?? key.keyid);
    const all = await this.list();
    const same = all.find((k) => k.keyid === key.keyid);
    if (same) {
      if (input.name !== undefined && input.name !== same.name) fail("E_TRUST_EXISTS", `key ${key.keyid} is already trusted as '${same.name}'`);
      const servers = input.server === undefined ? [] : same.servers.length === 0 ? [] : [...new Set([...same.servers, input.server])];
      const updated = { ...same, servers };
      await this.save(all.map((k) => (k === same ? updated : k)));
      return updated;
    }
    if (all.some((k) => k.name === name)) fail("E_TRUST_EXISTS", `a trusted key is already named '${name}'; pick another --name`);
    const entry: TrustEntry = { name, key: key.text, keyid: key.keyid, servers: input.server === undefined ? [] : [input.server], added_at: new Date().toISOString() };
    await this.save([...all, entry]);
    return entry;
  }

  /** Removes a key by name or key id. */
  async remove(ref: string): Promise<TrustEntry> {
    const all = await this.list();
    const hit = all.find((k) => k.name === ref || k.keyid === ref);
    if (!hit) fail("E_KEY_UNKNOWN", `no trusted key named '${ref}' (see 'pixelrts trust ls')`);
    await this.save(all.filter((k) => k !== hit));
    return hit;
  }

  /** A server was renamed: keys trusted for it keep counting for it. */
  async renameServer(from: string, to: string): Promise<void> {
    const all = await this.list();
    if (!all.some((k) => k.servers.includes(from))) return;
    await this.save(all.map((k) => ({ ...k, servers: k.servers.map((s) => (s === from ? to : s)) })));
  }

  /** The keys that count for containers from `server` (undefined: a local file or a URL). */
  async trustedFor(server: string | undefined): Promise<TrustedKey[]> {
    const out: TrustedKey[] = [];
    for (const k of await this.list()) {
      if (k.servers.length > 0 && (server === undefined || !k.servers.includes(server))) continue;
      out.push({ key: await parsePublicKey(k.key, `${this.file}: key '${k.name}'`), name: k.name });
    }
    return out;
  }

  private async save(keys: TrustEntry[]): Promise<void> {
    await writeFileAtomic(this.file, JSON.stringify({ version: 1, keys } satisfies TrustFile, null, 2) + "\n");
  }
}

interface StateFile {
  version: 1;
  /** "<server>/<name>" → newest accepted signed_at. */
  accepted: Record<string, string>;
}

const isStateFile = (d: unknown): d is StateFile =>
  typeof d === "object" && d !== null && (d as StateFile).version === 1 && typeof (d as StateFile).accepted === "object" && (d as StateFile).accepted !== null;

/** Rollback protection: per server and name, the newest signature time accepted so far. */
export class AcceptedSignatures {
  readonly file: string;
  constructor(configDir: string) {
    this.file = join(configDir, "trust-state.json");
  }

  private async read(): Promise<StateFile> {
    return readJson<StateFile>(this.file, { version: 1, accepted: {} }, isStateFile);
  }

  async newest(server: string, name: string): Promise<string | undefined> {
    return (await this.read()).accepted[`${server}/${name}`];
  }

  /** E_ROLLBACK when `signedAt` is older than what was accepted for this server and name. */
  async check(server: string, name: string, signedAt: string, allowDowngrade: boolean): Promise<void> {
    const newest = await this.newest(server, name);
    if (!newest || Date.parse(signedAt) >= Date.parse(newest) || allowDowngrade) return;
    fail("E_ROLLBACK", `${server} serves '${name}' signed at ${signedAt}, older than the ${newest} signature already accepted from it: refusing a rollback (--allow-downgrade to accept it)`, { server, name, signed_at: signedAt, newest });
  }

  /** A server was renamed: what was accepted from it still bounds what it may serve (no rollback through a rename). */
  async renameServer(from: string, to: string): Promise<void> {
    const state = await this.read();
    const prefix = `${from}/`;
    const moved = Object.keys(state.accepted).filter((k) => k.startsWith(prefix));
    if (moved.length === 0) return;
    for (const k of moved) {
      state.accepted[`${to}/${k.slice(prefix.length)}`] = state.accepted[k]!;
      delete state.accepted[k];
    }
    await writeFileAtomic(this.file, JSON.stringify(state, null, 2) + "\n");
  }

  /** Records an accepted signature time (only ever moves forward). */
  async record(server: string, name: string, signedAt: string): Promise<void> {
    const state = await this.read();
    const key = `${server}/${name}`;
    const cur = state.accepted[key];
    if (cur && Date.parse(cur) >= Date.parse(signedAt)) return;
    state.accepted[key] = signedAt;
    await writeFileAtomic(this.file, JSON.stringify(state, null, 2) + "\n");
  }
}
