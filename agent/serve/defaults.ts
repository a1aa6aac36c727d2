/** serve's defaults, apart from its server code so `pixelrts help serve` does not load hono. */
export const DEFAULT_PORT = 8780;
export const DEFAULT_HOST = "127.0.0.1";
/** Shortest PIXELRTS_SERVE_TOKEN accepted. */
export const MIN_TOKEN_LENGTH = 16;
