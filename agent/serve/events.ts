/**
 * Server-Sent Events: one bus for everything serve does (pull progress, VM state, serial output,
 * catalog changes), one `GET /api/v1/events` stream per page.
 *
 * Event types (the `event:` field; `data:` is one JSON object):
 *   hello    {server, version, vms}                          first, on every connection
 *   pull     a pull event exactly as `pixelrts pull --json` prints it (start, progress, retry,
 *            note, verified, done, error) plus pull_id, entry_id and, for a boot's pull, vm_id
 *   boot     `note` and `boot` events of a boot as `pixelrts boot --json` prints them, plus vm_id
 *            and entry_id (`boot` comes just before QEMU starts: binary, accel, signature)
 *   vm       a VM's state (agent/boot/vm.ts VmInfo) whenever it changes
 *   serial   {vm_id, offset, bytes, data}: serial output, `offset` = byte offset in the log
 *   catalog  {reason, entries_count}: the merged catalog changed (refresh, pull, layout)
 *
 * Every event but `serial` has an id and is kept in a short replay buffer: a reconnecting
 * EventSource sends Last-Event-ID and gets what it missed (serial output is re-read with
 * GET /api/v1/vms/{id}/serial instead). A client that stops reading is dropped once 4 MiB are
 * queued for it, so a stuck tab cannot grow the server's memory.
 */

export interface BusEvent {
  id: number | null;
  type: string;
  data: unknown;
}

type Subscriber = (e: BusEvent) => void;

const REPLAY = 1000;
const MAX_QUEUED_BYTES = 4 << 20;
const HEARTBEAT_MS = 15_000;

export class EventBus {
  private seq = 0;
  private readonly ring: BusEvent[] = [];
  private readonly subs = new Set<Subscriber>();
  private readonly closers = new Set<() => void>();

  publish(type: string, data: unknown): void {
    const e: BusEvent = { id: type === "serial" ? null : ++this.seq, type, data };
    if (e.id !== null) {
      this.ring.push(e);
      if (this.ring.length > REPLAY) this.ring.shift();
    }
    for (const s of this.subs) s(e);
  }

  /** Events after `lastId` still in the replay buffer. */
  since(lastId: number): BusEvent[] {
    return this.ring.filter((e) => e.id !== null && e.id > lastId);
  }

  get lastId(): number {
    return this.seq;
  }

  subscribe(fn: Subscriber): () => void {
    this.subs.add(fn);
    return () => this.subs.delete(fn);
  }

  /** Ends every open stream (serve's shutdown). */
  close(): void {
    for (const c of [...this.closers]) c();
  }

  /** A `text/event-stream` response: `hello`, the missed events, then everything live. */
  stream(hello: unknown, lastEventId: string | undefined): Response {
    const enc = new TextEncoder();
    const frame = (e: BusEvent) => enc.encode(`${e.id !== null ? `id: ${e.id}\n` : ""}event: ${e.type}\ndata: ${JSON.stringify(e.data)}\n\n`);
    let cleanup = () => {};
    const body = new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          let open = true;
          const close = () => {
            if (!open) return;
            open = false;
            cleanup();
            try {
              controller.close();
            } catch {
              // already closed or errored
            }
          };
          const send = (bytes: Uint8Array) => {
            if (!open) return;
            if ((controller.desiredSize ?? 0) < -MAX_QUEUED_BYTES) return close();
            controller.enqueue(bytes);
          };
          send(enc.encode(`retry: 2000\n\n`));
          send(frame({ id: null, type: "hello", data: hello }));
          const last = Number(lastEventId);
          if (lastEventId !== undefined && Number.isSafeInteger(last)) for (const e of this.since(last)) send(frame(e));
          const unsubscribe = this.subscribe((e) => send(frame(e)));
          const beat = setInterval(() => send(enc.encode(`: keep-alive\n\n`)), HEARTBEAT_MS);
          beat.unref();
          cleanup = () => {
            unsubscribe();
            clearInterval(beat);
            this.closers.delete(close);
          };
          this.closers.add(close);
        },
        cancel: () => cleanup(),
      },
      { highWaterMark: 1, size: (chunk) => chunk.byteLength },
    );
    return new Response(body, {
      headers: { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-store", "x-accel-buffering": "no" },
    });
  }
}
