/**
 * Conditional requests (RFC 9110 §13.2.2), evaluated by the Worker against the object's
 * validators so it can choose 304 or 412 (R2's `onlyIf` cannot tell a failed If-Match from a
 * failed If-None-Match). Precedence: If-Match, else If-Unmodified-Since → 412; If-None-Match,
 * else If-Modified-Since (GET/HEAD) → 304 (412 for other methods). If-Range is separate:
 * `ifRangeAllows` says whether a Range may be honoured.
 */

export interface Validators {
  /** Strong entity tag, quoted (`"abc"`). */
  etag: string;
  lastModified: Date;
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

const MONTHS = "Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec";
const DAY = "(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)";
const LONG_DAY = "(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)";
const TIME = "(\\d{2}):(\\d{2}):(\\d{2})";
const IMF_FIXDATE = new RegExp(`^${DAY}, (\\d{2}) (${MONTHS}) (\\d{4}) ${TIME} GMT$`);
const RFC850 = new RegExp(`^${LONG_DAY}, (\\d{2})-(${MONTHS})-(\\d{2}) ${TIME} GMT$`);
const ASCTIME = new RegExp(`^${DAY} (${MONTHS}) ([ \\d]\\d) ${TIME} (\\d{4})$`);

/**
 * An HTTP-date (RFC 9110 §5.6.7: IMF-fixdate, or the obsolete RFC 850 and asctime forms) as
 * epoch seconds; null for anything else, so an invalid date is ignored, never acted on.
 */
export function parseHttpDate(value: string | null | undefined): number | null {
  if (!value) return null;
  const v = value.trim();
  let parts: { day: string; mon: string; year: number; time: string[] };
  let m: RegExpExecArray | null;
  if ((m = IMF_FIXDATE.exec(v))) parts = { day: m[1]!, mon: m[2]!, year: Number(m[3]), time: [m[4]!, m[5]!, m[6]!] };
  else if ((m = RFC850.exec(v))) {
    // two-digit years: the nearest year not more than 50 years ahead (RFC 9110 §5.6.7)
    const yy = Number(m[3]);
    parts = { day: m[1]!, mon: m[2]!, year: 2000 + yy > new Date().getUTCFullYear() + 50 ? 1900 + yy : 2000 + yy, time: [m[4]!, m[5]!, m[6]!] };
  } else if ((m = ASCTIME.exec(v))) parts = { day: m[2]!.trim(), mon: m[1]!, year: Number(m[6]), time: [m[3]!, m[4]!, m[5]!] };
  else return null;
  const [hh, mm, ss] = parts.time.map(Number) as [number, number, number];
  const day = Number(parts.day);
  const t = Date.UTC(parts.year, MONTHS.split("|").indexOf(parts.mon), day, hh, mm, ss);
  if (hh > 23 || mm > 59 || ss > 60 || new Date(t).getUTCDate() !== day) return null;
  return Math.floor(t / 1000);
}

const seconds = (d: Date) => Math.floor(d.getTime() / 1000);

export function evaluateConditionals(h: HeaderSource, v: Validators, method: string): ConditionalOutcome {
  const current = parseTag(v.etag);
  const lm = seconds(v.lastModified);
  const ifMatch = h.get("if-match");
  if (ifMatch != null) {
    if (!strongMatch(parseEtagList(ifMatch), current)) return "precondition-failed";
  } else {
    const ius = parseHttpDate(h.get("if-unmodified-since"));
    if (ius !== null && lm > ius) return "precondition-failed";
  }
  const safe = method === "GET" || method === "HEAD";
  const ifNoneMatch = h.get("if-none-match");
  if (ifNoneMatch != null) {
    if (weakMatch(parseEtagList(ifNoneMatch), current)) return safe ? "not-modified" : "precondition-failed";
  } else if (safe) {
    const ims = parseHttpDate(h.get("if-modified-since"));
    if (ims !== null && lm <= ims) return "not-modified";
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
  if (v.dateIsStrong === false) return false;
  const d = parseHttpDate(ifRange);
  return d !== null && d === seconds(v.lastModified);
}

/** True when the request carries any precondition header (used to skip work on the plain path). */
export function hasConditionals(h: HeaderSource): boolean {
  return ["if-match", "if-none-match", "if-modified-since", "if-unmodified-since", "if-range"].some((n) => h.get(n) != null);
}
