/**
 * Fake remote catalog servers for the Worker tests, answering the Worker's outbound fetches
 * (miniflare `outboundService`, runs in Node). Hosts under `.remote.test`:
 *   fast, fast2   original-server style catalogs (fast2 repeats one of fast's files by SHA-256)
 *   edge          a catalog in this Worker's own shape (relative URLs)
 *   slow          answers after 3 s (past the tests' REMOTE_TIMEOUT_MS)
 *   error         HTTP 500
 *   invalid       200 with a body that is not JSON
 *   huge          a valid but oversized catalog (over the tests' REMOTE_MAX_BYTES)
 *   down          the fixture throws (a network failure; miniflare may surface it as a 5xx)
 *   fat           an original server with 200 entries, each with a ~254 KB inline thumbnail
 *                 (~50 MB, streamed as it is generated), like the ones issue 10 measured
 *   count-<tag>   one entry whose id says how often this host was fetched (`fetched-1`, ...): tests
 *                 see whether an answer came from the remote or from the cache, no clock needed
 * Anything else is an unexpected outbound request: logged and answered 599 (tests see an error source).
 */
import { Response } from "miniflare";

export const SHARED_SHA = "ab".repeat(32);

const originalEntry = (id: string, name: string, extra: Record<string, unknown> = {}) => ({
  id,
  name,
  path: `/srv/images/${name}.rts.png`,
  size: 1058,
  kernel_version: null,
  distro: null,
  architecture: null,
  visual_description: null,
  detected_objects: [],
  thumbnail: "",
  position: { x: 0, y: 0 },
  ...extra,
});

const json = (v: unknown) => new Response(JSON.stringify(v), { headers: { "content-type": "application/json" } });

export const TEST_REMOTES = [
  { id: "fast", name: "Fast", url: "http://fast.remote.test", color: "#111111" },
  { id: "fast2", name: "Fast two", url: "http://fast2.remote.test/", color: "#222222" },
  { id: "edge", name: "Other edge", url: "http://edge.remote.test" },
  { id: "slow", name: "Slow", url: "http://slow.remote.test" },
  { id: "error", name: "Error", url: "http://error.remote.test" },
  { id: "invalid", name: "Invalid", url: "http://invalid.remote.test" },
  { id: "huge", name: "Huge", url: "http://huge.remote.test" },
];

const fetchCounts = new Map<string, number>();

/** Entries of the fat server, and the size of each inline thumbnail (base64 characters). */
export const FAT_ENTRIES = 200;
export const FAT_THUMBNAIL_CHARS = 254_000;

function fatCatalog(): Response {
  const enc = new TextEncoder();
  const thumb = "iVBORw0KGgo" + "A".repeat(FAT_THUMBNAIL_CHARS - 11);
  let i = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(ctrl) {
      if (i === 0) ctrl.enqueue(enc.encode('{"entries":['));
      if (i === FAT_ENTRIES) {
        ctrl.enqueue(enc.encode('],"grid_dimensions":{"width":11,"height":21}}'));
        ctrl.close();
        return;
      }
      const e = originalEntry(`fat${String(i).padStart(4, "0")}`, `fat-${i}`, { distro: "fatdistro", thumbnail: thumb, visual_description: `fat entry ${i}` });
      ctrl.enqueue(enc.encode((i ? "," : "") + JSON.stringify(e)));
      i++;
    },
  });
  return new Response(stream as unknown as ConstructorParameters<typeof Response>[0], { headers: { "content-type": "application/json" } });
}

export async function remoteFixtures(request: { url: string }): Promise<Response> {
  const url = new URL(request.url);
  const host = url.hostname;
  if (url.pathname !== "/api/v1/catalog") return new Response("not found", { status: 404 });
  if (/^count-[a-z0-9-]+\.remote\.test$/.test(host)) {
    const n = (fetchCounts.get(host) ?? 0) + 1;
    fetchCounts.set(host, n);
    return json({ entries: [originalEntry(`fetched-${n}`, `fetched-${n}`)] });
  }
  switch (host) {
    case "fast.remote.test":
      return json({
        entries: [originalEntry("bab4921c3048", "tiny_100b", { distro: "debian" }), originalEntry("c0ffee000001", "shared-one", { hash: SHARED_SHA.toUpperCase() })],
        grid_dimensions: { width: 3, height: 2 },
      });
    case "fast2.remote.test":
      return json({ entries: [originalEntry("ffff00000002", "shared-copy", { hash: SHARED_SHA }), originalEntry("ffff00000003", "only-on-fast2", { architecture: "aarch64" })] });
    case "edge.remote.test":
      return json({
        entries: [
          {
            ...originalEntry("alpine-edge", "alpine-edge", { distro: "alpine", architecture: "x86_64" }),
            sha256: "cd".repeat(32),
            hash: "cd".repeat(32),
            type: "boot-bundle",
            url: "/api/v1/containers/alpine-edge",
            blob_url: "/blobs/sha256/" + "cd".repeat(32),
          },
          42,
          { no: "id" },
        ],
      });
    case "slow.remote.test":
      await new Promise((r) => setTimeout(r, 3000));
      return json({ entries: [originalEntry("late", "late")] });
    case "error.remote.test":
      return new Response("boom", { status: 500 });
    case "invalid.remote.test":
      return new Response("{ not json", { headers: { "content-type": "application/json" } });
    case "fat.remote.test":
      return fatCatalog();
    case "down.remote.test":
      throw new Error("connect ECONNREFUSED (simulated)");
    case "huge.remote.test": {
      const entries = Array.from({ length: 2000 }, (_, i) => originalEntry(`huge-${i}`, `huge-${i}`, { visual_description: "x".repeat(100) }));
      return json({ entries });
    }
    default:
      console.error(`unexpected outbound request from the Worker under test: ${request.url}`);
      return new Response("unexpected outbound request", { status: 599 });
  }
}
