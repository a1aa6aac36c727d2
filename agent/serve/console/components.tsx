/**
 * The console's markup, rendered on the server with hono/jsx (every value escaped). What the
 * Worker's catalog page shows too comes from shared/ui (the thumbnail, the source tag, an entry's
 * facts and segments); the console adds what only a boot host has: state badges, Pull and Boot,
 * VMs. The page's script (console.js) adds behaviour: positions and tile colours from data
 * attributes, drag and drop, filters, the event stream, live progress and serial output.
 * Fragments of the same components are fetched again when something changes.
 */
import type { FC } from "hono/jsx";
import { EntryFacts, Segments } from "../../../shared/ui/facts.js";
import { formatSize, isBootable, safeColor } from "../../../shared/ui/format.js";
import { SourceTag, Thumbnail } from "../../../shared/ui/tile.js";
import type { VmInfo } from "../../boot/vm.js";
import type { ConsoleEntry, SourceRow } from "../catalog-view.js";

const STATUS_LABEL: Record<string, string> = { booting: "booting", running: "running", stopped: "stopped", error: "error" };

export const Badges: FC<{ e: ConsoleEntry; compact?: boolean }> = ({ e, compact }) => (
  <span class="badges">
    {e.cached ? <span class="badge cached" title="in this host's cache">cached</span> : null}
    {e.verified ? <span class="badge verified" title={`SHA-256 checked${e.verified_at ? ` at ${e.verified_at}` : ""}`}>verified</span> : null}
    {e.signed === true ? <span class="badge signed" title={e.trust?.line ?? "the source lists signatures"}>signed</span> : null}
    {e.signed === false && !compact ? <span class="badge unsigned" title={e.trust?.line ?? ""}>unsigned</span> : null}
    {e.status === "running" || e.status === "booting" ? <span class="badge live" data-badge="vm">{STATUS_LABEL[e.status]}</span> : null}
    {e.stale ? <span class="badge stale" title="listed from a saved copy: its server did not answer">stale</span> : null}
  </span>
);

/** One container on the grid: a button inside a positioned list item (the item is what is dragged). */
export const Tile: FC<{ e: ConsoleEntry }> = ({ e }) => {
  const search = [e.id, e.name, e.description, e.visual_description, e.distro, e.architecture, e.type, e.source.name].filter(Boolean).join(" ").toLowerCase();
  return (
    <li class="tile" data-id={e.id} data-x={String(e.position.x)} data-y={String(e.position.y)} data-color={safeColor(e.source.color)} data-search={search} data-distro={e.distro ?? ""} data-arch={e.architecture ?? ""} data-type={e.type ?? ""} data-status={e.status}>
      <button type="button" class="tile-button" aria-label={`${e.name} from ${e.source.name}`} aria-describedby={`b-${e.id}`}>
        <Thumbnail e={e} size={72} />
        <span class="tile-name">{e.name}</span>
      </button>
      <SourceTag name={e.source.name} color={e.source.color} />
      <span id={`b-${e.id}`}>
        <Badges e={e} compact />
      </span>
    </li>
  );
};

export const Tiles: FC<{ entries: ConsoleEntry[] }> = ({ entries }) => (
  <>
    {entries.map((e) => (
      <Tile e={e} />
    ))}
  </>
);

export const Sources: FC<{ sources: SourceRow[] }> = ({ sources }) => (
  <ul class="sources" aria-label="Catalog sources">
    {sources.map((s) => (
      <li class={`source ${s.status}`} title={s.error ? `${s.error.code}: ${s.error.message}` : s.url || "this host"}>
        <SourceTag name={s.name} color={s.color} />
        <span class="source-count">{s.entries}</span>
        {s.status !== "ok" ? <span class="source-status">{s.status}</span> : null}
        {s.thumbnails && s.thumbnails.dropped > 0 ? <span class="source-note">{s.thumbnails.dropped} thumbnails over budget</span> : null}
      </li>
    ))}
  </ul>
);

