/**
 * The boot host's signature policy (docs/TRUST.md), applied where containers enter: before a
 * download is committed to the cache, and again whenever a cached copy is used — so nothing a
 * trusted key did not sign reaches the cache or QEMU under `require`.
 *
 * Envelopes come from the server that lists the container (`…/blobs/sha256/<hex>/signatures`),
 * are judged by shared/trust/verify.ts against the keys trusted for that server, and are kept
 * beside the blob in the cache, so offline boots verify them too.
 */
import { readFile } from "node:fs/promises";
import type { Dispatcher } from "undici";
import { isSha256Hex } from "../../shared/catalog.js";
import { fail, isPixelRtsError, PixelRtsError } from "../../shared/errors.js";
import { judgeSignatures, type SignatureVerdict, type Subject, type TrustSummary } from "../../shared/trust/verify.js";
import type { CacheLayout } from "../cache/layout.js";
import { stricterPolicy, type SignaturePolicy } from "../config/settings.js";
import type { ServerConfig } from "../config/servers.js";
import { writeFileAtomic } from "../fsutil/index.js";
import { getJson } from "../http/json.js";
import { AcceptedSignatures, TrustStore } from "./store.js";

/** What a command shows about a container's signatures (and --json carries). */
export interface TrustReport {
  policy: SignaturePolicy;
  state: TrustSummary["state"] | "not-checked";
  /** The key that vouched, when trusted. */
  keyid?: string;
  key_name?: string;
  signed_at?: string;
  /** Every key id seen on the container's envelopes. */
  keyids: string[];
  /** One line for people. */
  line: string;
}

export interface TrustInput {
  policy: SignaturePolicy;
  /** The configured server the container came from (keys may be trusted for one server only). */
  server?: string;
  /** The name the host resolved (statements must name it); undefined for files, URLs, digests. */
  name?: string;
  allowDowngrade?: boolean;
}

/** The effective policy for a container from `server` (the stricter of the global and the server's). */
export function policyFor(global: SignaturePolicy, server: ServerConfig | undefined): SignaturePolicy {
  return stricterPolicy(global, server?.signatures);
}

/** Where a server lists a blob's signatures: our Worker's route beside the blob, when the URL shows one. */
export function signaturesUrlFor(url: string | null | undefined, sha256?: string | null): string | undefined {
  if (!url) return undefined;
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return undefined;
  }
  const path = u.pathname.replace(/\/+$/, "");
  let m = /^(.*)\/blobs\/sha256\/([0-9a-f]{64})$/.exec(path);
  if (m) return `${u.origin}${m[1]}/blobs/sha256/${m[2]}/signatures`;
  m = /^(.*)\/(?:api\/v1\/containers|api\/v1\/catalog|api\/container)\/([^/]+?)(?:\.rts\.png)?(?:\/data|\/download)?$/.exec(path);
  if (m) return `${u.origin}${m[1]}/api/v1/containers/${m[2]}/signatures`;
  return sha256 && isSha256Hex(sha256) ? `${u.origin}/blobs/sha256/${sha256}/signatures` : undefined;
}

/** The envelopes a server lists for a container; [] when it lists none (404: an unsigned or an original server). */
export async function fetchEnvelopes(http: Dispatcher, url: string, timeoutMs: number, signal?: AbortSignal): Promise<unknown[]> {
  try {
    const res = await getJson<{ signatures?: unknown }>(http, url, { timeoutMs, ...(signal ? { signal } : {}) });
    const list = res.body?.signatures;
    return Array.isArray(list) ? list.slice(0, 16) : [];
  } catch (e) {
    if (isPixelRtsError(e) && e.code === "E_HTTP" && (e.details.status === 404 || e.details.status === 405)) return [];
    throw e;
  }
}

interface SavedEnvelopes {
  url: string | null;
  fetched_at: string;
  signatures: unknown[];
}

export async function saveEnvelopes(layout: CacheLayout, sha256: string, envelopes: unknown[], url: string | undefined): Promise<void> {
  const doc: SavedEnvelopes = { url: url ?? null, fetched_at: new Date().toISOString(), signatures: envelopes };
  await writeFileAtomic(layout.signatures(sha256), JSON.stringify(doc), layout.tmpDir);
}

