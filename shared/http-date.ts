/**
 * HTTP-dates (RFC 9110 §5.6.7), parsed strictly and the same way by the Worker (conditional
 * requests) and the agent (Retry-After): anything that is not one of the three forms is null,
 * so an invalid date is ignored, never acted on.
 */

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
