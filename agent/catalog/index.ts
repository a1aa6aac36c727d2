export { fetchServerCatalog, loadCatalogs, sourceOf, streamCatalog, DEFAULT_THUMBNAIL_BUDGET, type ServerCatalog, type CatalogFetchOptions } from "./fetch.js";
export { findInCatalogs, downloadUrlOf, type ResolvedEntry } from "./resolve.js";
export { hybridView, type HybridRow } from "./hybrid.js";
