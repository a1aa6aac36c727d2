#!/usr/bin/env node
// `npm run reindex [-- URL [TOKEN]]`: rebuilds or repairs the Worker's D1 catalog index from R2
// and moves a layout-1 bucket to layout 2, by calling POST /api/v1/admin/reindex (one bounded
// step per call) until it is done. URL defaults to the local Worker of `npm start`
// (http://127.0.0.1:$PORT, 8787); TOKEN to $PUBLISH_TOKEN, then .dev.vars. Works the same against
// a deployed Worker (give its URL and publish token). Prints what each step did.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const args = process.argv.slice(2).filter((a) => !a.startsWith("--"));
const url = (args[0] ?? `http://127.0.0.1:${process.env.PORT ?? 8787}`).replace(/\/+$/, "");
const devVars = join(ROOT, ".dev.vars");
const token = args[1] ?? process.env.PUBLISH_TOKEN ?? (existsSync(devVars) ? /^PUBLISH_TOKEN=(.*)$/m.exec(readFileSync(devVars, "utf8"))?.[1]?.trim() : undefined);
if (!token) {
  console.error("reindex: no publish token (give it as the second argument, or set PUBLISH_TOKEN)");
  process.exit(2);
}

const totals = {};
let cursor = null;
for (let step = 1; ; step++) {
  const q = new URLSearchParams(cursor ? { cursor } : {});
  let res;
  try {
    res = await fetch(`${url}/api/v1/admin/reindex?${q}`, { method: "POST", headers: { authorization: `Bearer ${token}` } });
  } catch (e) {
    console.error(`reindex: ${url} does not answer (${e.cause?.code ?? e.message}); is the Worker running (npm start)?`);
    process.exit(1);
  }
  const body = await res.json().catch(() => null);
  if (!res.ok || !body) {
    console.error(`reindex: HTTP ${res.status} ${body?.error ? `${body.error.code}: ${body.error.message}` : ""}`);
    process.exit(1);
  }
  for (const [k, v] of Object.entries(body.stats)) if (typeof v === "number") totals[k] = (totals[k] ?? 0) + v;
  for (const p of body.stats.migrationProblems ?? []) console.warn(`  ${p.name}: not migrated (${p.outcome})`);
  const did = Object.entries(body.stats).filter(([, v]) => typeof v === "number" && v > 0).map(([k, v]) => `${k} ${v}`).join(", ");
  console.log(`step ${step} (${body.phase}): ${did || "nothing to do"}`);
  if (body.done) break;
  cursor = body.cursor;
}
console.log(`reindex done: ${Object.entries(totals).filter(([, v]) => v > 0).map(([k, v]) => `${k} ${v}`).join(", ") || "the index already matched R2"}`);
