/** @jsxImportSource hono/jsx */
/**
 * A container's page: its pixels, description, the commands to use it (servers add, pull, and
 * boot only when the host could boot it), its facts (both digests labelled, dates, source,
 * signer key ids) and segments, and links to the bytes and the JSON entry.
 */
import type { FC } from "hono/jsx";
import type { CatalogEntry } from "../../shared/catalog";
import { CopyCommand, EntryFacts, Segments } from "../../shared/ui/facts";
import { entryCommands } from "../../shared/ui/format";
import { SourceTag, Thumbnail } from "../../shared/ui/tile";
import { Layout } from "./layout";

export const DetailPage: FC<{ e: CatalogEntry; origin: string; catalogName: string; local: boolean }> = ({ e, origin, catalogName, local }) => {
  const cmd = entryCommands(e, origin);
  return (
    <Layout title={`${e.name} · ${catalogName}`}>
      <header class="site">
        <p>
          <a href="/">← {catalogName}</a>
        </p>
      </header>
      <main>
        <div class="detail-head">
          <Thumbnail e={e} size={192} alt={`pixels of ${e.name}`} />
          <div>
            <h1>{e.name}</h1>
            <SourceTag name={e.source.name} color={e.source.color} />
          </div>
        </div>
        {e.description ? <p class="desc">{e.description}</p> : null}
        <section class="use" aria-labelledby="use-title">
          <h2 id="use-title">Use it</h2>
          <CopyCommand id="cmd-servers-add" label="1. Add its server" command={cmd.serversAdd} />
          <CopyCommand id="cmd-pull" label="2. Pull it into the local cache" command={cmd.pull} />
          {cmd.boot ? (
            <CopyCommand id="cmd-boot" label="3. Boot it" command={cmd.boot} />
          ) : (
            <p class="note">Not bootable: {e.type ? `a ${e.type} container` : "its type is unknown"} without a kernel or disk to boot.</p>
          )}
        </section>
        <EntryFacts e={e} />
        <Segments segments={e.segments} />
        <p>
          {e.url ? (
            <>
              <a href={e.url}>Download the file</a>
              {" · "}
            </>
          ) : null}
          {e.blob_url ? (
            <>
              <a href={e.blob_url}>by its digest</a>
              {" · "}
            </>
          ) : null}
          {local ? <a href={`/api/v1/catalog/${encodeURIComponent(e.id)}`}>JSON entry</a> : <span>listed by {e.source.name}</span>}
        </p>
      </main>
    </Layout>
  );
};
