// Secrets are not in wrangler.toml, so `wrangler types` does not emit them: declared here.
declare namespace Cloudflare {
  interface Env {
    /** Bearer token for publishing (PUT/DELETE/uploads). `wrangler secret put PUBLISH_TOKEN`; locally `.dev.vars`. Unset = publishing disabled. */
    PUBLISH_TOKEN?: string;
  }
}
