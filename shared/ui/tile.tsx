/** @jsxImportSource hono/jsx */
/**
 * One catalog entry as a tile: its pixel thumbnail (or its initial), name, facts and source
 * (name and colour). Shared by the Worker's catalog page and the boot host's console; markup
 * only (hono/jsx escapes every value), styling by the page (classes documented in
 * worker/pages/styles.ts). `href` makes the tile a link to the entry's detail page.
 */
import type { FC } from "hono/jsx";
import type { CatalogEntry } from "../catalog.js";
import { formatSize, safeColor, thumbnailSrc } from "./format.js";

export const Thumbnail: FC<{ e: Pick<CatalogEntry, "name" | "thumbnail" | "thumbnail_url">; size: number; alt?: string }> = ({ e, size, alt }) => {
  const src = thumbnailSrc(e);
  return src ? (
    <img class="thumb" src={src} alt={alt ?? ""} width={String(size)} height={String(size)} loading="lazy" decoding="async" />
  ) : (
    <span class="thumb noimg" aria-hidden="true" style={`width:${size}px;height:${size}px`}>
      {(e.name[0] ?? "?").toUpperCase()}
    </span>
  );
};

export const SourceTag: FC<{ name: string; color: string }> = ({ name, color }) => (
  <span class="source-tag" style={`--source:${safeColor(color)}`}>
    <span class="swatch" aria-hidden="true" />
    {name}
  </span>
);

/** The short facts line of a tile: type · distro · arch · size. */
export function tileFacts(e: CatalogEntry): string {
  return [e.type, e.distro, e.architecture, formatSize(e.size)].filter((s): s is string => !!s).join(" · ");
}

export const Tile: FC<{ e: CatalogEntry; href: string }> = ({ e, href }) => (
  <li class="tile" style={`--source:${safeColor(e.source.color)}`}>
    <a class="tile-link" href={href}>
      <Thumbnail e={e} size={96} />
      <span class="tile-name">{e.name}</span>
    </a>
    <span class="tile-facts">{tileFacts(e)}</span>
    <SourceTag name={e.source.name} color={e.source.color} />
    {e.signatures?.length ? (
      <span class="tile-signed" title={`signature envelopes by ${e.signatures.map((s) => s.keyid).join(", ")}`}>
        signed ({e.signatures.length})
      </span>
    ) : null}
  </li>
);
