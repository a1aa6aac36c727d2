// Makes any outbound TCP connection that is not to loopback fail at once, and records it.
// Imported by the agent's tests and preloaded (node --import) into CLI processes they spawn.
import net from "node:net";

const LOOPBACK = new Set(["127.0.0.1", "::1", "localhost", "::ffff:127.0.0.1"]);
const blocked = (globalThis.__pixelrtsBlockedHosts ??= []);
const proto = net.Socket.prototype;
if (!proto.__pixelrtsGuarded) {
  const original = proto.connect;
  proto.connect = function guardedConnect(...args) {
    let opts = args[0];
    if (Array.isArray(opts)) opts = opts[0];
    let host = "localhost";
    if (opts && typeof opts === "object") host = opts.path ? "(unix socket)" : (opts.host ?? "localhost");
    else if (typeof opts === "string" && !/^\d+$/.test(opts)) host = "(unix socket)";
    else if (typeof args[1] === "string") host = args[1];
    if (host !== "(unix socket)" && !LOOPBACK.has(host)) {
      blocked.push(host);
      const err = Object.assign(new Error(`test guard: outbound connection to ${host} blocked`), { code: "ECONNREFUSED" });
      process.nextTick(() => this.destroy(err));
      return this;
    }
    return original.apply(this, args);
  };
  proto.__pixelrtsGuarded = true;
}

/** Hosts that something tried to reach (should stay empty). */
export function blockedHosts() {
  return [...blocked];
}
