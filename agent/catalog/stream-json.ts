/**
 * A catalog answer read as it arrives, one entry at a time, in bounded memory.
 *
 * Original PixelRTS catalog servers inline a ~254 KB base64 thumbnail in every entry, so a server
 * with 200 containers answers ~50 MB. Reading that as one string and `JSON.parse` holds it twice
 * (text and parsed) and every thumbnail with it. This parser walks the JSON text incrementally:
 * each element of the top-level `entries` array is handed to `onEntry` as soon as it is complete
 * and then forgotten, and an entry's `thumbnail` string is kept only while the per-source
 * thumbnail budget lasts — past it the string is skipped as it streams (its characters are never
 * stored) and the entry is kept with `thumbnail: ""` (its `thumbnail_url`, when it has one, still
 * leads to the picture).
 *
 * Everything else is bounded too: one string (`maxString`), one entry (`maxEntryChars`), all
 * kept characters (`maxKeptChars`), the number of entries, the nesting depth. Crossing a bound is
 * E_BAD_RESPONSE naming it; a thumbnail over budget is not an error.
 */
import { PixelRtsError } from "../../shared/errors.js";

export interface CatalogStreamOptions {
  /** Thumbnail characters kept in total (0: none). A thumbnail that does not fit is dropped whole. */
  thumbnailBudget: number;
  /** Called with each element of the top-level `entries` array, in order. */
  onEntry: (raw: unknown, index: number) => void;
  /** Longest string kept anywhere else, in characters (default 1 MiB). */
  maxString?: number;
  /** Characters one entry may keep, its thumbnail excluded (default 1 MiB). */
  maxEntryChars?: number;
  /** Characters kept over the whole answer, thumbnails excluded (default 64 Mi). */
  maxKeptChars?: number;
  /** Entries accepted (default 1,000,000). */
  maxEntries?: number;
  /** Deepest nesting accepted (default 64). */
  maxDepth?: number;
}

export interface CatalogStreamResult {
  /** The top-level object without `entries` (grid_dimensions, source, next_cursor, ...). */
  top: Record<string, unknown>;
  entries: number;
  thumbnails: { kept: number; dropped: number; keptChars: number };
}

const enum Role {
  Root,
  Entries,
  Entry,
  Other,
}

interface Frame {
  kind: "obj" | "arr";
  role: Role;
  /** The object or array being built; null for the entries array (its elements are streamed). */
  value: Record<string, unknown> | unknown[] | null;
  key: string | undefined;
  /** Object frames: a key (true) or a value (false) comes next. */
  wantKey: boolean;
  /** Members (object) or elements (array) so far. */
  members: number;
}

const enum State {
  Value,
  AfterValue,
  Colon,
  String,
  Scalar,
  Done,
}

