/**
 * The SIGNED column of `catalog` and `cache ls`: the trusted key's name, `untrusted`, `invalid`
 * or `-`. A cached container is judged from the envelopes saved with it (what its pull checked);
 * one only listed is judged from the server's summary of key ids, a claim its pull will check.
 */
import type { CacheLayout } from "../cache/layout.js";
import { judge, loadEnvelopes } from "./policy.js";
import { TrustStore } from "./store.js";

export interface Labeller {
  label(row: { sha256: string | null; size: number; server: string | null; name: string; cached: boolean; signatures: { keyid: string }[] }): Promise<string>;
}

export async function signedLabeller(configDir: string, layout: CacheLayout): Promise<Labeller> {
  const store = new TrustStore(configDir);
  const all = await store.list();
  return {
    async label(row) {
      if (row.cached && row.sha256) {
        const envelopes = await loadEnvelopes(layout, row.sha256);
        if (envelopes.length) {
          const { summary } = await judge(configDir, envelopes, { sha256: row.sha256, size: row.size }, { policy: "warn", ...(row.server ? { server: row.server } : {}) });
          return summary.trusted ? summary.trusted.key_name : summary.state === "untrusted" ? "untrusted" : summary.state === "unsigned" ? "-" : "invalid";
        }
      }
      if (row.signatures.length === 0) return "-";
      const trusted = all.find((k) => row.signatures.some((s) => s.keyid === k.keyid) && (k.servers.length === 0 || (row.server !== null && k.servers.includes(row.server))));
      return trusted ? trusted.name : "untrusted";
    },
  };
}
