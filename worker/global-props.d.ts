// Tells `cloudflare:workers` what the main module exports, so tests can call
// `exports.default.fetch` with full types (wrangler 4.86's `wrangler types` does not emit this).
declare namespace Cloudflare {
  interface GlobalProps {
    mainModule: typeof import("./index");
  }
}
