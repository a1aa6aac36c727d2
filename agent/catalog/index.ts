export { fetchServerCatalog, loadCatalogs, sourceOf, type ServerCatalog } from "./fetch.js";
export { findInCatalogs, downloadUrlOf, type ResolvedEntry } from "./resolve.js";
export { hybridView, type HybridRow } from "./hybrid.js";
