/**
 * The Worker as bench/catalog.bench.ts runs it in Miniflare (bench-only entry, never deployed):
 * the real app with its R2 and D1 bindings wrapped in counters (counting.ts), plus
 *   GET  /__bench/calls   the storage calls of the last request (read once its body was sent)
 *   POST /__bench/seed    writes names [from, from + count) the way publish + thumbnail upload
 *                         would leave them: R2 pointers and D1 index rows (the inline thumbnail
 *                         made from the posted agent-made thumbnails by the Worker's own code)
 */
import { fromBase64, toBase64 } from "../../shared/bytes";
import { smallThumbnail } from "../catalog/small-thumbnail";
import { BUMP_VERSION, pointerStatement } from "../db/write";
import worker from "../index";
import { type ContainerRecord, encodeRecord } from "../storage/record";
import { countingBucket, countingDb, newCounter } from "./counting";

const counter = newCounter();
const DISTROS = ["alpine", "debian", "ubuntu", "fedora", "arch", "nixos", "void", "gentoo"];

async function seed(env: Env, from: number, count: number, thumbnails: string[]): Promise<Response> {
  const inline = await Promise.all(thumbnails.map(async (t) => toBase64((await smallThumbnail(fromBase64(t)!))!)));
  const stmts: D1PreparedStatement[] = [];
  const puts: Promise<unknown>[] = [];
  for (let i = from; i < from + count; i++) {
    const distro = DISTROS[i % DISTROS.length]!;
    const name = `os-${distro}-${String(i).padStart(5, "0")}`;
    const sha = i.toString(16).padStart(64, "a");
    const id = i.toString(16).padStart(32, "0");
    const record: ContainerRecord = {
      sha256: sha,
      size: 10_000_000 + i,
      data_hash: sha.split("").reverse().join(""),
      data_size: 9_000_000 + i,
      grid_size: 2048,
      type: i % 3 ? "boot-bundle" : "kernel",
      distro,
      arch: i % 4 ? "x86_64" : "aarch64",
      kernel_version: `6.${i % 13}.${i % 7}`,
      description: `${distro} image number ${i}${i % 1000 === 7 ? ", the rescue system" : ""}`,
      content_version: "1.0",
      segments: [
        { name: "kernel", type: "kernel", size: 8_000_000, start: 0, sha256: null },
        { name: "initrd", type: "initrd", size: 1_000_000, start: 8_000_000, sha256: null },
      ],
      name,
      gen: id,
      link: id,
      blob_etag: `"${id}"`,
      published_at: new Date(Date.UTC(2026, 0, 1) + i * 60_000).toISOString(),
      thumb: id,
      seq: 1,
    };
    puts.push(env.BUCKET.put(`containers/${name}`, new Uint8Array(0), { customMetadata: encodeRecord(record) }));
    stmts.push(pointerStatement(env.DB, { name, seq: 1, pointerEtag: `p${id}`, record, thumbInline: inline[i % inline.length]! }));
  }
  await Promise.all(puts);
  for (let k = 0; k < stmts.length; k += 200) await env.DB.batch(stmts.slice(k, k + 200));
  await env.DB.prepare(BUMP_VERSION).run();
  return Response.json({ seeded: count, inline_bytes: Math.round((inline[0]!.length * 3) / 4) });
}

export default {
  async fetch(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === "/__bench/calls") return Response.json({ r2: counter.r2.length, d1: counter.d1.length });
    if (url.pathname === "/__bench/seed" && request.method === "POST") {
      const body = await request.json<{ from: number; count: number; thumbnails: string[] }>();
      return seed(env, body.from, body.count, body.thumbnails);
    }
    counter.reset();
    return worker.fetch(request, { ...env, BUCKET: countingBucket(env.BUCKET, counter), DB: countingDb(env.DB, counter) }, ctx);
  },
};
