import type { ErrorCode } from "../../shared/errors.js";

/**
 * The one table from error codes to process exit statuses. Scripts can rely on these:
 * 2 = the command line was wrong, 3 = bytes are damaged or failed an integrity check, 4 = a server or the
 * network failed us, 1 = anything else the message explains.
 */
const EXIT_BY_CODE: Record<string, number> = {
  E_USAGE: 2,
  // Stopped by Ctrl-C/SIGTERM: the shell convention 128 + SIGINT.
  E_INTERRUPTED: 130,
  E_HASH_MISMATCH: 3,
  E_SEGMENT_HASH_MISMATCH: 3,
  E_DIGEST_MISMATCH: 3,
  E_SIGNATURE_INVALID: 3,
  E_PNG_CRC: 3,
  E_PNG_CORRUPT: 3,
  E_DECOMPRESS: 3,
  E_SEGMENT_BOUNDS: 3,
  E_SIZE_EXCEEDS_GRID: 3,
  // A container whose metadata breaks the format or the boot-settings grammar: damaged or hostile bytes.
  E_METADATA_INVALID: 3,
  E_NETWORK: 4,
  E_TIMEOUT: 4,
  E_HTTP: 4,
  E_SERVER: 4,
  // agent: servers, catalogs, pull, cache
  E_BAD_URL: 2,
  E_BAD_NAME: 2,
  // publish
  E_AUTH: 4,
  E_PUBLISH_REJECTED: 4,
  E_SERVER_UNKNOWN: 2,
  E_AMBIGUOUS: 2,
  E_DIGEST_UNKNOWN: 3,
  E_SIZE_MISMATCH: 3,
  E_NOT_PNG: 3,
  E_BAD_CONTENT_TYPE: 4,
  E_BAD_RESPONSE: 4,
  E_TRUNCATED: 4,
  E_OFFLINE: 4,
  // signatures (docs/TRUST.md): refused containers are integrity failures
  E_UNSIGNED: 3,
  E_UNTRUSTED_KEY: 3,
  E_SIGNATURE_MISMATCH: 3,
  E_ROLLBACK: 3,
  E_BAD_KEY: 2,
  E_KEY_EXISTS: 2,
  E_KEY_UNKNOWN: 2,
  E_TRUST_EXISTS: 2,
  // a listed container its server serves no bytes for
  E_NO_BYTES: 4,
  // pulls that must end, and redirects that are refused
  E_PULL_TIMEOUT: 4,
  E_TOO_SLOW: 4,
  E_TOO_MANY_REDIRECTS: 4,
};

export function exitCodeFor(code: ErrorCode | undefined): number {
  return (code && EXIT_BY_CODE[code]) || 1;
}
