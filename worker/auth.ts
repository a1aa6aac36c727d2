/**
 * Bearer-token check for publishing routes. The token is the Worker secret PUBLISH_TOKEN; both
 * sides are hashed first and the digests compared in constant time, so neither the length nor
 * a prefix of the secret leaks through timing. Missing credentials → 401 (with
 * WWW-Authenticate), wrong token → 403, no secret configured → 503 E_PUBLISH_DISABLED.
 */
import type { MiddlewareHandler } from "hono";
import { getConfig } from "./config";
import { httpFail } from "./errors";

async function digest(s: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(s)));
}

export async function tokensEqual(given: string, expected: string): Promise<boolean> {
  const [a, b] = await Promise.all([digest(given), digest(expected)]);
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

export const requirePublisher: MiddlewareHandler<{ Bindings: Env }> = async (c, next) => {
  const { publishToken } = getConfig(c.env);
  if (!publishToken) httpFail("E_PUBLISH_DISABLED", "publishing is disabled: set the PUBLISH_TOKEN secret");
  const auth = c.req.header("authorization");
  const m = auth ? /^Bearer[ ]+(\S+)\s*$/i.exec(auth) : null;
  if (!m) {
    httpFail("E_UNAUTHORIZED", "publishing needs Authorization: Bearer <token>", {
      headers: { "WWW-Authenticate": 'Bearer realm="pixelrts"' },
    });
  }
  if (!(await tokensEqual(m[1]!, publishToken))) {
    httpFail("E_FORBIDDEN", "invalid publish token", { headers: { "WWW-Authenticate": 'Bearer realm="pixelrts", error="invalid_token"' } });
  }
  await next();
};
