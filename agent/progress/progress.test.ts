import { describe, expect, it } from "vitest";
import { createReporter, renderBar, SpeedMeter, formatDuration } from "./index.js";

describe("progress", () => {
  it("speed is measured over a 3 s sliding window", () => {
    const m = new SpeedMeter(3000);
    m.add(0, 0);
    m.add(1000, 100_000_000); // fast first second
    m.add(4000, 130_000_000);
    m.add(7000, 160_000_000);
    expect(m.rate()).toBe(10_000_000); // only the last 3 s count
    expect(m.eta(50_000_000)).toBe(5);
  });

  it("--json prints throttled NDJSON progress with speed and ETA, and every other event", () => {
    let now = 0;
    const lines: string[] = [];
    const r = createReporter({ mode: "json", out: (l) => lines.push(l), now: () => now, intervalMs: 500 });
    r({ event: "start", ref: "x", url: "u", size: 1000, sha256: "a", resume_from: 0 });
    for (let i = 1; i <= 10; i++) {
      now = i * 100;
      r({ event: "progress", ref: "x", bytes: i * 100, total: 1000 });
    }
    r({ event: "retry", ref: "x", attempt: 1, of: 3, delay_ms: 1000, code: "E_NETWORK", reason: "reset" });
    const ev = lines.map((l) => JSON.parse(l));
    expect(ev.map((e) => e.event)).toEqual(["start", "progress", "progress", "progress", "retry"]);
    const last = ev[3];
    expect(last).toMatchObject({ bytes: 1000, total: 1000, speed: 1000, eta_s: 0 });
  });

  it("plain mode (not a TTY) prints only one-line notes and the result", () => {
    const out: string[] = [];
    const err: string[] = [];
    const r = createReporter({ mode: "plain", out: (l) => out.push(l), err: (l) => err.push(l) });
    r({ event: "progress", ref: "x", bytes: 1, total: 2 });
    r({ event: "retry", ref: "x", attempt: 1, of: 3, delay_ms: 1200, code: "E_SERVER", reason: "GET u → 503" });
    r({ event: "done", ref: "x", sha256: "ab", size: 2, path: "/p", from_cache: false });
    expect(err).toEqual(["pixelrts: x: GET u → 503; retry 1/3 in 1.2 s"]);
    expect(out.join("\n")).toContain("/p");
  });

  it("the bar shows percent, speed and ETA", () => {
    const line = renderBar({ ref: "alpine", bytes: 450, total: 1000, speed: 2_000_000, eta_s: 75 }, 100);
    expect(line).toMatch(/alpine +\[#+\.+\] +45% +450 B of 1.00 kB +2.00 MB\/s +ETA 1:15/);
    expect(formatDuration(3725)).toBe("1:02:05");
  });
});
