/**
 * Booting, watching and stopping VMs, pulls, events and health:
 *
 *   POST /api/v1/catalog/{id}/boot     {memory?, cpus?, cmdline?} → {success, entry_id, entry_name, vnc_port, pid, error_message, vm_id, status, vnc_host, error_code}
 *   GET  /api/v1/catalog/{id}/status   {status, pid, started_at, uptime_seconds, vnc_port, error_message, entry_id, vm_id, vnc_host, vms}
 *   POST /api/v1/catalog/{id}/stop     stops the entry's live VMs → {success, entry_id, vms:[…]}
 *   GET  /api/v1/vms                   {vms:[VmInfo]}
 *   GET  /api/v1/vms/{vm}              VmInfo
 *   POST /api/v1/vms/{vm}/stop         VmInfo (stopping)
 *   GET  /api/v1/vms/{vm}/serial       the serial log so far (text/plain; X-Serial-Offset, X-Serial-Bytes)
 *   POST /api/v1/pulls {ref}           202 PullInfo;  GET /api/v1/pulls  {pulls:[PullInfo]}
 *   GET  /api/v1/events                Server-Sent Events (events.ts)
 *   GET  /api/v1/health                {status: "ok", …}
 */
import { CATALOG_SCHEMA_VERSION } from "../../../shared/catalog.js";
import { isVmId, readSerialTail, type VmInfo } from "../../boot/vm.js";
import { bootEntry } from "../boots.js";
import { httpFail } from "../errors.js";
import type { ServeApp, ServeState } from "../state.js";
import { bootRequest, checkEntryId, onlyKeys, readJsonObject } from "../validate.js";
import { itemOr404 } from "./catalog.js";

const SERIAL_DEFAULT = 1 << 20;
const SERIAL_MAX = 16 << 20;

const live = (v: VmInfo) => v.status === "booting" || v.status === "running";

/** The VM `GET …/status` describes for an entry: its newest live one, else its newest. */
export function newestVm(vms: VmInfo[], entryId: string): VmInfo | undefined {
  const mine = vms.filter((v) => v.entry_id === entryId);
  return mine.filter(live).at(-1) ?? mine.at(-1);
}

function vmOr404(s: ServeState, id: string): VmInfo {
  if (!isVmId(id)) httpFail("E_BAD_NAME", `not a VM id: ${JSON.stringify(id.slice(0, 40))} (vm- and 8 hex digits)`);
  return s.vms.get(id) ?? httpFail("E_NOT_FOUND", `no VM ${id}`);
}

export function vmRoutes(app: ServeApp, s: ServeState): void {
  app.post("/api/v1/catalog/:id/boot", async (c) => {
    const item = await itemOr404(s, c.req.param("id"));
    const req = bootRequest(await readJsonObject(c, { allowEmpty: true }));
    return c.json(await bootEntry(s.boot, item, req));
  });

  app.get("/api/v1/catalog/:id/status", async (c) => {
    const id = checkEntryId(c.req.param("id"));
    const v = newestVm(s.vms.list(), id);
    if (!v) await itemOr404(s, id);
    return c.json({
      status: v?.status ?? "stopped",
      pid: v && live(v) ? v.pid : null,
      started_at: v?.started_at ?? null,
      uptime_seconds: v?.uptime_seconds ?? null,
      vnc_port: v && live(v) ? v.vnc_port : null,
      error_message: v?.error_message ?? null,
      entry_id: id,
      vm_id: v?.vm_id ?? null,
      vnc_host: v?.vnc_host ?? null,
      vms: s.vms.list().filter((x) => x.entry_id === id && live(x)).length,
    });
  });

  app.post("/api/v1/catalog/:id/stop", async (c) => {
    const id = checkEntryId(c.req.param("id"));
    onlyKeys(await readJsonObject(c, { allowEmpty: true }), []);
    const mine = s.vms.list().filter((v) => v.entry_id === id);
    if (!mine.length) await itemOr404(s, id);
    const stopping = mine.filter(live);
    for (const v of stopping) void s.vms.stop(v.vm_id);
    return c.json({ success: true, entry_id: id, vms: stopping.map((v) => s.vms.get(v.vm_id)!), message: stopping.length ? `stopping ${stopping.length} VM${stopping.length === 1 ? "" : "s"}` : "not running" });
  });

  app.get("/api/v1/vms", (c) => c.json({ vms: s.vms.list() }));
  app.get("/api/v1/vms/:vm", (c) => c.json(vmOr404(s, c.req.param("vm"))));
  app.post("/api/v1/vms/:vm/stop", async (c) => {
    const v = vmOr404(s, c.req.param("vm"));
    onlyKeys(await readJsonObject(c, { allowEmpty: true }), []);
    void s.vms.stop(v.vm_id);
    return c.json(s.vms.get(v.vm_id), 202);
  });
  app.get("/api/v1/vms/:vm/serial", async (c) => {
    const v = vmOr404(s, c.req.param("vm"));
    const maxText = c.req.query("max");
    const max = maxText === undefined ? SERIAL_DEFAULT : /^\d{1,9}$/.test(maxText) ? Math.min(SERIAL_MAX, Number(maxText)) : httpFail("E_BAD_REQUEST", `max must be a byte count, got ${JSON.stringify(maxText.slice(0, 20))}`);
    const log = s.vms.serialLog(v.vm_id)!;
    const { offset, text } = await readSerialTail(log.path, log.logged, max); // the log's tail, even once output outgrew it
    return c.text(text, 200, { "x-serial-offset": String(offset), "x-serial-bytes": String(log.bytes), "cache-control": "no-store", "x-content-type-options": "nosniff" });
  });

  app.post("/api/v1/pulls", async (c) => {
    const body = await readJsonObject(c);
    onlyKeys(body, ["ref"]);
    if (typeof body.ref !== "string") httpFail("E_BAD_REQUEST", "ref must be a catalog id (a string)");
    // Only entries of the console's catalog: serve never fetches a URL a request names.
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(body.ref)) httpFail("E_BAD_REQUEST", "ref must be a catalog id, not a URL (pull URLs with `pixelrts pull URL`)");
    const item = await itemOr404(s, body.ref.replace(/^sha256:([0-9a-f]{64})$/, (_, hex: string) => s.view.all().find((i) => i.entry.sha256 === hex)?.entry.id ?? `sha-${hex.slice(0, 16)}`));
    const { info } = s.pulls.start(item);
    return c.json(info, 202);
  });
  app.get("/api/v1/pulls", (c) => c.json({ pulls: s.pulls.list() }));

  app.get("/api/v1/events", (c) => s.bus.stream({ server: "pixelrts serve", version: s.version, vms: s.vms.list(), pulls: s.pulls.list() }, c.req.header("last-event-id")));

  app.get("/api/v1/health", (c) => {
    const vms = s.vms.list();
    return c.json({ status: "ok", service: "pixelrts-serve", version: s.version, schema_version: CATALOG_SCHEMA_VERSION, vms: { booting: vms.filter((v) => v.status === "booting").length, running: vms.filter((v) => v.status === "running").length } });
  });
}
