/**
 * Text from a server or a container, made safe to print on a terminal. A name holding ESC can
 * move the cursor, recolour or retitle the terminal (OSC), a bare CR can overwrite a row so a
 * failed item looks "verified", and bidi overrides reorder what is shown. Every such character
 * is replaced by a visible escape: `\x1b` for C0, DEL and C1; `\u202e` for the Unicode
 * format characters listed below. JSON output keeps exact values (see `safeJson`).
 */

// C0 (incl. TAB, LF, CR, ESC, BEL), DEL, C1; ALM, LRM/RLM, line/paragraph separators, the bidi
// embeddings/overrides (U+202A–202E) and isolates (U+2066–2069); and the invisible ones that make
// two names look alike: zero-width space/joiners (U+200B–200D), word joiner and invisible
// operators (U+2060–2064), the BOM (U+FEFF).
const CONTROLS = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/g;
// What JSON.stringify leaves raw (it escapes C0 itself).
const RAW_IN_JSON = /[\u007f-\u009f\u061c\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/g;
const CONTROL_TEST = new RegExp(CONTROLS.source);

const hex = (c: string, digits: number) => c.charCodeAt(0).toString(16).padStart(digits, "0");
const visible = (c: string) => (c.charCodeAt(0) <= 0xff ? `\\x${hex(c, 2)}` : `\\u${hex(c, 4)}`);

/** One field for people (a name, an id, a message): every control character made visible. */
export function safeText(value: unknown): string {
  return String(value).replace(CONTROLS, visible);
}

/** Multi-line human output: like safeText, but a line feed stays a line feed. */
export function safeLines(text: string): string {
  return text.replace(CONTROLS, (c) => (c === "\n" ? c : visible(c)));
}

/**
 * JSON text for a terminal: characters JSON.stringify leaves raw (C1, bidi controls) become
 * `\uXXXX` escapes. They can only occur inside JSON strings, so the parsed values are exactly
 * the same.
 */
export function safeJson(text: string): string {
  return text.replace(RAW_IN_JSON, (c) => `\\u${hex(c, 4)}`);
}

export function hasTerminalControls(text: string): boolean {
  return CONTROL_TEST.test(text);
}