/** The panel of a selected container: its facts, Pull with progress, Boot with settings. */
export const EntryPanel: FC<{ e: ConsoleEntry }> = ({ e }) => (
  <article class="entry" data-id={e.id} data-color={safeColor(e.source.color)} aria-labelledby="entry-title">
    <header class="entry-head">
      <Thumbnail e={e} size={128} alt={`pixels of ${e.name}`} />
      <div>
        <h2 id="entry-title">{e.name}</h2>
        <SourceTag name={e.source.name} color={e.source.color} />
        <Badges e={e} />
        {e.trust ? <p class="trust">{e.trust.line}</p> : null}
      </div>
    </header>
    {e.description ? <p class="desc">{e.description}</p> : null}
    <EntryFacts e={e} />
    <Segments segments={e.segments} />
    <section class="pull" aria-label="Pull">
      <button type="button" class="primary" data-action="pull">
        {e.cached ? "Pull again (revalidate)" : "Pull"}
      </button>
      <div class="progress" role="progressbar" aria-label={`Pulling ${e.name}`} aria-valuemin="0" aria-valuemax="100" aria-valuenow={e.cached ? "100" : "0"} hidden>
        <span class="bar" />
      </div>
      <p class="pull-status" role="status">
        {e.cached ? `In this host's cache (${formatSize(e.size)}).` : `Not in this host's cache yet (${formatSize(e.size)}).`}
      </p>
    </section>
    <form class="boot" data-action="boot" aria-label={`Boot ${e.name}`}>
      {isBootable(e) ? null : <p class="hint wide">This entry does not list a kernel or a disk: booting it will likely be refused.</p>}
      <label>
        Memory
        <input name="memory" placeholder="container's" autocomplete="off" pattern="[1-9][0-9]*[KMGTkmgt]?" />
      </label>
      <label>
        CPUs
        <input name="cpus" type="number" min="1" max="256" placeholder="container's" />
      </label>
      <label class="wide">
        Kernel arguments (added)
        <input name="cmdline" autocomplete="off" placeholder="e.g. quiet" />
      </label>
      <button type="submit" class="primary">
        Boot
      </button>
      <p class="boot-status" role="status" />
    </form>
  </article>
);

/** One VM: state, address, uptime, serial console, Stop. */
export const VmCard: FC<{ v: VmInfo }> = ({ v }) => (
  <article class="vm" data-vm={v.vm_id} data-entry={v.entry_id} data-status={v.status} data-started={v.started_at ?? ""} data-stopped={v.stopped_at ?? ""} aria-labelledby={`t-${v.vm_id}`}>
    <header>
      <h3 id={`t-${v.vm_id}`}>{v.entry_name}</h3>
      <span class={`badge state ${v.status}`} data-field="status">
        {v.stopping && (v.status === "running" || v.status === "booting") ? "stopping" : v.status}
      </span>
      <code class="vmid">{v.vm_id}</code>
    </header>
    <dl class="facts compact">
      <dt>pid</dt>
      <dd data-field="pid">{v.pid !== null ? String(v.pid) : "—"}</dd>
      <dt>uptime</dt>
      <dd data-field="uptime">{v.uptime_seconds !== null ? `${v.uptime_seconds} s` : "—"}</dd>
      <dt>VNC</dt>
      <dd data-field="vnc">{v.vnc_port !== null && (v.status === "running" || v.status === "booting") ? <code>{`${v.vnc_host}:${v.vnc_port}`}</code> : "—"}</dd>
      <dt>guest</dt>
      <dd data-field="guest">{v.memory ? `${v.memory}, ${v.cpus} CPU${v.cpus === 1 ? "" : "s"}, ${v.accel === "kvm" ? "KVM" : "TCG"}` : "—"}</dd>
    </dl>
    <p class="vm-error" data-field="error" role="status">
      {v.error_message ?? ""}
    </p>
    <pre class="serial" tabindex={0} aria-label={`Serial console of ${v.entry_name}`} />
    <button type="button" class="danger" data-action="stop" disabled={!(v.status === "running" || v.status === "booting") || v.stopping}>
      Stop
    </button>
  </article>
);

export const VmList: FC<{ vms: VmInfo[] }> = ({ vms }) => (
  <>
    {[...vms].reverse().map((v) => (
      <VmCard v={v} />
    ))}
  </>
);
