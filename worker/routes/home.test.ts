import { describe, expect, it } from "vitest";
import { call, makeContainer, publish } from "../test/helpers";

describe("GET / (the page a person opens)", () => {
  it("answers JSON links to API clients", async () => {
    const res = await call("/");
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    expect(await res.json()).toMatchObject({ catalog: expect.stringMatching(/\/api\/v1\/catalog$/) });
  });

  it("lists containers as HTML for browsers, escaping metadata", async () => {
    const f = await makeContainer(2000, { type: "kernel", name: "x", description: '<script>alert("x")</script>' }, 5);
    expect((await publish("page-demo", f)).status).toBe(201);
    const res = await call("/", { headers: { accept: "text/html,application/xhtml+xml" } });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/html/);
    const html = await res.text();
    expect(html).toContain("<h2>page-demo</h2>");
    expect(html).toContain("pixelrts boot page-demo");
    expect(html).toContain("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;");
    expect(html).not.toContain("<script>");
  });
});
