/**
 * Transfer speed over a sliding window (v1.2: 3 s), and ETA = remaining ÷ speed.
 * Time is passed in, so it is testable without clocks.
 */
export class SpeedMeter {
  private samples: { t: number; bytes: number }[] = [];
  constructor(private readonly windowMs = 3000) {}

  /** Records the cumulative byte count at time `t` (ms). */
  add(t: number, bytes: number): void {
    this.samples.push({ t, bytes });
    const cutoff = t - this.windowMs;
    // Keep one sample at or before the cutoff so the window is always fully spanned.
    while (this.samples.length > 2 && this.samples[1]!.t <= cutoff) this.samples.shift();
  }

  /** Bytes per second over the window, or undefined before two samples exist. */
  rate(): number | undefined {
    if (this.samples.length < 2) return undefined;
    const a = this.samples[0]!;
    const b = this.samples[this.samples.length - 1]!;
    const dt = b.t - a.t;
    return dt > 0 ? ((b.bytes - a.bytes) * 1000) / dt : undefined;
  }

  /** Seconds left for `remaining` bytes at the current rate, or undefined when unknown. */
  eta(remaining: number): number | undefined {
    const r = this.rate();
    return r && r > 0 ? remaining / r : undefined;
  }

  /** Forget the history (after a restart from 0 the old rate means nothing). */
  reset(): void {
    this.samples = [];
  }
}

/** 1234567 → "1.2 MB" (SI units, as speeds are quoted). */
export function formatBytes(n: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)} ${units[i]}`;
}

/** 75 → "1:15", 3725 → "1:02:05". */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}
