/**
 * Fixtures for `pixelrts serve` tests:
 * - a fake qemu-system-x86_64 (a Node script, no child processes) that speaks enough QMP
 *   (greeting, qmp_capabilities, query-status, query-vnc, system_powerdown with POWERDOWN and
 *   SHUTDOWN events), prints a serial console with the boot marker, and behaves as words of the
 *   kernel command line say: `crash` (exit 3 at once), `ignore-powerdown` (only SIGTERM stops
 *   it), `ignore-term` (only SIGKILL does), `poweroff` (the guest powers off by itself once QMP
 *   has been asked), `kvm-broken` (under `-accel kvm`, aborts when asked query-status over QMP,
 *   the way QEMU does on a nested host missing an MSR). It gives up after 60 s, so a broken test never leaves it behind for long;
 * - a catalog server shaped like our Worker (entries with sha256, url, blob_url) serving real
 *   containers, counting requests;
 * - an SSE reader that tests wait on.
 */
import { createHash } from "node:crypto";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { hostileBundle } from "./hostile-containers.js";

export const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

const FAKE_QEMU = String.raw`
const fs = require("node:fs");
const net = require("node:net");
const args = process.argv.slice(2);
const opt = (name) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : undefined; };
const words = (opt("-append") || "").split(" ");
const say = (s) => fs.writeSync(1, s + "\n");
if (words.includes("crash")) { fs.writeSync(2, "fake qemu: could not load the kernel\n"); process.exit(3); }
const kvmBroken = words.includes("kvm-broken") && opt("-accel") === "kvm";
const sockPath = opt("-qmp").replace(/^unix:/, "").split(",")[0];
const display = Number(opt("-vnc").split(":")[1].split(",")[0]);
const clients = new Set();
const send = (s, o) => s.write(JSON.stringify(o) + "\n");
const all = (o) => { for (const c of clients) send(c, o); };
const ts = () => ({ seconds: Math.floor(Date.now() / 1000), microseconds: 0 });
function handle(s, m) {
  const reply = (r) => send(s, { return: r, id: m.id });
  if (m.execute === "qmp_capabilities") return reply({});
  // Like QEMU on a nested host: QMP is up, and KVM fails at the first instruction while a
  // client is mid-conversation (the worst moment for the client).
  if (m.execute === "query-status" && kvmBroken) { fs.writeSync(2, "qemu: error: failed to set MSR 0x10a to 0x0\nkvm_buf_set_msrs: Assertion failed.\n"); process.exit(134); }
  if (m.execute === "query-status") return reply({ status: "running", running: true, singlestep: false });
  if (m.execute === "query-vnc") {
    reply({ enabled: true, host: "127.0.0.1", family: "ipv4", service: String(5900 + display), auth: "none", clients: [] });
    if (words.includes("poweroff")) { say("fake guest: powering off by itself"); all({ event: "SHUTDOWN", data: { guest: true, reason: "guest-shutdown" }, timestamp: ts() }); setImmediate(() => process.exit(0)); }
    return;
  }
  if (m.execute === "system_powerdown") {
    reply({});
    all({ event: "POWERDOWN", timestamp: ts() });
    if (words.includes("ignore-powerdown") || words.includes("ignore-term")) return say("fake guest: ignoring the power button");
    say("fake guest: power button, shutting down");
    all({ event: "SHUTDOWN", data: { guest: true, reason: "guest-shutdown" }, timestamp: ts() });
    return setImmediate(() => process.exit(0));
  }
  send(s, { error: { class: "CommandNotFound", desc: "The command " + m.execute + " has not been found" }, id: m.id });
}
const server = net.createServer((s) => {
  clients.add(s);
  s.on("close", () => clients.delete(s));
  s.on("error", () => {});
  send(s, { QMP: { version: { qemu: { major: 7, minor: 2, micro: 0 }, package: "fake" }, capabilities: [] } });
  let buf = "";
  s.setEncoding("utf8").on("data", (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf("\n")) >= 0) { const line = buf.slice(0, i); buf = buf.slice(i + 1); if (line.trim()) handle(s, JSON.parse(line)); }
  });
});
process.on("SIGTERM", () => {
  if (words.includes("ignore-term")) return say("fake qemu: ignoring SIGTERM");
  say("fake qemu: terminating on signal 15");
  process.exit(0);
});
server.listen(sockPath, () => {
  if (kvmBroken) return; // no guest output: it dies at query-status (handle)
  say("fake firmware: booting kernel, args " + JSON.stringify(opt("-append")) + ", memory " + opt("-m") + ", cpus " + opt("-smp"));
  say("PIXELRTS-BOOT-OK kernel=fake");
});
setTimeout(() => { say("fake qemu: nobody stopped me"); process.exit(99); }, 60000);
`;

