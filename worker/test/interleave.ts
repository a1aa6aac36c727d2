/**
 * The interleaving harness (docs/WORKER.md, "Concurrency"): one request (the "held" one) goes
 * through gated bindings that stop it before its k-th storage call; the other runs to the end
 * meanwhile; then the held one goes on. Repeated for every k until the held request makes no more
 * calls, and again with the roles swapped, so every point where one request can fall between two
 * calls of the other is tried. After the other request, and again after both, the invariant must
 * hold (expectCatalogIntact, expectIndexTruthful and the race's own `check`). Finally every name
 * of the run is deleted and nothing of its blobs, refs, thumbnails or signatures may be left.
 * R2 and D1 calls are numbered together, so a request can also be held between its R2
 * compare-and-swap and its index write.
 */
import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect } from "vitest";
import type { CatalogEntry } from "../../shared/catalog";
import app from "../index";
import { type Gate, gatedBucketWith, makeGate } from "./gated-bucket";
import { wrapDb } from "./counting";
import { bearer, call, ORIGIN } from "./helpers";
import { expectCatalogIntact, expectIndexTruthful } from "./invariant";

/** Storage bindings a request runs with (gated or counting wrappers, or the real ones). */
export type Bindings = Pick<Env, "BUCKET"> & Partial<Pick<Env, "DB">>;

export const realBindings = (): Bindings => ({ BUCKET: env.BUCKET, DB: env.DB });

/** R2 and D1 behind one gate: the k-th storage call of either kind is the one held. */
export function gatedBindings(holdBefore: (index: number, call: string) => boolean): { bindings: Bindings; gate: Gate } {
  const gate = makeGate(holdBefore);
  return { bindings: { BUCKET: gatedBucketWith(env.BUCKET, gate), DB: wrapDb(env.DB, gate.step) }, gate };
}

/** One request to the app with `b` in place of the real storage bindings. */
export async function send(b: Bindings, path: string, init?: RequestInit, extra: Record<string, unknown> = {}): Promise<Response> {
  return app.fetch(new Request(ORIGIN + path, init), { ...env, ...extra, ...b }, createExecutionContext());
}

export function putContainer(b: Bindings, name: string, f: { bytes: Uint8Array; sha256: string }, headers: Record<string, string> = {}): Promise<Response> {
  return send(b, `/api/v1/containers/${name}`, {
    method: "PUT",
    body: f.bytes,
    headers: { ...bearer, "x-pixelrts-sha256": f.sha256, "content-length": String(f.bytes.length), ...headers },
  });
}

export interface Race {
  /** The two requests; `a` is held first, then (roles swapped) `b`. */
  a: (b: Bindings) => Promise<Response>;
  b: (b: Bindings) => Promise<Response>;
  names: string[];
  shas: string[];
  /** Checks after both finished (statuses, which version won). */
  after(a: Response, b: Response, catalog: CatalogEntry[]): Promise<void>;
  /** Extra invariant, checked after the free request and again after both. */
  check?(): Promise<void>;
}

/** Objects that still belong to these blobs and names (once all the names are deleted: must be none). */
export async function leftovers(race: Pick<Race, "names" | "shas">): Promise<string[]> {
  const keys: string[] = [];
  const prefixes = [...race.shas.flatMap((s) => [`blobs/sha256/${s}/`, `refs/${s}/`, `signatures/${s}/`]), ...race.names.map((n) => `thumbnails/${n}/`)];
  for (const prefix of prefixes) {
    keys.push(...(await env.BUCKET.list({ prefix })).objects.map((o) => o.key));
  }
  return keys;
}

/** Deletes every name of a run (200 or 404) and expects nothing of its blobs, refs, thumbnails or signatures left. */
export async function expectNothingLeft(race: Pick<Race, "names" | "shas">): Promise<void> {
  for (const name of race.names) {
    const del = await call(`/api/v1/containers/${name}`, { method: "DELETE", headers: bearer });
    expect([200, 404]).toContain(del.status);
    await del.arrayBuffer();
  }
  expect(await leftovers(race)).toEqual([]);
}

/** Runs `make`'s race at every hold point in both orders; returns how many runs it made. */
export async function everyInterleaving(prefix: string, make: (name: string, run: number) => Promise<Race>): Promise<number> {
  let runs = 0;
  for (const swapped of [false, true]) {
    // Holding b before its first call (a runs alone, then b) is the last run of the first order
    // (a finished without being held, then b ran): the second order starts at its second call.
    for (let k = swapped ? 1 : 0; ; k++) {
      expect(k).toBeLessThan(100); // a request makes far fewer storage calls than this
      const race = await make(prefix, runs);
      const [held, other] = swapped ? [race.b, race.a] : [race.a, race.b];
      const { bindings, gate } = gatedBindings((i) => i === k);
      const heldDone = held(bindings);
      const stopped = await Promise.race([gate.reached, heldDone.then(() => null)]);
      const otherRes = await other(realBindings());
      await expectCatalogIntact(prefix, { byName: false });
      await expectIndexTruthful(prefix, { mirror: false });
      await race.check?.();
      gate.open();
      const heldRes = await heldDone;
      const catalog = await expectCatalogIntact(prefix);
      await expectIndexTruthful(prefix);
      await race.check?.();
      await (swapped ? race.after(otherRes, heldRes, catalog) : race.after(heldRes, otherRes, catalog));
      await expectNothingLeft(race);
      runs++;
      if (stopped === null) break; // the held request finished before its k-th call: every point tried
    }
  }
  return runs;
}
