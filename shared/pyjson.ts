/**
 * JSON exactly as Python's `json.dumps(obj, separators=(',', ':'))` writes it (spec §1), and
 * an order-preserving parser. JS objects move integer-like keys ("0") first, so documents are
 * held as `Map`s: parse → modify → dump keeps every byte the original would have written.
 */
import { fail } from "./errors.js";

/** A Python float: dumped with float repr even when integral (`1.0`). */
export class PyFloat {
  constructor(readonly value: number) {}
}

export type PyDict = Map<string, PyValue>;
export type PyValue = null | boolean | number | bigint | string | PyFloat | PyValue[] | PyDict;

/** Python's `repr(float)`: shortest round-trip digits; exponent form below 1e-4 and from 1e16. */
export function pyFloatRepr(x: number): string {
  if (!Number.isFinite(x)) fail("E_METADATA_INVALID", `cannot write ${x} in metadata: Python would emit non-standard JSON`);
  if (x === 0) return Object.is(x, -0) ? "-0.0" : "0.0";
  const sign = x < 0 ? "-" : "";
  const [mant, expStr] = Math.abs(x).toExponential().split("e") as [string, string];
  const exp = Number(expStr);
  const digits = mant.replace(".", "");
  if (exp < -4 || exp >= 16) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    const e = Math.abs(exp).toString().padStart(2, "0");
    return `${sign}${m}e${exp < 0 ? "-" : "+"}${e}`;
  }
  if (exp < 0) return `${sign}0.${"0".repeat(-exp - 1)}${digits}`;
  if (digits.length <= exp + 1) return `${sign}${digits}${"0".repeat(exp + 1 - digits.length)}.0`;
  return `${sign}${digits.slice(0, exp + 1)}.${digits.slice(exp + 1)}`;
}

const SHORT_ESCAPES: Record<number, string> = { 0x22: '\\"', 0x5c: "\\\\", 0x08: "\\b", 0x09: "\\t", 0x0a: "\\n", 0x0c: "\\f", 0x0d: "\\r" };

/** Python's `ensure_ascii` string escaping, per UTF-16 code unit. */
export function pyString(s: string): string {
  let out = '"';
  let plainFrom = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x20 && c <= 0x7e && c !== 0x22 && c !== 0x5c) continue;
    out += s.slice(plainFrom, i) + (SHORT_ESCAPES[c] ?? `\\u${c.toString(16).padStart(4, "0")}`);
    plainFrom = i + 1;
  }
  return out + s.slice(plainFrom) + '"';
}

export function pyDumps(value: PyValue | Record<string, unknown>): string {
  if (value === null) return "null";
  switch (typeof value) {
    case "boolean":
      return value ? "true" : "false";
    case "number":
      return Number.isInteger(value) ? String(value === 0 ? 0 : value) : pyFloatRepr(value);
    case "bigint":
      return value.toString();
    case "string":
      return pyString(value);
  }
  if (value instanceof PyFloat) return pyFloatRepr(value.value);
  if (Array.isArray(value)) return `[${value.map((v) => pyDumps(v)).join(",")}]`;
  const entries = value instanceof Map ? [...value.entries()] : Object.entries(value);
  return `{${entries.map(([k, v]) => `${pyString(k)}:${pyDumps(v as PyValue)}`).join(",")}}`;
}

/** Plain-JS view for reading fields (floats become numbers, dicts objects). */
export function toPlain(value: PyValue): unknown {
  if (value instanceof Map) return Object.fromEntries([...value].map(([k, v]) => [k, toPlain(v)]));
  if (value instanceof PyFloat) return value.value;
  if (typeof value === "bigint") return Number(value);
  if (Array.isArray(value)) return value.map(toPlain);
  return value;
}

/** Ordered view of a plain JS value (key order as JS enumerates it). */
export function fromPlain(value: unknown): PyValue {
  if (value === null || typeof value === "boolean" || typeof value === "number" || typeof value === "string" || typeof value === "bigint") return value;
  if (value instanceof PyFloat || value instanceof Map) return value as PyValue;
  if (Array.isArray(value)) return value.map(fromPlain);
  if (typeof value === "object") return new Map(Object.entries(value as object).map(([k, v]) => [k, fromPlain(v)]));
  fail("E_METADATA_INVALID", `cannot write a ${typeof value} in metadata`);
}