const WS = /[^ \t\n\r]/g;
const STRING_STOP = /["\\]/g;
const SCALAR_START = /[-0-9tfn]/;
const RAW_CONTROL = /[\u0000-\u001f]/;
const SCALAR_END = /[^0-9A-Za-z.+-]/g;
const NUMBER = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$/;
const ESCAPES: Record<string, string> = { '"': '"', "\\": "\\", "/": "/", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" };

function bad(message: string): never {
  throw new PixelRtsError("E_BAD_RESPONSE", `catalog JSON: ${message}`);
}

export class CatalogStreamParser {
  private readonly o: Required<Omit<CatalogStreamOptions, "onEntry">> & Pick<CatalogStreamOptions, "onEntry">;
  private readonly decoder = new TextDecoder("utf-8", { fatal: false });
  private stack: Frame[] = [];
  private state = State.Value;
  private root: unknown = undefined;
  private pending = "";
  // the string being read
  private str = "";
  private strLen = 0;
  private strKeep = true;
  private strIsKey = false;
  private strIsThumb = false;
  private strLimit = 0;
  // the number or literal being read
  private scalar = "";
  private entryIndex = 0;
  private entryChars = 0;
  private keptChars = 0;
  private thumbBudgetLeft: number;
  private thumbs = { kept: 0, dropped: 0, keptChars: 0 };
  private entriesSeen = false;
  /** True while inside an element of the entries array. */
  private inEntry = false;

  constructor(opts: CatalogStreamOptions) {
    this.o = { maxString: 1 << 20, maxEntryChars: 1 << 20, maxKeptChars: 64 << 20, maxEntries: 1_000_000, maxDepth: 64, ...opts };
    this.thumbBudgetLeft = Math.max(0, opts.thumbnailBudget);
  }

  /** Feeds response bytes (UTF-8). */
  write(bytes: Uint8Array): void {
    this.feed(this.decoder.decode(bytes, { stream: true }));
  }

  /** Feeds text. */
  feed(text: string): void {
    const s = this.pending ? this.pending + text : text;
    this.pending = "";
    this.run(s);
  }

  /** Ends the input: the whole answer must have been one object with an `entries` array. */
  end(): CatalogStreamResult {
    const tail = this.decoder.decode();
    if (tail) this.feed(tail);
    if (this.state === State.Scalar) this.finishScalar();
    if (this.pending) bad("ends inside an escape sequence");
    if (this.state === State.String) bad("ends inside a string");
    if (this.stack.length || this.root === undefined) bad("ends before the top-level object is closed");
    if (!this.entriesSeen) bad("has no entries[] array");
    return { top: this.root as Record<string, unknown>, entries: this.entryIndex, thumbnails: { ...this.thumbs } };
  }

  private run(s: string): void {
    let i = 0;
    const n = s.length;
    while (i < n) {
      switch (this.state) {
        case State.String: {
          i = this.readString(s, i);
          break;
        }
        case State.Scalar: {
          SCALAR_END.lastIndex = i;
          const m = SCALAR_END.exec(s);
          const end = m ? m.index : n;
          this.scalar += s.slice(i, end);
          if (this.scalar.length > 64) bad("a number or literal longer than 64 characters");
          i = end;
          if (m) this.finishScalar();
          break;
        }
        case State.Done: {
          WS.lastIndex = i;
          if (WS.exec(s)) bad("has text after the top-level value");
          return;
        }
        default: {
          WS.lastIndex = i;
          const m = WS.exec(s);
          if (!m) return;
          i = m.index;
          i = this.token(s, i);
        }
      }
    }
  }

  /** One structural character (or the start of a string/scalar) at `i`; returns the next index. */
  private token(s: string, i: number): number {
    const ch = s[i]!;
    const top = this.stack[this.stack.length - 1];
    if (this.state === State.Colon) {
      if (ch !== ":") bad(`expected ':' after a key, found ${JSON.stringify(ch)}`);
      this.state = State.Value;
      return i + 1;
    }
    if (this.state === State.AfterValue) {
      if (!top) bad("has more than one top-level value");
      if (ch === ",") {
        if (top.kind === "obj") top.wantKey = true;
        this.state = State.Value;
        return i + 1;
      }
      if ((ch === "}" && top.kind === "obj") || (ch === "]" && top.kind === "arr")) {
        this.close();
        return i + 1;
      }
      bad(`expected ',' or a closing bracket, found ${JSON.stringify(ch)}`);
    }
    // State.Value: a value, or an object key, or an empty container's close
    if (top?.kind === "obj" && top.wantKey) {
      if (ch === "}" && top.members === 0) {
        this.close();
        return i + 1;
      }
      if (ch !== '"') bad(`expected a key, found ${JSON.stringify(ch)}`);
      this.startString(true);
      return i + 1;
    }
    if (ch === "]" && top?.kind === "arr" && top.members === 0) {
      this.close();
      return i + 1;
    }
    if (ch === "{" || ch === "[") {
      this.open(ch === "{" ? "obj" : "arr");
      return i + 1;
    }
    if (ch === '"') {
      this.startString(false);
      return i + 1;
    }
    if (SCALAR_START.test(ch)) {
      this.state = State.Scalar;
      this.scalar = "";
      return i;
    }
    bad(`unexpected ${JSON.stringify(ch)}`);
  }

  private roleOfChild(): Role {
    const top = this.stack[this.stack.length - 1];
    if (!top) return Role.Root;
    if (top.role === Role.Root && top.key === "entries") return Role.Entries;
    if (top.role === Role.Entries) return Role.Entry;
    return Role.Other;
  }

  private open(kind: "obj" | "arr"): void {
    if (this.stack.length >= this.o.maxDepth) bad(`nested deeper than ${this.o.maxDepth} levels`);
    let role = this.roleOfChild();
    if (role === Role.Root && kind !== "obj") bad("the top-level value is not an object");
    if (role === Role.Entries) {
      if (kind !== "arr") role = Role.Other;
      else {
        if (this.entriesSeen) bad("has two entries[] arrays");
        this.entriesSeen = true;
      }
    }
    if (role === Role.Entry) {
      this.entryChars = 0;
      this.inEntry = true;
    }
    this.count(8);
    const value = role === Role.Entries ? null : kind === "obj" ? (Object.create(null) as Record<string, unknown>) : [];
    this.stack.push({ kind, role, value, key: undefined, wantKey: kind === "obj", members: 0 });
    this.state = State.Value;
  }

  private close(): void {
    const f = this.stack.pop()!;
    if (f.role === Role.Entry) this.inEntry = false;
    if (f.role === Role.Entries) {
      const parent = this.stack[this.stack.length - 1]!;
      parent.key = undefined;
      parent.members++;
      this.afterValue();
      return;
    }
    this.attach(f.value);
  }

  /** A finished value goes into its parent (or becomes the root). */
  private attach(v: unknown): void {
    const top = this.stack[this.stack.length - 1];
    if (!top) {
      this.root = v;
      this.state = State.Done;
      return;
    }
    top.members++;
    if (top.kind === "obj") {
      (top.value as Record<string, unknown>)[top.key!] = v;
      top.key = undefined;
    } else if (top.role === Role.Entries) {
      if (this.entryIndex >= this.o.maxEntries) bad(`more than ${this.o.maxEntries} entries`);
      this.o.onEntry(v, this.entryIndex++);
    } else (top.value as unknown[]).push(v);
    this.afterValue();
  }

  private afterValue(): void {
    this.state = this.stack.length ? State.AfterValue : State.Done;
  }

  /** Characters kept: per entry and overall. */
  private count(chars: number): void {
    this.keptChars += chars;
    if (this.keptChars > this.o.maxKeptChars) bad(`keeps more than ${this.o.maxKeptChars} characters (thumbnails aside)`);
    if (this.inEntry) {
      this.entryChars += chars;
      if (this.entryChars > this.o.maxEntryChars) bad(`entry ${this.entryIndex} is larger than ${this.o.maxEntryChars} characters (thumbnail aside)`);
    }
  }

  private startString(isKey: boolean): void {
    const top = this.stack[this.stack.length - 1];
    this.state = State.String;
    this.str = "";
    this.strLen = 0;
    this.strIsKey = isKey;
    this.strIsThumb = !isKey && top?.role === Role.Entry && top.key === "thumbnail";
    this.strKeep = !this.strIsThumb || this.thumbBudgetLeft > 0;
    this.strLimit = isKey ? 1024 : this.strIsThumb ? this.thumbBudgetLeft : this.o.maxString;
  }

  /** Reads string characters from `i`; returns the index after what it consumed. */
  private readString(s: string, i: number): number {
    STRING_STOP.lastIndex = i;
    const m = STRING_STOP.exec(s);
    const stop = m ? m.index : s.length;
    this.take(s, i, stop);
    if (!m) return s.length;
    if (s[stop] === '"') {
      this.finishString();
      return stop + 1;
    }
    // a backslash: the escape may be cut by the chunk boundary
    const e = s[stop + 1];
    if (e === undefined) {
      this.pending = s.slice(stop);
      return s.length;
    }
    if (e === "u") {
      const hex = s.slice(stop + 2, stop + 6);
      if (hex.length < 4) {
        this.pending = s.slice(stop);
        return s.length;
      }
      if (!/^[0-9a-fA-F]{4}$/.test(hex)) bad("a bad \\u escape");
      this.append(String.fromCharCode(parseInt(hex, 16)));
      return stop + 6;
    }
    const ch = ESCAPES[e];
    if (ch === undefined) bad(`a bad escape \\${e}`);
    this.append(ch);
    return stop + 2;
  }

  /** Raw text of the string (no escapes): a raw control character makes it invalid JSON. */
  private take(s: string, from: number, to: number): void {
    if (to <= from) return;
    const part = s.slice(from, to);
    if (this.strKeep && RAW_CONTROL.test(part)) bad("a raw control character inside a string");
    this.append(part);
  }

  private append(part: string): void {
    this.strLen += part.length;
    if (!this.strKeep) return;
    if (this.strLen > this.strLimit) {
      if (this.strIsThumb) {
        // Over the budget: drop it whole, keep reading past it.
        this.strKeep = false;
        this.str = "";
        return;
      }
      bad(this.strIsKey ? "a key longer than 1024 characters" : `a string longer than ${this.o.maxString} characters`);
    }
    this.str += part;
  }

  private finishString(): void {
    const value = this.strKeep ? this.str : "";
    this.str = "";
    this.state = State.Value;
    if (this.strIsKey) {
      const top = this.stack[this.stack.length - 1]!;
      top.key = value;
      top.wantKey = false;
      this.count(value.length);
      this.state = State.Colon;
      return;
    }
    if (this.strIsThumb) {
      if (this.strKeep && this.strLen > 0) {
        this.thumbBudgetLeft -= this.strLen;
        this.thumbs.kept++;
        this.thumbs.keptChars += this.strLen;
      } else if (this.strLen > 0) this.thumbs.dropped++;
    } else this.count(value.length);
    this.attach(value);
  }

  private finishScalar(): void {
    const t = this.scalar;
    this.scalar = "";
    this.state = State.Value;
    let v: unknown;
    if (t === "true") v = true;
    else if (t === "false") v = false;
    else if (t === "null") v = null;
    else if (NUMBER.test(t)) v = Number(t);
    else bad(`not a JSON value: ${JSON.stringify(t.slice(0, 20))}`);
    this.count(8);
    this.attach(v);
  }
}