/** Writes the fake QEMU into `dir/bin` and returns that directory (put it first on PATH). */
export function writeFakeQemu(dir: string): string {
  const bin = join(dir, "bin");
  mkdirSync(bin, { recursive: true });
  writeFileSync(join(bin, "qemu-system-x86_64"), `#!${process.execPath}\n${FAKE_QEMU}`);
  chmodSync(join(bin, "qemu-system-x86_64"), 0o755);
  return bin;
}

/** A small real boot bundle (kernel + initrd + boot settings) made by the real encoder. */
export async function bundle(seed: number, cmdline = "console=ttyS0"): Promise<Uint8Array> {
  return hostileBundle((_doc, boot) => boot.set("cmdline", cmdline), new Uint8Array(20_000).fill(seed), new Uint8Array(7_000).fill(seed + 1));
}

export interface Listed {
  id: string;
  bytes: Uint8Array;
  extra?: Record<string, unknown>;
}

export interface CatalogServer {
  url: string;
  /** Paths asked for, in order. */
  requests: string[];
  /** Replaces what the catalog lists. */
  set(list: Listed[]): void;
  close(): Promise<void>;
}

/** A catalog server shaped like our Worker: `/api/v1/catalog`, bytes at each entry's `url`. */
export async function catalogServer(list: Listed[]): Promise<CatalogServer> {
  let current = list;
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "").split("?")[0]!;
    requests.push(path);
    if (path === "/api/v1/catalog") {
      const entries = current.map((c) => ({
        id: c.id,
        name: c.id,
        size: c.bytes.length,
        sha256: sha(c.bytes),
        url: `${base}/c/${c.id}.rts.png`,
        distro: "testlinux",
        architecture: "x86_64",
        type: "boot-bundle",
        description: `the ${c.id} test container`,
        segments: [{ name: "kernel", type: "kernel", size: 20_000, start: 0, sha256: null }],
        ...c.extra,
      }));
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ entries }));
      return;
    }
    const m = /^\/c\/(.+)\.rts\.png$/.exec(path);
    const hit = m && current.find((c) => c.id === m[1]);
    if (hit) {
      res.writeHead(200, { "content-type": "image/png", "content-length": hit.bytes.length, etag: `"${sha(hit.bytes)}"`, "x-pixelrts-sha256": sha(hit.bytes) });
      if (req.method === "HEAD") return res.end();
      // In pieces, so a pull reports progress before it is done.
      let at = 0;
      const next = () => {
        if (at >= hit.bytes.length) return res.end();
        const piece = hit.bytes.subarray(at, at + 4096);
        at += piece.length;
        res.write(piece, () => setImmediate(next));
      };
      next();
      return;
    }
    res.writeHead(404, { "content-type": "application/json" }).end('{"error":{"code":"E_NOT_FOUND","message":"no"}}');
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: base,
    requests,
    set: (l) => (current = l),
    close: () => new Promise((r) => server.close(() => r())),
  };
}

export interface SseEvent {
  id?: string;
  event: string;
  data: Record<string, unknown>;
}

export interface SseReader {
  events: SseEvent[];
  /** The first event (seen already or to come) that matches. */
  next(match: (e: SseEvent) => boolean): Promise<SseEvent>;
  close(): void;
}

/** Reads `GET url` as Server-Sent Events; `hello` has arrived when this resolves. */
export async function readSse(url: string, headers: Record<string, string> = {}): Promise<SseReader> {
  const ctl = new AbortController();
  const res = await fetch(url, { headers: { accept: "text/event-stream", ...headers }, signal: ctl.signal });
  if (!res.ok || !res.body) throw new Error(`SSE ${url}: ${res.status}`);
  const events: SseEvent[] = [];
  const waiters: { match: (e: SseEvent) => boolean; resolve: (e: SseEvent) => void }[] = [];
  let helloSeen!: () => void;
  const hello = new Promise<void>((r) => (helloSeen = r));
  void (async () => {
    const decoder = new TextDecoder();
    let buf = "";
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buf += decoder.decode(chunk, { stream: true });
        let i;
        while ((i = buf.indexOf("\n\n")) >= 0) {
          const frame = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const e: Partial<SseEvent> & { raw?: string } = {};
          for (const line of frame.split("\n")) {
            const [k, ...rest] = line.split(": ");
            const v = rest.join(": ");
            if (k === "event") e.event = v;
            else if (k === "data") e.data = JSON.parse(v) as Record<string, unknown>;
            else if (k === "id") e.id = v;
          }
          if (!e.event) continue;
          const ev = e as SseEvent;
          events.push(ev);
          if (ev.event === "hello") helloSeen();
          for (const w of waiters.filter((w) => w.match(ev))) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve(ev);
          }
        }
      }
    } catch {
      // aborted
    }
  })();
  await hello;
  return {
    events,
    next: (match) => {
      const seen = events.find(match);
      return seen ? Promise.resolve(seen) : new Promise((resolve) => waiters.push({ match, resolve }));
    },
    close: () => ctl.abort(),
  };
}