const MAX_DEPTH = 256;
const SIMPLE_ESCAPES: Record<string, string> = { '"': '"', "\\": "\\", "/": "/", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" };
const NUMBER = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;
const WORDS = [["true", true], ["false", false], ["null", null], ["NaN", NaN], ["Infinity", Infinity], ["-Infinity", -Infinity]] as const;

/** A recursive-descent reader over one JSON text; `i` is the read position. */
class PyJsonReader {
  private i = 0;
  constructor(private readonly text: string) {}

  private err(msg: string): never {
    fail("E_METADATA_INVALID", `metadata is not valid JSON: ${msg} at character ${this.i}`);
  }

  private ws(): void {
    for (;;) {
      const c = this.text.charCodeAt(this.i);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) this.i++;
      else return;
    }
  }

  /** Consumes `ch` if it is next (after whitespace). */
  private eat(ch: string): boolean {
    this.ws();
    if (this.text[this.i] !== ch) return false;
    this.i++;
    return true;
  }

  document(): PyValue {
    const value = this.value(0);
    this.ws();
    if (this.i !== this.text.length) this.err("trailing data");
    return value;
  }

  private value(depth: number): PyValue {
    if (depth > MAX_DEPTH) this.err(`nesting deeper than ${MAX_DEPTH}`);
    this.ws();
    const c = this.text[this.i];
    if (c === "{") return this.object(depth);
    if (c === "[") return this.array(depth);
    if (c === '"') return this.string();
    return this.scalar();
  }

  /** A repeated key keeps its first position and takes the last value, like a Python dict. */
  private object(depth: number): PyDict {
    this.i++; // {
    const map: PyDict = new Map();
    if (this.eat("}")) return map;
    for (;;) {
      this.ws();
      if (this.text[this.i] !== '"') this.err("expected a key");
      const key = this.string();
      if (!this.eat(":")) this.err("expected ':'");
      map.set(key, this.value(depth + 1));
      if (this.eat(",")) continue;
      if (this.eat("}")) return map;
      this.err("expected ',' or '}'");
    }
  }

  private array(depth: number): PyValue[] {
    this.i++; // [
    const arr: PyValue[] = [];
    if (this.eat("]")) return arr;
    for (;;) {
      arr.push(this.value(depth + 1));
      if (this.eat(",")) continue;
      if (this.eat("]")) return arr;
      this.err("expected ',' or ']'");
    }
  }

  private string(): string {
    const { text } = this;
    this.i++; // opening quote
    let out = "";
    let from = this.i;
    for (;;) {
      if (this.i >= text.length) this.err("unterminated string");
      const c = text.charCodeAt(this.i);
      if (c === 0x22) {
        out += text.slice(from, this.i);
        this.i++;
        return out;
      }
      if (c < 0x20) this.err("control character in string");
      if (c !== 0x5c) {
        this.i++;
        continue;
      }
      out += text.slice(from, this.i) + this.escape();
      from = this.i;
    }
  }

  /** The escape at `i` (a backslash), decoded; moves past it. */
  private escape(): string {
    const e = this.text[this.i + 1];
    if (e !== undefined && e in SIMPLE_ESCAPES) {
      this.i += 2;
      return SIMPLE_ESCAPES[e]!;
    }
    if (e !== "u") this.err("bad escape");
    const hex = this.text.slice(this.i + 2, this.i + 6);
    if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.err("bad \\u escape");
    this.i += 6;
    return String.fromCharCode(parseInt(hex, 16));
  }

  /** true/false/null, Python's NaN/Infinity, or a number (integers beyond 2^53 as bigint). */
  private scalar(): PyValue {
    for (const [word, val] of WORDS) {
      if (this.text.startsWith(word, this.i)) {
        this.i += word.length;
        return typeof val === "number" ? new PyFloat(val) : val;
      }
    }
    NUMBER.lastIndex = this.i;
    const m = NUMBER.exec(this.text) ?? this.err("unexpected character");
    this.i += m[0].length;
    if (m[1] !== undefined || m[2] !== undefined) return new PyFloat(Number(m[0]));
    const n = Number(m[0]);
    return Number.isSafeInteger(n) ? n : BigInt(m[0]);
  }
}

/**
 * Order-preserving JSON parser (what Python's json.loads accepts: standard JSON plus NaN and
 * ±Infinity; a repeated key keeps its first position and last value, like a Python dict).
 * Depth is bounded so a hostile document cannot exhaust the stack.
 */
export function pyLoads(text: string): PyValue {
  return new PyJsonReader(text).document();
}
