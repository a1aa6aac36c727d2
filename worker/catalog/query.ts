/** Query parameters of the catalog routes: filters (shared/catalog.ts), `limit`, `cursor`, `sort`, `thumbnails`. */
import { type CatalogFilter, parseCatalogFilter } from "../../shared/catalog";
import type { SortKey } from "../db/read";
import { httpFail } from "../errors";

export interface CatalogQuery {
  filter: CatalogFilter;
  /** 1–1000; undefined = every entry in one response (what original clients expect). */
  limit?: number;
  cursor: string | null;
  /** `name` (default: A→Z) or `date` (newest first). */
  sort: SortKey;
  /** Inline base64 thumbnails (`thumbnails=0` turns it off for lighter listings). */
  thumbnails: boolean;
}

export function parseCatalogQuery(url: string): CatalogQuery {
  const params = new URL(url).searchParams;
  const filter = parseCatalogFilter(params);
  for (const [k, v] of Object.entries(filter)) if (v.length > 200) httpFail("E_BAD_REQUEST", `${k} is longer than 200 characters`);
  const sort = params.get("sort") || "name";
  if (sort !== "name" && sort !== "date") httpFail("E_BAD_REQUEST", "sort must be name or date");
  const q: CatalogQuery = { filter, cursor: params.get("cursor") || null, sort, thumbnails: params.get("thumbnails") !== "0" };
  const limit = params.get("limit");
  if (limit !== null && limit !== "") {
    if (!/^\d+$/.test(limit) || Number(limit) < 1 || Number(limit) > 1000) httpFail("E_BAD_REQUEST", "limit must be an integer from 1 to 1000");
    q.limit = Number(limit);
  }
  return q;
}
