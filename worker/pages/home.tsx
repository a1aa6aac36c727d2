/** @jsxImportSource hono/jsx */
/**
 * The page at `/`: the merged catalog (this Worker's entries from the index, then the remote
 * servers', each in its source's colour), with a search box, distro/arch/type filters and a sort
 * order as a plain GET form (no script needed), and numbered pages.
 */
import type { FC } from "hono/jsx";
import type { CatalogEntry, SourceStatus } from "../../shared/catalog";
import { CopyCommand } from "../../shared/ui/facts";
import { safeColor, shellWord } from "../../shared/ui/format";
import { Tile } from "../../shared/ui/tile";
import { Layout } from "./layout";

export interface PageQuery {
  q: string;
  distro: string;
  arch: string;
  type: string;
  sort: "name" | "date";
  page: number;
}

export interface HomeProps {
  title: string;
  origin: string;
  query: PageQuery;
  facets: { distro: string[]; arch: string[]; type: string[] };
  sources: SourceStatus[];
  entries: CatalogEntry[];
  total: number;
  start: number;
  pageSize: number;
  localId: string;
}

/** The page's own URL with some parameters changed (empty values dropped). */
export function pageHref(q: PageQuery, change: Partial<PageQuery>): string {
  const next = { ...q, ...change };
  const p = new URLSearchParams();
  for (const k of ["q", "distro", "arch", "type"] as const) if (next[k]) p.set(k, next[k]);
  if (next.sort !== "name") p.set("sort", next.sort);
  if (next.page > 1) p.set("page", String(next.page));
  const s = p.toString();
  return s ? `/?${s}` : "/";
}

export function detailHref(e: CatalogEntry, localId: string): string {
  return e.source.id === localId ? `/containers/${encodeURIComponent(e.id)}` : `/sources/${encodeURIComponent(e.source.id)}/${encodeURIComponent(e.id)}`;
}

const Select: FC<{ name: string; label: string; value: string; options: string[] }> = ({ name, label, value, options }) => (
  <label for={`f-${name}`}>
    {label}
    <select id={`f-${name}`} name={name}>
      <option value="">any</option>
      {(value && !options.includes(value) ? [value, ...options] : options).map((o) => (
        <option value={o} selected={o === value}>
          {o}
        </option>
      ))}
    </select>
  </label>
);

const Pages: FC<{ query: PageQuery; total: number; pageSize: number }> = ({ query, total, pageSize }) => {
  const last = Math.max(1, Math.ceil(total / pageSize));
  if (last === 1) return null;
  const cur = Math.min(query.page, last);
  const shown = [...new Set([1, cur - 2, cur - 1, cur, cur + 1, cur + 2, last])].filter((n) => n >= 1 && n <= last).sort((a, b) => a - b);
  return (
    <nav class="pages" aria-label="Pages">
      {cur > 1 ? (
        <a href={pageHref(query, { page: cur - 1 })} rel="prev">
          ← previous
        </a>
      ) : null}
      {shown.map((n) =>
        n === cur ? (
          <span aria-current="page">{String(n)}</span>
        ) : (
          <a href={pageHref(query, { page: n })} aria-label={`page ${n}`}>
            {String(n)}
          </a>
        ),
      )}
      {cur < last ? (
        <a href={pageHref(query, { page: cur + 1 })} rel="next">
          next →
        </a>
      ) : null}
    </nav>
  );
};

export const HomePage: FC<HomeProps> = (p) => {
  const filtered = !!(p.query.q || p.query.distro || p.query.arch || p.query.type);
  const from = p.total ? p.start + 1 : 0;
  const to = p.start + p.entries.length;
  return (
    <Layout title={p.title}>
      <header class="site">
        <h1>{p.title}</h1>
        <p>
          JSON: <a href="/api/v1/catalog">this catalog</a> · <a href="/api/v1/remote/catalog">with remote servers</a>
        </p>
      </header>
      <main>
        <CopyCommand id="cmd-add-server" label="Add this server to pixelrts" command={`pixelrts servers add ${shellWord(p.origin)}`} />
        <form class="search" role="search" method="get" action="/">
          <label class="q" for="f-q">
            Search
            <input type="search" id="f-q" name="q" value={p.query.q} placeholder="name, description, distro, kernel…" maxlength={200} />
          </label>
          <Select name="distro" label="Distro" value={p.query.distro} options={p.facets.distro} />
          <Select name="arch" label="Architecture" value={p.query.arch} options={p.facets.arch} />
          <Select name="type" label="Type" value={p.query.type} options={p.facets.type} />
          <label for="f-sort">
            Sort
            <select id="f-sort" name="sort">
              <option value="name" selected={p.query.sort === "name"}>
                name
              </option>
              <option value="date" selected={p.query.sort === "date"}>
                newest
              </option>
            </select>
          </label>
          <button type="submit">Search</button>
          {filtered ? <a href="/">clear</a> : null}
        </form>
        <ul class="sources" aria-label="Sources">
          {p.sources.map((s) => (
            <li style={`--source:${safeColor(s.color)}`}>
              <span class="swatch" aria-hidden="true" />
              {s.name} <span class="status">({s.status === "ok" ? `${s.count} listed` : s.status}{s.stale ? ", stale" : ""})</span>
            </li>
          ))}
        </ul>
        <p class="summary" role="status">
          {p.total === 0 ? (filtered ? "No container matches." : "No containers yet.") : `${from}–${to} of ${p.total} container${p.total === 1 ? "" : "s"}${filtered ? " matching" : ""}`}
        </p>
        <ul class="tiles" aria-label="Containers">
          {p.entries.map((e) => (
            <Tile e={e} href={detailHref(e, p.localId)} />
          ))}
        </ul>
        <Pages query={p.query} total={p.total} pageSize={p.pageSize} />
      </main>
      <footer>
        Served by PixelRTS Edge. Entries from other servers are downloaded from those servers.
      </footer>
    </Layout>
  );
};
