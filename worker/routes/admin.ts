/**
 * `POST /api/v1/admin/reindex` (auth, publish token): one bounded reindex step (reindex/index.ts)
 * from `?cursor=` (opaque, from the previous answer; none = the start) → `{done, cursor, stats}`.
 * `npm run reindex` calls it until `done`. Query `keys` (1–1000, default 200) and `migrations`
 * (1–50, default 4) bound the step.
 */
import { Hono } from "hono";
import { requirePublisher } from "../auth";
import { httpFail } from "../errors";
import { parseState, reindexStep, START } from "../reindex";
import { storageOf } from "../storage/store";

export const adminRoutes = new Hono<{ Bindings: Env }>();

const b64url = (s: string) => btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

function intParam(v: string | null, dflt: number, min: number, max: number, name: string): number {
  if (v === null || v === "") return dflt;
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) httpFail("E_BAD_REQUEST", `${name} must be an integer from ${min} to ${max}`);
  return Number(v);
}

adminRoutes.post("/api/v1/admin/reindex", requirePublisher, async (c) => {
  const params = new URL(c.req.url).searchParams;
  const cursor = params.get("cursor");
  let state = START;
  if (cursor) {
    if (cursor.length > 2000 || !/^[A-Za-z0-9_-]+$/.test(cursor)) httpFail("E_BAD_CURSOR", "cursor is not one this server issued");
    let text = "";
    try {
      text = atob(cursor.replace(/-/g, "+").replace(/_/g, "/"));
    } catch {
      httpFail("E_BAD_CURSOR", "cursor is not one this server issued");
    }
    state = parseState(text);
  }
  const maxKeys = intParam(params.get("keys"), 200, 1, 1000, "keys");
  const maxMigrations = intParam(params.get("migrations"), 4, 1, 50, "migrations");
  const r = await reindexStep(storageOf(c.env), state, { maxKeys, maxMigrations });
  const done = r.state.phase === "done";
  return c.json({ done, cursor: done ? null : b64url(JSON.stringify(r.state)), phase: r.state.phase, stats: r.stats }, 200, { "Cache-Control": "no-store" });
});
