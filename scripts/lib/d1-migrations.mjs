// The D1 schema (migrations/*.sql, in name order) for local databases outside wrangler's own
// `d1 migrations apply` (which `npm start` and wrangler dev use): Miniflare instances in the
// Node tests and benches. Statements are split at a `;` ending a line, a CREATE TRIGGER block at
// its `END;`; `--` comments are dropped. Applied statements are recorded in wrangler's
// table (d1_migrations) so both ways agree on what is applied.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const DIR = fileURLToPath(new URL("../../migrations", import.meta.url));

/** @returns {{ name: string, queries: string[] }[]} */
export function readMigrations(dir = DIR) {
  return readdirSync(dir)
    .filter((f) => f.endsWith(".sql"))
    .sort()
    .map((name) => {
      const queries = [];
      let cur = [];
      for (const raw of readFileSync(join(dir, name), "utf8").split("\n")) {
        const line = raw.replace(/\s+--.*$/, ""); // our migrations have no "--" inside strings
        if (/^\s*--/.test(line) || !line.trim()) continue;
        cur.push(line);
        const text = cur.join("\n");
        const trigger = /^\s*CREATE\s+TRIGGER/i.test(text);
        if ((trigger && /^\s*END;\s*$/i.test(line)) || (!trigger && /;\s*$/.test(line))) {
          queries.push(text.trim());
          cur = [];
        }
      }
      if (cur.length) queries.push(cur.join("\n").trim());
      return { name, queries };
    });
}

/** Applies what is not applied yet to a D1Database (e.g. `await mf.getD1Database("DB")`). */
export async function applyMigrations(db, migrations = readMigrations()) {
  await db.prepare("CREATE TABLE IF NOT EXISTS d1_migrations (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE, applied_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)").run();
  const done = new Set((await db.prepare("SELECT name FROM d1_migrations").all()).results.map((r) => r.name));
  for (const m of migrations) {
    if (done.has(m.name)) continue;
    await db.batch([...m.queries.map((q) => db.prepare(q)), db.prepare("INSERT INTO d1_migrations (name) VALUES (?1)").bind(m.name)]);
  }
}
