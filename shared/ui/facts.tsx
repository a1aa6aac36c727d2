/** @jsxImportSource hono/jsx */
/**
 * An entry's facts: a definition list (ids, sizes, both digests labelled "file sha256" and
 * "payload sha256", dates, source, signer key ids) and its segments table. Shared by the
 * Worker's detail page and the boot host's console; hono/jsx escapes every value.
 */
import type { FC } from "hono/jsx";
import type { CatalogEntry, SegmentSummary } from "../catalog.js";
import { formatSize } from "./format.js";
import { SourceTag } from "./tile.js";

const Fact: FC<{ label: string; children?: unknown }> = ({ label, children }) => (
  <>
    <dt>{label}</dt>
    <dd>{children === null || children === undefined || children === "" ? <span class="none">—</span> : children}</dd>
  </>
);

const Digest: FC<{ value: string | null }> = ({ value }) => (value ? <code class="digest">{value}</code> : null);

const date = (iso: string | null) => (iso ? <time datetime={iso}>{iso.replace("T", " ").replace(/\.\d+Z$/, "Z")}</time> : null);

export const EntryFacts: FC<{ e: CatalogEntry }> = ({ e }) => (
  <dl class="facts">
    <Fact label="id">
      <code>{e.id}</code>
    </Fact>
    <Fact label="source">
      <SourceTag name={e.source.name} color={e.source.color} />
      {e.also_from?.length ? <span class="also"> also on {e.also_from.map((s) => s.name).join(", ")}</span> : null}
    </Fact>
    <Fact label="type">{e.type}</Fact>
    <Fact label="distro">{e.distro}</Fact>
    <Fact label="architecture">{e.architecture}</Fact>
    <Fact label="kernel">{e.kernel_version}</Fact>
    <Fact label="version">{e.content_version}</Fact>
    <Fact label="file size">{`${formatSize(e.size)} (${e.size.toLocaleString("en")} bytes)`}</Fact>
    <Fact label="file sha256">
      <Digest value={e.sha256} />
    </Fact>
    <Fact label="payload sha256">
      <Digest value={e.data_hash} />
    </Fact>
    <Fact label="payload size">{e.data_size !== null ? `${formatSize(e.data_size)} (${e.data_size.toLocaleString("en")} bytes)` : null}</Fact>
    <Fact label="image">{e.grid_size !== null ? `${e.grid_size} × ${e.grid_size} pixels` : null}</Fact>
    <Fact label="published">{date(e.updated_at)}</Fact>
    <Fact label="signer key ids">
      {e.signatures?.length ? (
        <ul class="keyids">
          {e.signatures.map((s) => (
            <li>
              <code>{s.keyid}</code> <span class="signed-at">signed {s.signed_at}{s.name && s.name !== e.name ? ` for ${s.name}` : ""}</span>
            </li>
          ))}
        </ul>
      ) : e.signatures ? (
        "unsigned"
      ) : null}
    </Fact>
  </dl>
);

export const Segments: FC<{ segments: SegmentSummary[] }> = ({ segments }) =>
  segments.length ? (
    <div class="table-wrap">
      <table class="segments">
        <caption>Segments</caption>
        <thead>
          <tr>
            <th scope="col">name</th>
            <th scope="col">type</th>
            <th scope="col">size</th>
            <th scope="col">offset</th>
            <th scope="col">sha256</th>
          </tr>
        </thead>
        <tbody>
          {segments.map((s) => (
            <tr>
              <td>{s.name}</td>
              <td>{s.type ?? "—"}</td>
              <td>{s.size !== null ? formatSize(s.size) : "—"}</td>
              <td>{s.start !== null ? String(s.start) : "—"}</td>
              <td>{s.sha256 ? <code class="digest short" title={s.sha256}>{s.sha256.slice(0, 16)}…</code> : "—"}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  ) : null;

/** A command line with a copy button (`data-copy`); the page's script does the copying. */
export const CopyCommand: FC<{ label: string; command: string; id: string }> = ({ label, command, id }) => (
  <div class="command">
    <span class="command-label" id={`${id}-label`}>
      {label}
    </span>
    <code id={id}>{command}</code>
    <button type="button" class="copy" data-copy={command} aria-describedby={`${id}-label`} hidden>
      Copy
    </button>
  </div>
);
