/**
 * Pure helpers for pages that show catalog entries (the Worker's catalog page, the boot host's
 * console): sizes, colours safe for CSS, thumbnail sources, which entries are bootable, and the
 * `pixelrts` command lines for an entry. Runtime-neutral: no I/O, no platform API.
 */
import type { CatalogEntry, SourceInfo } from "../catalog.js";

const UNITS = ["B", "kB", "MB", "GB", "TB"];

/** 1234567 → "1.2 MB" (powers of 1000, like the CLI's tables). */
export function formatSize(n: number): string {
  let v = n;
  let u = 0;
  while (v >= 1000 && u < UNITS.length - 1) {
    v /= 1000;
    u++;
  }
  return u === 0 ? `${v} B` : `${v >= 100 ? v.toFixed(0) : v.toFixed(1)} ${UNITS[u]}`;
}

const HEX_COLOR = /^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$/;

/** A source colour from config or a remote server lands in CSS: only a hex colour gets through. */
export function safeColor(c: string | null | undefined): string {
  return c && HEX_COLOR.test(c) ? c : "#808080";
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** The image source of an entry's thumbnail: its inline PNG as a data: URL, else an http(s) URL, else null. */
export function thumbnailSrc(e: Pick<CatalogEntry, "thumbnail" | "thumbnail_url">): string | null {
  if (e.thumbnail && BASE64.test(e.thumbnail)) return `data:image/png;base64,${e.thumbnail}`;
  if (e.thumbnail_url && /^https?:\/\//i.test(e.thumbnail_url)) return e.thumbnail_url;
  return null;
}

const BOOT_TYPES = new Set(["boot-bundle", "kernel", "os", "vm-snapshot"]);

/**
 * Can `pixelrts boot` start this entry? Boot bundles need a kernel segment, VM snapshots a disk;
 * a `kernel` or `os` container is its kernel or disk. Anything else (code, data, unknown types,
 * lists trimmed of their segments) is not offered a boot line: the host would refuse it.
 */
export function isBootable(e: Pick<CatalogEntry, "type" | "segments">): boolean {
  const type = (e.type ?? "").toLowerCase();
  if (!BOOT_TYPES.has(type)) return false;
  if (type === "kernel" || type === "os") return true;
  const has = (what: string) => e.segments.some((s) => s.type === what || s.name === what);
  return type === "boot-bundle" ? has("kernel") : has("disk");
}

/** Arguments as a POSIX shell word: bare when safe, else single-quoted. */
export function shellWord(s: string): string {
  return /^[A-Za-z0-9._:/@%+=-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

export interface EntryCommands {
  serversAdd: string;
  pull: string;
  /** Null when the entry is not bootable. */
  boot: string | null;
}

/**
 * The command lines a person copies to use an entry: add the server that lists it (its own
 * source's URL, or `serverUrl` when that is unknown), then pull or boot it by id.
 */
export function entryCommands(e: Pick<CatalogEntry, "id" | "type" | "segments"> & { source: SourceInfo }, serverUrl: string): EntryCommands {
  const url = /^https?:\/\//i.test(e.source.url) ? e.source.url : serverUrl;
  const id = shellWord(e.id);
  return {
    serversAdd: `pixelrts servers add ${shellWord(url)}`,
    pull: `pixelrts pull ${id}`,
    boot: isBootable(e) ? `pixelrts boot ${id}` : null,
  };
}
