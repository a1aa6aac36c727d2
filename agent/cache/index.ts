export { ContentCache, type CommitInfo } from "./cache.js";
export { CacheLayout, LAYOUT_VERSION } from "./layout.js";
export { type CacheEntry, type CacheSource } from "./entry.js";
export { acquireLock, tryLock, breakLock, isProcessAlive, newLockToken, tokenOwnerIsGone, type HeldLock, type LockInfo, type AcquireOptions } from "./lock.js";
export { gc, verify, clear, evictToBudget, type GcReport, type VerifyReport, type ClearReport, type StepReport } from "./maintenance.js";
export { hashFile, readFileBlocks } from "./hash-file.js";
