/**
 * Incremental parsing of a remote catalog (`{"entries":[…], …}` or a bare `[…]`) from its byte
 * stream, in bounded memory whatever its size: only one entry's text is held at a time, and an
 * entry's inline `thumbnail` is kept only while the source's thumbnail budget lasts (after that
 * the entry is kept with `thumbnail: ""`). Original catalog servers inline ~254 KB thumbnails,
 * so 200 entries are ~50 MB: read through, they cost ~budget + 200 small entries here.
 *
 * Bounds: `maxBytes` read (then E_REMOTE_TOO_LARGE), `maxEntries` kept (the rest is not read),
 * `maxEntryChars` per entry without its thumbnail (bigger entries are skipped, not buffered).
 * Structure outside the entries array is checked as it is skipped; each entry is parsed with
 * JSON.parse (a malformed one fails the source: E_REMOTE_INVALID). Runtime-neutral (Web streams).
 */

export class RemoteParseError extends Error {
  constructor(
    readonly code: "E_REMOTE_TOO_LARGE" | "E_REMOTE_INVALID",
    message: string,
  ) {
    super(message);
  }
}

export interface ParseLimits {
  maxBytes: number;
  maxEntries: number;
  /** Characters of inline thumbnails kept for this source in total. */
  thumbnailBudget: number;
  /** Largest entry (without its thumbnail), characters. */
  maxEntryChars: number;
}

export interface ParseStats {
  bytes: number;
  entries: number;
  /** Entries whose inline thumbnail was dropped (budget spent). */
  thumbnailsDropped: number;
  /** Entries skipped for being larger than maxEntryChars. */
  oversized: number;
  /** Largest number of characters held for one entry (memory check in tests). */
  maxHeldChars: number;
}

const invalid = (why: string): never => {
  throw new RemoteParseError("E_REMOTE_INVALID", `catalog is not valid JSON: ${why}`);
};

