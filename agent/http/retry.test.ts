import { describe, expect, it } from "vitest";
import { PixelRtsError } from "../../shared/errors.js";
import { isRetryable, isRetryableStatus, parseRetryAfter, retryDelay, statusError, toHttpError, withRetry } from "./retry.js";

const policy = { retries: 3, baseMs: 1000, maxMs: 10_000, jitterMs: 500 };

describe("retry policy", () => {
  it("retries 408, 429 and 5xx, never other 4xx", () => {
    expect([408, 429, 500, 502, 503, 504, 599].every(isRetryableStatus)).toBe(true);
    expect([400, 401, 403, 404, 410, 412, 416, 451].some(isRetryableStatus)).toBe(false);
    expect(statusError("GET", "u", 404, "").code).toBe("E_HTTP");
    expect(statusError("GET", "u", 503, "").code).toBe("E_SERVER");
  });

  it("backs off 1 s, 2 s, 4 s plus 0–500 ms jitter, capped", () => {
    expect([1, 2, 3].map((n) => retryDelay(n, { ...policy, random: () => 0 }))).toEqual([1000, 2000, 4000]);
    expect([1, 2, 3].map((n) => retryDelay(n, { ...policy, random: () => 0.9999 }))).toEqual([1500, 2500, 4500]);
    expect(retryDelay(5, { ...policy, random: () => 0 })).toBe(10_000);
  });

  it("honours Retry-After as a floor, and refuses one above the cap", () => {
    expect(retryDelay(1, { ...policy, random: () => 0 }, 3000)).toBe(3000);
    expect(retryDelay(3, { ...policy, random: () => 0 }, 3000)).toBe(4000);
    expect(retryDelay(1, policy, 60_000)).toBeUndefined();
    expect(parseRetryAfter("7")).toBe(7000);
    expect(parseRetryAfter(new Date(10_000).toUTCString(), 4000)).toBe(6000);
    expect(parseRetryAfter("soon")).toBeUndefined();
  });

  it("maps undici/Node errors to one-line stable codes", () => {
    expect(toHttpError(Object.assign(new Error("x"), { code: "UND_ERR_HEADERS_TIMEOUT" }), "http://h:1/a").code).toBe("E_TIMEOUT");
    expect(toHttpError(Object.assign(new Error("x"), { code: "ECONNREFUSED" }), "http://h:1/a").message).toBe("connection refused by h:1");
    expect(toHttpError(Object.assign(new Error("x"), { code: "UND_ERR_RES_CONTENT_LENGTH_MISMATCH" }), "http://h/a").code).toBe("E_TRUNCATED");
  });

  it("withRetry: retries transient errors, stops on permanent ones, resets the budget on progress", async () => {
    const fast = { retries: 2, baseMs: 1, maxMs: 5, jitterMs: 0 };
    let calls = 0;
    await expect(withRetry(async () => ++calls, fast, { url: "u" })).resolves.toBe(1);
    calls = 0;
    const bug = withRetry(async () => {
      calls++;
      throw new TypeError("x is not a function");
    }, fast, { url: "u" });
    await expect(bug).rejects.toMatchObject({ code: "E_INTERNAL" });
    expect(calls).toBe(1);
    calls = 0;
    const permanent = withRetry(async () => {
      calls++;
      throw new PixelRtsError("E_HTTP", "404");
    }, fast, { url: "u" });
    await expect(permanent).rejects.toMatchObject({ code: "E_HTTP" });
    expect(calls).toBe(1);
    calls = 0;
    const events: number[] = [];
    const flaky = withRetry(async () => {
      calls++;
      throw new PixelRtsError("E_NETWORK", "reset");
    }, fast, { url: "u", onRetry: (e) => events.push(e.attempt) });
    await expect(flaky).rejects.toThrow(/gave up after 2 retries/);
    expect(calls).toBe(3);
    expect(events).toEqual([1, 2]);
    calls = 0;
    const progressing = await withRetry(async (ctx) => {
      calls++;
      if (calls < 6) {
        ctx.progressed();
        throw new PixelRtsError("E_NETWORK", "reset");
      }
      return "done";
    }, fast, { url: "u" });
    expect(progressing).toBe("done");
  });

  it("withRetry: an attempt that failed as too slow never resets the budget, whatever it saved", async () => {
    let calls = 0;
    const events: number[] = [];
    const dripping = withRetry(async (ctx) => {
      calls++;
      ctx.progressed();
      throw new PixelRtsError("E_TOO_SLOW", "below the low-speed limit");
    }, { retries: 2, baseMs: 1, maxMs: 5, jitterMs: 0 }, { url: "u", onRetry: (e) => events.push(e.attempt) });
    await expect(dripping).rejects.toMatchObject({ code: "E_TOO_SLOW", message: expect.stringMatching(/gave up after 2 retries/) });
    expect(calls).toBe(3);
    expect(events).toEqual([1, 2]);
  });

  it("withRetry: aborting ends the wait between attempts with the signal's reason", async () => {
    // aborted as the 60 s wait begins (onRetry is called just before it)
    const slow = { retries: 3, baseMs: 60_000, maxMs: 60_000, jitterMs: 0 };
    const ctl = new AbortController();
    const deadline = new PixelRtsError("E_PULL_TIMEOUT", "deadline");
    const fail = async () => {
      throw new PixelRtsError("E_NETWORK", "reset");
    };
    await expect(withRetry(fail, slow, { url: "u", signal: ctl.signal, onRetry: () => ctl.abort(deadline) })).rejects.toBe(deadline);
    const plain = new AbortController();
    await expect(withRetry(fail, slow, { url: "u", signal: plain.signal, onRetry: () => plain.abort() })).rejects.toMatchObject({ code: "E_INTERRUPTED" });
  });

  it("redirect refusals and the deadline are not retryable; a drip is", () => {
    expect(isRetryable(new PixelRtsError("E_TOO_SLOW", "x"))).toBe(true);
    for (const code of ["E_BAD_URL", "E_TOO_MANY_REDIRECTS", "E_PULL_TIMEOUT"] as const) expect(isRetryable(new PixelRtsError(code, "x"))).toBe(false);
  });
});
