export { ensureCached, parseRef, type EnsureOptions, type EnsureResult } from "./ensure.js";
export { pullToCache, type PullTarget, type PullResult, type PullOptions } from "./pull.js";
export { downloadVerified, downloadKey, type DownloadTarget, type DownloadResult, type DownloadDeps } from "./download.js";
export { parseReprDigest, parseHexDigest, digestFromUrl, reconcileDigests } from "./digest.js";
export { createHasher, resolveHashMode, type Hasher, type HashMode } from "./hasher.js";
