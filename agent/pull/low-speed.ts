import { PixelRtsError } from "../../shared/errors.js";

export interface LowSpeedLimit {
  /** Average bytes per second a body must keep up (0: no limit). */
  bytesPerSecond: number;
  /** Over this window (0: no limit). */
  windowMs: number;
}

/** Samples per window: a slowdown is noticed within windowMs·(1 + 1/SAMPLES) of its start. */
const SAMPLES = 4;

/**
 * curl's --speed-limit/--speed-time for one response body: `received(n)` counts bytes as they
 * arrive; if fewer than bytesPerSecond·windowMs/1000 arrive in any window (sampled every
 * windowMs/SAMPLES, starting when the body starts), `onTrip` gets an E_TOO_SLOW error once.
 * A 1 byte/s drip never lets the body idle timeout fire; this ends it. `stop()` when done.
 */
export class LowSpeedGuard {
  private total = 0;
  private readonly samples: number[] = [0];
  private readonly timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly limit: LowSpeedLimit,
    private readonly where: string,
    onTrip: (err: PixelRtsError) => void,
  ) {
    if (limit.bytesPerSecond <= 0 || limit.windowMs <= 0) return;
    const need = (limit.bytesPerSecond * limit.windowMs) / 1000;
    this.timer = setInterval(() => {
      this.samples.push(this.total);
      if (this.samples.length <= SAMPLES) return; // not a whole window yet
      const got = this.total - this.samples.shift()!; // bytes in the last SAMPLES ticks
      if (got >= need) return;
      this.stop();
      onTrip(this.error(got));
    }, Math.max(1, Math.round(limit.windowMs / SAMPLES)));
    this.timer.unref();
  }

  received(n: number): void {
    this.total += n;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  private error(got: number): PixelRtsError {
    const s = this.limit.windowMs / 1000;
    return new PixelRtsError(
      "E_TOO_SLOW",
      `${this.where} sent ${got} bytes in the last ${s} s, below the low-speed limit of ${this.limit.bytesPerSecond} bytes/s (PIXELRTS_LOW_SPEED_BYTES / PIXELRTS_LOW_SPEED_MS)`,
      { bytes: got, windowMs: this.limit.windowMs, limitBytesPerSecond: this.limit.bytesPerSecond },
    );
  }
}
