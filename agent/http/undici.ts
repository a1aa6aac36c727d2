/**
 * undici, loaded on first use. Loading it costs ~80 ms of a command's start-up on this machine
 * (about half of `pixelrts --version`), and pack, inspect, key, sign, trust, cache and a cached
 * `boot --offline` never touch the network. A synchronous require keeps call sites and the
 * `Dispatcher` the agent context hands out synchronous.
 */
import { createRequire } from "node:module";
import type * as Undici from "undici";

const requireFromHere = createRequire(import.meta.url);
let loaded: typeof Undici | undefined;

export function undici(): typeof Undici {
  return (loaded ??= requireFromHere("undici") as typeof Undici);
}
