/**
 * The console: `GET /` (the page), its script and style (plain files beside this one, served as
 * they are: no build step), and HTML fragments the script fetches when something changes
 * (`/console/tiles`, `/console/sources`, `/console/entry/{id}`, `/console/vm/{id}`).
 * Every HTML answer carries a Content-Security-Policy that allows this origin's script and style
 * only (no inline script, no <style>; style attributes yes), images from anywhere (thumbnails of
 * remote catalogs), and no framing.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Context } from "hono";
import { httpFail } from "../errors.js";
import { itemOr404, originOf } from "../routes/catalog.js";
import type { ServeApp, ServeState } from "../state.js";
import { isVmId } from "../../boot/vm.js";
import { EntryPanel, Sources, Tiles, VmCard } from "./components.js";
import { Page } from "./page.js";

// style-src-attr: shared/ui's components (also the Worker's page) set a colour or a size in a
// style attribute, from values they check (hex colours, numbers); no <style> and no script inline.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; style-src-attr 'unsafe-inline'; img-src 'self' data: http: https:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** agent/serve/console/<name>, found from this module (source tree) or from dist/ (the bundle). */
function assetFile(name: string): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    for (const candidate of [join(dir, name), join(dir, "agent/serve/console", name)]) if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  throw new Error(`pixelrts serve: cannot find the console's ${name}`);
}

function loadAsset(name: string, type: string): { body: string; etag: string; url: string; type: string } {
  const body = readFileSync(assetFile(name), "utf8");
  const hash = createHash("sha256").update(body).digest("hex").slice(0, 16);
  return { body, etag: `"${hash}"`, url: `/${name}?v=${hash}`, type };
}

function html(c: Context, node: unknown): Response {
  return c.html(String(node), 200, { "content-security-policy": CSP, "cache-control": "no-store" });
}

export function consoleRoutes(app: ServeApp, s: ServeState): void {
  const assets = { js: loadAsset("console.js", "text/javascript; charset=utf-8"), css: loadAsset("console.css", "text/css; charset=utf-8") };
  for (const a of Object.values(assets)) {
    app.get(a.url.split("?")[0]!, (c) => {
      if (c.req.header("if-none-match") === a.etag) return c.body(null, 304, { etag: a.etag });
      return c.body(a.body, 200, { "content-type": a.type, etag: a.etag, "cache-control": "no-cache" });
    });
  }

  const entries = (c: Context) => {
    const statuses = s.view.vmStatuses(); // once per render, not once per entry
    return s.view.all().map((i) => s.view.consoleEntry(i, originOf(c), statuses));
  };

  app.get("/", async (c) => {
    await s.view.ready();
    s.view.revalidate();
    const page = <Page entries={entries(c)} sources={s.view.sources()} vms={s.vms.list()} grid={s.view.grid()} title={s.source(originOf(c)).name} version={s.version} assets={{ js: assets.js.url, css: assets.css.url }} />;
    return c.html(`<!doctype html>${String(page)}`, 200, { "content-security-policy": CSP, "cache-control": "no-store" });
  });

  app.get("/console/tiles", async (c) => {
    await s.view.ready();
    const grid = s.view.grid();
    const res = html(c, <Tiles entries={entries(c)} />);
    res.headers.set("x-grid-width", String(grid.width));
    res.headers.set("x-grid-height", String(grid.height));
    return res;
  });
  app.get("/console/sources", async (c) => {
    await s.view.ready();
    return html(c, <Sources sources={s.view.sources()} />);
  });
  app.get("/console/entry/:id", async (c) => {
    const item = await itemOr404(s, c.req.param("id"));
    return html(c, <EntryPanel e={s.view.consoleEntry(item, originOf(c))} />);
  });
  app.get("/console/vm/:vm", (c) => {
    const id = c.req.param("vm");
    const v = isVmId(id) ? s.vms.get(id) : undefined;
    if (!v) httpFail("E_NOT_FOUND", `no VM ${id.slice(0, 40)}`);
    return html(c, <VmCard v={v} />);
  });
}
