/**
 * PixelRTS Edge Worker: app wiring only. Routes live in routes/*, errors become JSON in
 * errors.ts (the only place), config is typed in config.ts. Route table: docs/WORKER.md.
 */
import { Hono } from "hono";
import { cors } from "hono/cors";
import { CATALOG_SCHEMA_VERSION } from "../shared/catalog";
import { getConfig } from "./config";
import { notFound, onError } from "./errors";
import { drainBody } from "./http/body";
import { adminRoutes } from "./routes/admin";
import { catalogRoutes } from "./routes/catalog";
import { homeRoutes } from "./routes/home";
import { compatRoutes } from "./routes/compat";
import { containerRoutes } from "./routes/containers";
import { multipartRoutes } from "./routes/multipart";
import { publishRoutes } from "./routes/publish";
import { cronReindex } from "./reindex";
import { remoteRoutes } from "./routes/remote";
import { signatureRoutes } from "./routes/signatures";
import { storageOf } from "./storage/store";

/** The Worker's Hono app; `export default` is what workerd and the tests call. */
const app = new Hono<{ Bindings: Env }>();

// The drain rule: whatever the route did (answered early, refused, threw), the request body is
// read to its end before the response goes out. Under `wrangler dev` a body left half-read or
// cancelled breaks the next request on the same connection. Bounded by the largest body any
// route accepts (MAX_UPLOAD_BYTES); past that the body is cancelled.
app.use("*", async (c, next) => {
  await next();
  await drainBody(c.req.raw, getConfig(c.env).maxUploadBytes);
});

// Browser clients (the original v1.2 web client included) read catalogs and bytes cross-origin.
app.use(
  "*",
  cors({
    origin: "*",
    allowMethods: ["GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS"],
    allowHeaders: [
      "Authorization",
      "Content-Type",
      "Range",
      "If-Match",
      "If-None-Match",
      "If-Modified-Since",
      "If-Unmodified-Since",
      "If-Range",
      "Cache-Control",
      "X-PixelRTS-SHA256",
      "X-PixelRTS-Size",
      "X-PixelRTS-Distro",
      "X-PixelRTS-Arch",
      "X-PixelRTS-Kernel-Version",
      "X-PixelRTS-Signature",
      "Repr-Digest",
      "Content-Digest",
    ],
    exposeHeaders: [
      "ETag",
      "Last-Modified",
      "Content-Length",
      "Content-Range",
      "Accept-Ranges",
      "Cache-Control",
      "Repr-Digest",
      "X-PixelRTS-SHA256",
      "X-PixelRTS-Data-Hash",
      "X-PixelRTS-Data-Size",
    ],
    maxAge: 86400,
  }),
);

app.get("/api/v1/health", (c) => c.json({ status: "ok", service: "pixelrts-edge", version: 1, schema_version: CATALOG_SCHEMA_VERSION }));

app.route("/", homeRoutes);
app.route("/", catalogRoutes);
app.route("/", remoteRoutes);
app.route("/", signatureRoutes);
app.route("/", containerRoutes);
app.route("/", compatRoutes);
app.route("/", publishRoutes);
app.route("/", multipartRoutes);
app.route("/", adminRoutes);

app.onError(onError);
app.notFound(notFound);

/**
 * The cron (`[triggers] crons` in wrangler.toml): a few bounded reindex steps per run, resuming
 * where the last run stopped, so the index converges on R2 even after a failed index write.
 */
async function scheduled(_controller: ScheduledController, env: Env, ctx: ExecutionContext): Promise<void> {
  ctx.waitUntil(
    cronReindex(storageOf(env)).then(
      (r) => console.log(`reindex cron: ${r.state.phase}`, JSON.stringify(r.stats)),
      (e) => console.error("reindex cron failed", e),
    ),
  );
}

/** What workerd calls: the Hono app's fetch, and the cron. */
export default { fetch: app.fetch, request: app.request, scheduled } satisfies ExportedHandler<Env> & { request: typeof app.request };