/** Envelopes saved with a cached blob; [] when none were. */
export async function loadEnvelopes(layout: CacheLayout, sha256: string): Promise<unknown[]> {
  try {
    const doc = JSON.parse(await readFile(layout.signatures(sha256), "utf8")) as SavedEnvelopes;
    return Array.isArray(doc.signatures) ? doc.signatures : [];
  } catch {
    return [];
  }
}

const short = (id: string) => id.slice(0, 16);

function describe(summary: TrustSummary, policy: SignaturePolicy): string {
  const t = summary.trusted;
  if (t) return `signed by ${t.key_name} (${short(t.keyid)}) at ${t.statement.signed_at}`;
  const ids = summary.keyids.length ? ` (key ${summary.keyids.map(short).join(", ")})` : "";
  const why: Record<TrustSummary["state"], string> = {
    trusted: "",
    unsigned: "not signed",
    untrusted: `signed by a key this host does not trust${ids}`,
    mismatch: `has a signature for another file or name${ids}`,
    invalid: `has an invalid signature${ids}`,
  };
  return `${why[summary.state]}${policy === "warn" ? " (signatures: warn)" : ""}`;
}

/** Judges `envelopes` for `subject` against the keys trusted for the input's server. */
export async function judge(configDir: string, envelopes: unknown[], subject: Subject, input: TrustInput): Promise<{ summary: TrustSummary; report: TrustReport }> {
  const keys = await new TrustStore(configDir).trustedFor(input.server);
  const summary = await judgeSignatures(envelopes, subject, keys);
  const t = summary.trusted;
  const report: TrustReport = {
    policy: input.policy,
    state: summary.state,
    keyids: summary.keyids,
    ...(t ? { keyid: t.keyid, key_name: t.key_name, signed_at: t.statement.signed_at } : {}),
    line: describe(summary, input.policy),
  };
  return { summary, report };
}

function firstOf<S extends SignatureVerdict["state"]>(summary: TrustSummary, state: S): Extract<SignatureVerdict, { state: S }> | undefined {
  return summary.verdicts.find((v): v is Extract<SignatureVerdict, { state: S }> => v.state === state);
}

/**
 * Refuses a rollback whenever the policy is not off (a trusted signature older than the newest
 * accepted from this server for this name: E_ROLLBACK), and under `require` anything without a
 * trusted verdict, with the code that says why and what would fix it.
 */
export async function enforce(configDir: string, what: string, summary: TrustSummary, input: TrustInput): Promise<void> {
  if (input.policy === "off") return;
  const t = summary.trusted;
  if (t) {
    if (input.server && input.name) await new AcceptedSignatures(configDir).check(input.server, input.name, t.statement.signed_at, input.allowDowngrade === true);
    return;
  }
  if (input.policy !== "require") return;
  const details = { keyids: summary.keyids, policy: "require" };
  switch (summary.state) {
    case "unsigned":
      throw new PixelRtsError("E_UNSIGNED", `${what} is not signed, and signatures are required here (signatures: require)`, details);
    case "untrusted": {
      const v = firstOf(summary, "untrusted")!;
      const add = v.public_key ? `pixelrts trust add ${v.public_key}${input.server ? ` --server ${input.server}` : ""}` : "pixelrts trust add ed25519:<the publisher's key>";
      throw new PixelRtsError("E_UNTRUSTED_KEY", `${what} is signed by key ${summary.keyids.map(short).join(", ")}, which this host does not trust${input.server ? ` for ${input.server}` : ""}; if you trust its publisher: ${add}`, details);
    }
    case "mismatch":
      throw new PixelRtsError("E_SIGNATURE_MISMATCH", `${what}: the signature by ${short(firstOf(summary, "mismatch")!.keyid)} does not cover it: ${firstOf(summary, "mismatch")!.reason}`, details);
    default: {
      const v = firstOf(summary, "invalid");
      fail("E_SIGNATURE_INVALID", `${what}: ${v?.reason ?? "the signature does not verify"}${v?.keyid ? ` (key ${short(v.keyid)})` : ""}`, details);
    }
  }
}

/** Remembers the accepted signature time (rollback protection) after a successful pull or boot. */
export async function recordAccepted(configDir: string, summary: TrustSummary, input: TrustInput): Promise<void> {
  if (summary.trusted && input.server && input.name && input.policy !== "off") await new AcceptedSignatures(configDir).record(input.server, input.name, summary.trusted.statement.signed_at);
}

export const NOT_CHECKED = (policy: SignaturePolicy): TrustReport => ({ policy, state: "not-checked", keyids: [], line: "signatures not checked (signatures: off)" });
