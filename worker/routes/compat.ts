/**
 * Routes the original PixelRTS v1.2 browser client calls that have no better-named twin here
 * (`/api/v1/catalog/{id}` and `/api/v1/catalog/{id}/data` live in catalog.ts).
 */
import { Hono } from "hono";
import { serveContainer } from "./containers";

export const compatRoutes = new Hono<{ Bindings: Env }>();

/** `GET|HEAD /api/container/{id}/download`, revalidated by the client with If-None-Match. */
compatRoutes.get("/api/container/:id/download", (c) => serveContainer(c, c.req.param("id")));
