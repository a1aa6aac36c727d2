/** The console page at `/`: header with sources, filters, the tile grid, the entry panel, the VMs. */
import type { FC } from "hono/jsx";
import type { VmInfo } from "../../boot/vm.js";
import type { ConsoleEntry, SourceRow } from "../catalog-view.js";
import { Sources, Tiles, VmList } from "./components.js";

export const Page: FC<{ entries: ConsoleEntry[]; sources: SourceRow[]; vms: VmInfo[]; grid: { width: number; height: number }; title: string; version: string; assets: { js: string; css: string } }> = (p) => (
  <html lang="en">
    <head>
      <meta charset="utf-8" />
      <meta name="viewport" content="width=device-width, initial-scale=1" />
      <title>{p.title}</title>
      <link rel="icon" href="data:," />
      <link rel="stylesheet" href={p.assets.css} />
      <script src={p.assets.js} defer />
    </head>
    <body>
      <header class="top">
        <div class="brand">
          <h1>
            PixelRTS <span>boot host console</span>
          </h1>
          <p class="sub">
            {p.title} · v{p.version}
          </p>
        </div>
        <nav aria-label="Sources" id="sources">
          <Sources sources={p.sources} />
        </nav>
        <button type="button" id="refresh" class="quiet">
          Refresh catalogs
        </button>
      </header>
      <section class="toolbar" aria-label="Search and filters">
        <label class="search">
          Search
          <input id="q" type="search" placeholder="name, distro, description…" autocomplete="off" />
        </label>
        <label>
          Distro
          <select id="f-distro" data-filter="distro">
            <option value="">all</option>
          </select>
        </label>
        <label>
          Architecture
          <select id="f-arch" data-filter="arch">
            <option value="">all</option>
          </select>
        </label>
        <label>
          Type
          <select id="f-type" data-filter="type">
            <option value="">all</option>
          </select>
        </label>
        <p id="count" class="count" role="status" aria-live="polite">
          {`${p.entries.length} containers`}
        </p>
      </section>
      <p id="notice" class="notice" role="alert" hidden />
      <main class="layout">
        <section class="grid-wrap" aria-label="Containers (drag a tile to move it; Alt+arrow keys move the focused tile)">
          {p.entries.length === 0 ? (
            <p class="hint">
              No containers yet: add a catalog server with <code>pixelrts servers add URL</code> and press Refresh catalogs, or pull one with <code>pixelrts pull</code>.
            </p>
          ) : null}
          <ul id="grid" class="grid" data-width={String(p.grid.width)} data-height={String(p.grid.height)}>
            <Tiles entries={p.entries} />
          </ul>
        </section>
        <aside id="panel" class="panel" aria-label="Selected container">
          <p class="hint">Select a container to see its facts, pull it and boot it.</p>
        </aside>
      </main>
      <section class="vms" aria-labelledby="vms-title">
        <h2 id="vms-title">Virtual machines</h2>
        <p class="hint" id="no-vms" hidden={p.vms.length > 0}>
          None yet. Boot a container from its panel; stopping serve stops its VMs.
        </p>
        <div id="vm-list" class="vm-list">
          <VmList vms={p.vms} />
        </div>
      </section>
    </body>
  </html>
);