const WS = new Set([0x20, 0x09, 0x0a, 0x0d]);
const STRING_STOP = /["\\]/g;

type Mode =
  | "start" // before the top-level value
  | "key" // top-level object: expecting a member name or '}'
  | "keystr" // inside a top-level member name
  | "colon" // after a top-level member name
  | "value" // expecting a top-level member's value
  | "after-value" // after a member's value: ',' or '}'
  | "skip" // skipping a value (a top-level member, or a non-object element)
  | "items" // inside the entries array, between elements
  | "element" // inside one object element
  | "done";

/** Feeds decoded text; calls `onEntry` with each parsed object element; resolves with stats. */
export async function parseRemoteCatalog(body: ReadableStream<Uint8Array>, limits: ParseLimits, onEntry: (raw: unknown) => void): Promise<ParseStats> {
  const stats: ParseStats = { bytes: 0, entries: 0, thumbnailsDropped: 0, oversized: 0, maxHeldChars: 0 };
  let budget = limits.thumbnailBudget;
  let mode: Mode = "start";
  let sawEntries = false;
  let inString = false;
  let escaped = false;
  // top level
  let key = "";
  let keyIsEntries = false;
  let skipDepth = 0;
  let skipKind: "scalar" | "string" | "container" = "scalar";
  let skipReturn: Mode = "after-value";
  // the current element
  let parts: string[] = [];
  let held = 0;
  let depth = 0;
  let oversized = false;
  let expectKey = false; // at element depth 1: the next string is a member name
  let collectingKey = false;
  let keyBuf = "";
  let lastKey = "";
  let thumb: { parts: string[]; n: number; dropped: boolean } | null = null;

  const hold = (s: string) => {
    if (oversized) return;
    held += s.length;
    if (held > limits.maxEntryChars) {
      oversized = true;
      parts = [];
      return;
    }
    parts.push(s);
  };
  const endElement = () => {
    stats.maxHeldChars = Math.max(stats.maxHeldChars, held);
    if (oversized) stats.oversized++;
    else {
      let raw: unknown;
      try {
        raw = JSON.parse(parts.join(""));
      } catch {
        invalid(`entry ${stats.entries + stats.oversized + 1} is malformed`);
      }
      stats.entries++;
      onEntry(raw);
    }
    parts = [];
    held = 0;
    oversized = false;
    mode = stats.entries >= limits.maxEntries ? "done" : "items";
  };
  const startSkip = (c: number, back: Mode) => {
    skipReturn = back;
    skipDepth = 0;
    skipKind = c === 0x22 ? "string" : c === 0x7b || c === 0x5b ? "container" : "scalar";
    mode = "skip";
  };

  /** Scans one chunk of text; true when nothing more needs to be read. */
  const feed = (text: string): boolean => {
    let i = 0;
    const n = text.length;
    while (i < n && mode !== "done") {
      // ---- strings (element, skip, keystr): to the next quote or backslash at once ----
      if (inString) {
        if (escaped) {
          escaped = false;
          const ch = text[i]!;
          i++;
          if (mode === "element") {
            if (thumb) {
              thumb.n++;
              if (!thumb.dropped) thumb.parts.push(ch);
            } else hold(ch);
          } else if (mode === "keystr") key += ch;
          continue;
        }
        STRING_STOP.lastIndex = i;
        const m = STRING_STOP.exec(text);
        const stop = m ? m.index : n;
        const piece = text.slice(i, stop);
        if (mode === "element") {
          if (thumb) {
            thumb.n += piece.length;
            if (!thumb.dropped) {
              if (thumb.n > budget) {
                thumb.dropped = true;
                thumb.parts = [];
              } else thumb.parts.push(piece);
            }
          } else {
            if (collectingKey && keyBuf.length < 64) keyBuf += piece.slice(0, 64);
            hold(piece);
          }
        } else if (mode === "keystr") {
          key += piece;
          if (key.length > 256) invalid("a member name is too long");
        }
        i = stop;
        if (!m) continue;
        const ch = text[i]!;
        i++;
        if (ch === "\\") {
          escaped = true;
          if (mode === "element") {
            if (!thumb) hold(ch);
            else if (!thumb.dropped) thumb.parts.push(ch);
          } else if (mode === "keystr") key += ch;
          continue;
        }
        inString = false; // the closing quote
        if (mode === "element") {
          if (thumb) {
            if (thumb.dropped) {
              stats.thumbnailsDropped++;
              hold('"');
            } else {
              budget -= thumb.n;
              for (const p of thumb.parts) parts.push(p); // counted against the budget, not the entry cap
              parts.push('"');
            }
            thumb = null;
          } else {
            hold('"');
            if (collectingKey) {
              collectingKey = false;
              lastKey = keyBuf;
            }
          }
        } else if (mode === "keystr") {
          keyIsEntries = key === "entries";
          key = "";
          mode = "colon";
        } else if (mode === "skip" && skipKind === "string") mode = skipReturn;
        continue;
      }
      const c = text.charCodeAt(i);
      // ---- one object element ----
      if (mode === "element") {
        i++;
        if (c === 0x22) {
          inString = true;
          hold('"');
          if (depth === 1 && expectKey) {
            collectingKey = true;
            keyBuf = "";
            expectKey = false;
          } else if (depth === 1 && lastKey === "thumbnail") thumb = { parts: [], n: 0, dropped: false };
          continue;
        }
        hold(text[i - 1]!);
        if (c === 0x7b || c === 0x5b) {
          depth++;
        } else if (c === 0x7d || c === 0x5d) {
          depth--;
          if (depth === 0) endElement();
        } else if (depth === 1 && c === 0x2c) {
          expectKey = true;
          lastKey = "";
        }
        continue;
      }
      // ---- skipping a value ----
      if (mode === "skip") {
        if (skipKind === "scalar") {
          if (c === 0x2c || c === 0x7d || c === 0x5d || WS.has(c)) mode = skipReturn; // not consumed
          else i++;
          continue;
        }
        if (skipKind === "string") {
          // the opening quote
          inString = true;
          i++;
          continue;
        }
        i++;
        if (c === 0x22) inString = true;
        else if (c === 0x7b || c === 0x5b) skipDepth++;
        else if (c === 0x7d || c === 0x5d) {
          skipDepth--;
          if (skipDepth === 0) mode = skipReturn;
        }
        continue;
      }
      if (WS.has(c)) {
        i++;
        continue;
      }
      i++;
      switch (mode) {
        case "start":
          if (c === 0x7b) mode = "key";
          else if (c === 0x5b) {
            sawEntries = true;
            mode = "items";
          } else invalid("expected an object or an array");
          break;
        case "key":
          if (c === 0x7d) mode = "done";
          else if (c === 0x22) {
            mode = "keystr";
            inString = true;
            key = "";
          } else invalid("expected a member name");
          break;
        case "colon":
          if (c !== 0x3a) invalid("expected ':'");
          mode = "value";
          break;
        case "value":
          if (keyIsEntries && c === 0x5b) {
            sawEntries = true;
            mode = "items";
          } else {
            if (keyIsEntries) invalid("entries is not an array");
            i--;
            startSkip(c, "after-value");
          }
          break;
        case "after-value":
          if (c === 0x2c) mode = "key";
          else if (c === 0x7d) mode = "done";
          else invalid("expected ',' or '}'");
          break;
        case "items":
          if (c === 0x5d) mode = "done"; // the end of the entries (the rest of an object is not needed)
          else if (c === 0x2c) {
            // between elements
          } else if (c === 0x7b) {
            mode = "element";
            depth = 1;
            expectKey = true;
            lastKey = "";
            parts = ["{"];
            held = 1;
          } else {
            i--;
            startSkip(c, "items"); // not an object: never an entry (normalizeRemoteEntry would drop it)
          }
          break;
      }
    }
    return mode === "done";
  };

  const reader = body.getReader();
  const decoder = new TextDecoder();
  let finished = false;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      stats.bytes += value.length;
      if (stats.bytes > limits.maxBytes) throw new RemoteParseError("E_REMOTE_TOO_LARGE", `catalog exceeds the ${limits.maxBytes}-byte limit`);
      if (feed(decoder.decode(value, { stream: true }))) {
        finished = true;
        break;
      }
    }
    if (!finished) feed(decoder.decode());
  } finally {
    await reader.cancel().catch(() => {});
  }
  if (!sawEntries) invalid("no entries array");
  if ((mode as Mode) !== "done") invalid("the document ends early");
  return stats;
}
