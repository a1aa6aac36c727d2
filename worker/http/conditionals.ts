/**
 * Conditional requests (RFC 9110 §13.2.2), evaluated by the Worker against the object's
 * validators so it can choose 304 or 412 (R2's `onlyIf` cannot tell a failed If-Match from a
 * failed If-None-Match). Precedence: If-Match, else If-Unmodified-Since → 412; If-None-Match,
 * else If-Modified-Since (GET/HEAD) → 304 (412 for other methods). If-Range is separate:
 * `ifRangeAllows` says whether a Range may be honoured.
 */
import { parseHttpDate } from "../../shared/http-date";

export interface Validators {
  /** Strong entity tag, quoted (`"abc"`). */
  etag: string;
  /** Absent for representations without a date (JSON answers): date preconditions are then ignored. */
  lastModified?: Date;
  /** False where Last-Modified may stay put while the content changes: If-Range dates then never match. */
  dateIsStrong?: boolean;
}

export type ConditionalOutcome = "proceed" | "not-modified" | "precondition-failed";

interface HeaderSource {
  get(name: string): string | null | undefined;
}

interface EntityTag {
  weak: boolean;
  opaque: string;
}

/** Parses `"a", W/"b"` into tags; `*` gives `"*"`; junk is skipped. */
export function parseEtagList(value: string): EntityTag[] | "*" {
  if (value.trim() === "*") return "*";
  const tags: EntityTag[] = [];
  const re = /(W\/)?("[^"]*")/g;
  for (let m = re.exec(value); m; m = re.exec(value)) tags.push({ weak: !!m[1], opaque: m[2]! });
  return tags;
}

function parseTag(etag: string): EntityTag {
  const weak = etag.startsWith("W/");
  return { weak, opaque: weak ? etag.slice(2) : etag };
}

function strongMatch(list: EntityTag[] | "*", current: EntityTag): boolean {
  if (list === "*") return true;
  return !current.weak && list.some((t) => !t.weak && t.opaque === current.opaque);
}

function weakMatch(list: EntityTag[] | "*", current: EntityTag): boolean {
  if (list === "*") return true;
  return list.some((t) => t.opaque === current.opaque);
}

const seconds = (d: Date) => Math.floor(d.getTime() / 1000);

export function evaluateConditionals(h: HeaderSource, v: Validators, method: string): ConditionalOutcome {
  const current = parseTag(v.etag);
  const lm = v.lastModified ? seconds(v.lastModified) : null;
  const ifMatch = h.get("if-match");
  if (ifMatch != null) {
    if (!strongMatch(parseEtagList(ifMatch), current)) return "precondition-failed";
  } else {
    const ius = parseHttpDate(h.get("if-unmodified-since"));
    if (ius !== null && lm !== null && lm > ius) return "precondition-failed";
  }
  const safe = method === "GET" || method === "HEAD";
  const ifNoneMatch = h.get("if-none-match");
  if (ifNoneMatch != null) {
    if (weakMatch(parseEtagList(ifNoneMatch), current)) return safe ? "not-modified" : "precondition-failed";
  } else if (safe) {
    const ims = parseHttpDate(h.get("if-modified-since"));
    if (ims !== null && lm !== null && lm <= ims) return "not-modified";
  }
  return "proceed";
}

/**
 * May a `Range` be honoured given `If-Range`? True without If-Range. An entity tag must match
 * strongly; a date must equal Last-Modified exactly. Anything else → false (send the whole 200).
 */
export function ifRangeAllows(h: HeaderSource, v: Validators): boolean {
  const ifRange = h.get("if-range")?.trim();
  if (!ifRange) return true;
  if (ifRange.startsWith('"') || ifRange.startsWith("W/")) {
    const tag = parseTag(ifRange);
    const current = parseTag(v.etag);
    return !tag.weak && !current.weak && tag.opaque === current.opaque;
  }
  if (v.dateIsStrong === false || !v.lastModified) return false;
  const d = parseHttpDate(ifRange);
  return d !== null && d === seconds(v.lastModified);
}

/** True when the request carries any precondition header (used to skip work on the plain path). */
export function hasConditionals(h: HeaderSource): boolean {
  return ["if-match", "if-none-match", "if-modified-since", "if-unmodified-since", "if-range"].some((n) => h.get(n) != null);
}
