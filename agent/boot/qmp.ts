/**
 * A small QMP client (QEMU Machine Protocol, docs/interop/qmp-spec): one JSON object per line
 * over a Unix socket. QEMU greets with `{"QMP": …}`, accepts nothing but `qmp_capabilities`
 * until then, answers each command with `{"return": …}` or `{"error": …}` carrying the command's
 * `id`, and sends events (`SHUTDOWN`, `POWERDOWN`, `STOP`, `RESUME`, …) at any time.
 */
import { EventEmitter } from "node:events";
import { connect, type Socket } from "node:net";
import { PixelRtsError } from "../../shared/errors.js";

export interface QmpEvent {
  event: string;
  data?: Record<string, unknown>;
  timestamp?: { seconds: number; microseconds: number };
}

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

/** Longest line accepted from QEMU (its answers are small; a runaway line is a broken peer). */
const MAX_LINE = 1 << 20;

export class QmpClient extends EventEmitter<{ event: [QmpEvent]; close: [] }> {
  private buf = "";
  private nextId = 1;
  private readonly pending = new Map<string, Pending>();
  private greeted: Promise<void>;
  private closed = false;

  private constructor(private readonly socket: Socket) {
    super();
    let greet!: { resolve: () => void; reject: (e: Error) => void };
    this.greeted = new Promise((resolve, reject) => (greet = { resolve, reject }));
    socket.setEncoding("utf8");
    socket.on("data", (text: string) => {
      this.buf += text;
      if (this.buf.length > MAX_LINE && !this.buf.includes("\n")) {
        socket.destroy(new Error("QMP: a line longer than 1 MiB"));
        return;
      }
      let nl: number;
      while ((nl = this.buf.indexOf("\n")) >= 0) {
        const line = this.buf.slice(0, nl).trim();
        this.buf = this.buf.slice(nl + 1);
        if (!line) continue;
        let msg: Record<string, unknown>;
        try {
          msg = JSON.parse(line) as Record<string, unknown>;
        } catch {
          continue; // not ours to interpret
        }
        if ("QMP" in msg) greet.resolve();
        else if (typeof msg.event === "string") this.emit("event", msg as unknown as QmpEvent);
        else if (typeof msg.id === "string" && this.pending.has(msg.id)) {
          const p = this.pending.get(msg.id)!;
          this.pending.delete(msg.id);
          if ("error" in msg) {
            const err = msg.error as { class?: string; desc?: string };
            p.reject(new PixelRtsError("E_QMP", `QMP: ${err?.class ?? "error"}: ${err?.desc ?? "no description"}`));
          } else p.resolve(msg.return);
        }
      }
    });
    const fail = (e?: Error) => {
      if (this.closed) return;
      this.closed = true;
      const err = new PixelRtsError("E_QMP", `QMP connection closed${e ? `: ${e.message}` : ""}`);
      greet.reject(err);
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
      this.emit("close");
    };
    socket.on("error", fail);
    socket.on("close", () => fail());
  }

  /** Connects to QEMU's QMP socket and leaves capabilities negotiation mode. */
  static async connect(path: string): Promise<QmpClient> {
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = connect(path);
      s.once("connect", () => {
        s.off("error", reject);
        resolve(s);
      });
      s.once("error", reject);
    });
    const client = new QmpClient(socket);
    await client.greeted;
    await client.execute("qmp_capabilities");
    return client;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  execute<T = unknown>(command: string, args?: Record<string, unknown>): Promise<T> {
    if (this.closed) return Promise.reject(new PixelRtsError("E_QMP", "QMP connection is closed"));
    const id = `pixelrts-${this.nextId++}`;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.socket.write(JSON.stringify({ execute: command, ...(args ? { arguments: args } : {}), id }) + "\n");
    });
  }

  close(): void {
    this.socket.destroy();
  }
}
