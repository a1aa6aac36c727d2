/**
 * undici, loaded on first use and only the parts the agent uses: the keep-alive `Agent`, the
 * redirect interceptor and `request`. Commands that never touch the network (pack, inspect, key,
 * sign, trust, cache, a cached `boot --offline`) load none of it.
 *
 * Why not `require("undici")`: its index also loads fetch, WebSocket, EventSource, the cache
 * stores and the mock agents. Measured on this machine (Node 20, 2026-12-03): a process that
 * requires the index and makes one request uses ~0.35 s of CPU; with these four modules,
 * ~0.15 s (node alone: ~0.1 s). Every networked CLI command paid the difference at start-up
 * (bench:cli prints what `servers add` costs now).
 *
 * These are undici's own files (lib/…), so this depends on its layout: package.json pins the
 * exact version, and every test that talks HTTP goes through here, so an upgrade that moves a
 * file fails the suite at once rather than at a user's.
 */
import { createRequire } from "node:module";
import { setFlagsFromString } from "node:v8";
import type * as Undici from "undici";

const requireFromHere = createRequire(import.meta.url);

/** The part of undici's API the agent uses. */
export interface UndiciSubset {
  Agent: typeof Undici.Agent;
  interceptors: { redirect: typeof Undici.interceptors.redirect };
  /** `undici.request(url, { dispatcher, ... })`; the dispatcher is always given. */
  request(url: string | URL, opts: { dispatcher: Undici.Dispatcher } & Omit<Undici.Dispatcher.RequestOptions, "origin" | "path" | "method"> & { method?: Undici.Dispatcher.HttpMethod }): Promise<Undici.Dispatcher.ResponseData>;
}

let loaded: UndiciSubset | undefined;

function load(): UndiciSubset {
  // undici parses HTTP with llhttp, a WebAssembly module. V8 compiles it with its baseline
  // compiler (Liftoff), then optimizes it on background threads, and a process cannot exit
  // before those finish: ~0.12 s of CPU and of wall time at the end of every networked command,
  // for code that only reads headers and chunk sizes. Baseline code only, set before undici
  // compiles it (measured: `servers add` 370 -> 255 ms of CPU; pulls run at the same speed). Set
  // here, not at start-up: changing a V8 flag costs the commands that never load undici ~15 ms.
  setFlagsFromString("--liftoff-only");
  const Agent = requireFromHere("undici/lib/dispatcher/agent") as typeof Undici.Agent;
  const Dispatcher = requireFromHere("undici/lib/dispatcher/dispatcher") as { prototype: object };
  const api = requireFromHere("undici/lib/api") as object;
  // What undici's index does when it loads: request/stream/pipeline/... on every dispatcher
  // (the same functions, so loading the index too later changes nothing).
  Object.assign(Dispatcher.prototype, api);
  const redirect = requireFromHere("undici/lib/interceptor/redirect") as typeof Undici.interceptors.redirect;
  const { InvalidArgumentError } = requireFromHere("undici/lib/core/errors") as typeof Undici.errors;
  return {
    Agent,
    interceptors: { redirect },
    // As undici's own request(): the same defaults and the same error for a URL it cannot send.
    async request(url, { dispatcher, ...opts }) {
      const u = new URL(url);
      if (u.protocol !== "http:" && u.protocol !== "https:") throw new InvalidArgumentError("Invalid URL protocol: the URL must start with `http:` or `https:`.");
      return dispatcher.request({ ...opts, origin: u.origin, path: `${u.pathname}${u.search}`, method: opts.method ?? (opts.body ? "PUT" : "GET") });
    },
  };
}

export function undici(): UndiciSubset {
  return (loaded ??= load());
}
