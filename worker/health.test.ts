import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";

describe("GET /api/v1/health", () => {
  it("answers ok as JSON, as original v1.2 clients expect", async () => {
    const res = await exports.default.fetch("http://edge.test/api/v1/health");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    const body = await res.json<{ status: string }>();
    expect(body.status).toBe("ok");
  });
});
