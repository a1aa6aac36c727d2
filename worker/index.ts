import { Hono } from "hono";

/** The Worker's Hono app; `export default` is what workerd and the tests call. */
const app = new Hono<{ Bindings: Env }>();

app.get("/api/v1/health", (c) => c.json({ status: "ok", service: "pixelrts-edge", version: 1 }));

export default app;
