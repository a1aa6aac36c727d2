/**
 * `GET /`: for a browser (Accept: text/html), a page listing this catalog with thumbnails and
 * download links, so `npm start` is something a person can open; for anything else, JSON links
 * to the API. Every value from container metadata is HTML-escaped.
 */
import { Hono } from "hono";
import type { CatalogEntry } from "../../shared/catalog";
import { rowsStatement } from "../db/read";
import { type EntryRow, entryFromRow } from "../db/rows";
import { localSource } from "../storage/store";

export const homeRoutes = new Hono<{ Bindings: Env }>();

const ESC: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
export const escapeHtml = (s: unknown): string => String(s ?? "").replace(/[&<>"']/g, (ch) => ESC[ch]!);

function size(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} kB` : `${n} B`;
}

function card(e: CatalogEntry): string {
  const facts = [e.type, e.distro, e.architecture, e.kernel_version].filter(Boolean).map(escapeHtml).join(" · ");
  const img = e.thumbnail_url ? `<img src="${escapeHtml(e.thumbnail_url)}" alt="" width="128" height="128" loading="lazy">` : `<div class="noimg"></div>`;
  return `<li>${img}<div><h2>${escapeHtml(e.name)}</h2><p>${facts}</p><p>${escapeHtml(e.description ?? "")}</p>
<p><a href="${escapeHtml(e.url)}">download</a> (${size(e.size)}) · <a href="${escapeHtml(`/api/v1/catalog/${e.id}`)}">entry</a> · <code title="SHA-256 of the file">${escapeHtml((e.sha256 ?? "").slice(0, 16))}</code></p>
<p class="cmd"><code>pixelrts boot ${escapeHtml(e.id)}</code></p></div></li>`;
}

homeRoutes.get("/", async (c) => {
  const origin = new URL(c.req.url).origin;
  if (!/\btext\/html\b/.test(c.req.header("accept") ?? "")) {
    return c.json({ service: "pixelrts-edge", catalog: `${origin}/api/v1/catalog`, remote_catalog: `${origin}/api/v1/remote/catalog`, health: `${origin}/api/v1/health` });
  }
  const source = localSource(c.env, origin);
  const stmt = rowsStatement(c.env.DB, { filter: {}, sort: "name", thumbnails: false }, null, 201)!;
  const rows = (await stmt.all<EntryRow>()).results;
  const page = { entries: rows.slice(0, 200).map((r) => entryFromRow(r, origin, source)), nextCursor: rows.length > 200 };
  const body = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(source.name)}</title>
<style>body{font:15px/1.4 system-ui,sans-serif;margin:2rem;max-width:60rem}ul{list-style:none;padding:0}li{display:flex;gap:1rem;margin:0 0 1.2rem}
img,.noimg{width:128px;height:128px;image-rendering:pixelated;background:#ddd;flex:none}h2{margin:0;font-size:1.1rem}p{margin:.2rem 0}.cmd code{background:#f3f3f3;padding:0 .3rem}</style></head>
<body><h1>${escapeHtml(source.name)}</h1>
<p>${page.entries.length} container${page.entries.length === 1 ? "" : "s"}. JSON: <a href="/api/v1/catalog">/api/v1/catalog</a> · <a href="/api/v1/remote/catalog">with remote servers</a>.
Add this server to the agent: <code>pixelrts servers add ${escapeHtml(origin)}</code></p>
<ul>${page.entries.map(card).join("\n")}</ul>${page.nextCursor ? "<p>(first 200 shown)</p>" : ""}</body></html>`;
  return c.html(body);
});
