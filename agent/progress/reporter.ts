import { safeText } from "../cli/terminal.js";
import type { PullEvent } from "./events.js";
import { formatBytes, formatDuration, SpeedMeter } from "./speed.js";

export interface ReporterOptions {
  /** json: NDJSON events on `out`; tty: a redrawn bar on `tty`; plain: one-line notes on `err`. */
  mode: "json" | "tty" | "plain";
  out?: (line: string) => void;
  err?: (line: string) => void;
  /** Raw writes for the bar (no newline added): process.stderr.write on a terminal. */
  tty?: (chunk: string) => void;
  columns?: number;
  now?: () => number;
  /** Minimum ms between two progress lines/redraws (final progress always goes out). */
  intervalMs?: number;
}

export interface Reporter {
  (ev: PullEvent): void;
  /** Clears a half-drawn bar (before an error line). */
  close(): void;
}

/**
 * Turns pull events into output: adds speed (3 s window) and ETA to `progress`, throttles it,
 * and renders per mode. Retries and notes are one line each in every mode.
 */
export function createReporter(opts: ReporterOptions): Reporter {
  const now = opts.now ?? (() => Date.now());
  const interval = opts.intervalMs ?? (opts.mode === "json" ? 500 : 100);
  const meter = new SpeedMeter(3000);
  let lastEmit = -Infinity;
  let barShown = false;
  let lastBytes = 0;

  const clearBar = () => {
    if (barShown) opts.tty?.("\r\x1b[K");
    barShown = false;
  };

  const report = ((ev: PullEvent) => {
    if (ev.event === "start") {
      meter.reset();
      lastEmit = -Infinity;
      meter.add(now(), ev.resume_from);
    }
    if (ev.event === "progress") {
      const t = now();
      if (ev.bytes < lastBytes) meter.reset(); // restarted from 0
      lastBytes = ev.bytes;
      meter.add(t, ev.bytes);
      const final = ev.bytes >= ev.total;
      if (!final && t - lastEmit < interval) return;
      lastEmit = t;
      const speed = meter.rate();
      const eta = meter.eta(ev.total - ev.bytes);
      const full = { ...ev, ...(speed !== undefined ? { speed: Math.round(speed) } : {}), ...(eta !== undefined ? { eta_s: Math.round(eta * 10) / 10 } : {}) };
      if (opts.mode === "json") opts.out?.(JSON.stringify(full));
      else if (opts.mode === "tty") {
        opts.tty?.("\r" + renderBar(full, opts.columns ?? 80) + "\x1b[K");
        barShown = true;
      }
      return;
    }
    if (opts.mode === "json") {
      opts.out?.(JSON.stringify(ev));
      return;
    }
    clearBar();
    const line = describe(ev);
    if (line) (ev.event === "done" ? opts.out : opts.err)?.(line);
  }) as Reporter;
  report.close = clearBar;
  return report;
}

/** `name  [#####.....]  45%  12.3 MB of 27.0 MB  98.1 MB/s  ETA 0:01` fitted to `columns`. */
export function renderBar(ev: { ref: string; bytes: number; total: number; speed?: number; eta_s?: number }, columns: number): string {
  const pct = ev.total > 0 ? Math.min(100, Math.floor((ev.bytes * 100) / ev.total)) : 0;
  const tail = `${String(pct).padStart(3)}%  ${formatBytes(ev.bytes)} of ${formatBytes(ev.total)}  ${ev.speed !== undefined ? formatBytes(ev.speed) + "/s" : "--"}  ETA ${ev.eta_s !== undefined ? formatDuration(ev.eta_s) : "--"}`;
  const ref = safeText(ev.ref);
  const name = ref.length > 24 ? ref.slice(0, 23) + "…" : ref;
  const width = Math.max(10, Math.min(40, columns - tail.length - name.length - 6));
  const filled = Math.round((pct / 100) * width);
  return `${name}  [${"#".repeat(filled)}${".".repeat(width - filled)}]  ${tail}`;
}

/** One line per event for people; every string in it may come from a server, so each is made terminal-safe. */
function describe(ev: PullEvent): string | undefined {
  switch (ev.event) {
    case "retry":
      return `pixelrts: ${safeText(ev.ref)}: ${safeText(ev.reason)}; retry ${ev.attempt}/${ev.of} in ${(ev.delay_ms / 1000).toFixed(1)} s`;
    case "note":
      return `pixelrts: ${safeText(ev.ref)}: ${safeText(ev.message)}`;
    case "done":
      return `${safeText(ev.ref)}: ${ev.from_cache ? "cached" : "pulled"} ${formatBytes(ev.size)} sha256:${safeText(ev.sha256)}${ev.stale ? " (offline: cached copy, not revalidated)" : ""}\n  ${safeText(ev.path)}`;
    default:
      return undefined; // start/verified: the bar and the done line say it
  }
}
