/**
 * One error type for the whole product. Programs match on `code` (stable, documented in
 * README's error table), never on classes or messages; messages are for people.
 * The Worker turns these into JSON responses in one place (worker/errors.ts), the CLI into
 * exit codes in one place (agent/cli/run.ts with the table in agent/cli/exit-codes.ts).
 */
export type ErrorCode = `E_${string}`;

export class PixelRtsError extends Error {
  override readonly name = "PixelRtsError";
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** Machine-readable context (expected/actual digests, offsets, ...). Never secrets. */
    readonly details: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function isPixelRtsError(err: unknown): err is PixelRtsError {
  return err instanceof PixelRtsError || (typeof err === "object" && err !== null && (err as { name?: unknown }).name === "PixelRtsError" && typeof (err as { code?: unknown }).code === "string");
}

/** Shorthand for `throw new PixelRtsError(...)` in expression position. */
export function fail(code: ErrorCode, message: string, details?: Record<string, unknown>, cause?: unknown): never {
  throw new PixelRtsError(code, message, details, cause === undefined ? undefined : { cause });
}
