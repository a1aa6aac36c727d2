/**
 * `Range` parsing (RFC 9110 §14), one policy for the Worker (so R2 only ever gets an explicit,
 * in-bounds `{ offset, length }`: local R2 mishandles raw headers; production R2 throws on an
 * out-of-range request) and for `pixelrts serve`'s file answers.
 *
 * Policy:
 * - one `bytes=` range, incl. open (`N-`) and suffix (`-N`) → a satisfiable range is clipped to the size;
 * - several ranges (`bytes=0-1,5-6`) → ignored: the whole representation with 200 (we do not send
 *   `multipart/byteranges`; clients that need several spans issue several requests);
 * - malformed header, another unit, or last < first → ignored (200), never an error;
 * - syntactically valid but unsatisfiable (first ≥ size, or `-0`, or anything on an empty file) → 416.
 */

export type RangeResult =
  | { type: "none" }
  | { type: "unsatisfiable" }
  | { type: "range"; offset: number; length: number; /** inclusive */ end: number };

const SINGLE = /^bytes[ \t]*=[ \t]*(\d*)[ \t]*-[ \t]*(\d*)[ \t]*$/i;

export function parseRange(header: string | null | undefined, size: number): RangeResult {
  if (!header) return { type: "none" };
  const m = SINGLE.exec(header.trim());
  if (!m) return { type: "none" };
  const [, a = "", b = ""] = m;
  if (a === "" && b === "") return { type: "none" };
  if (a === "") {
    // suffix: the last N bytes
    const n = Number(b);
    if (n === 0 || size === 0) return { type: "unsatisfiable" };
    const length = Math.min(n, size);
    return { type: "range", offset: size - length, length, end: size - 1 };
  }
  const first = Number(a);
  const last = b === "" ? Infinity : Number(b);
  if (last < first) return { type: "none" };
  if (first >= size) return { type: "unsatisfiable" };
  const end = Math.min(last, size - 1);
  return { type: "range", offset: first, length: end - first + 1, end };
}

/** `Content-Range` value for a satisfied range or for a 416 (`bytes *\/N`). */
export function contentRange(r: { offset: number; end: number } | null, size: number): string {
  return r ? `bytes ${r.offset}-${r.end}/${size}` : `bytes */${size}`;
}
