/**
 * The catalog page's stylesheet and its only script (copy buttons), inlined in every page.
 * Classes used by the shared components (shared/ui): .tile .tile-link .tile-name .tile-facts
 * .tile-signed .thumb .noimg .source-tag .swatch (colour from --source), .facts .digest .none
 * .keyids .segments .table-wrap .command .command-label .copy.
 * Light and dark colours (prefers-color-scheme) both keep text at 4.5:1 or more; nothing is wider
 * than the viewport (digests and commands wrap, tables scroll inside their box); thumbnails are
 * shown pixelated (they are pixels of the container).
 */

export const CSS = `
:root{color-scheme:light dark;--bg:#ffffff;--fg:#1b1f24;--muted:#535b66;--line:#d5dae1;--card:#f5f7fa;--accent:#1f5fbf;--code:#eef1f5}
@media (prefers-color-scheme:dark){:root{--bg:#111418;--fg:#e7eaee;--muted:#a9b1bb;--line:#2e353e;--card:#1a1f25;--accent:#8ab4ff;--code:#222932}}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--fg);font:16px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif}
a{color:var(--accent)}
a:focus-visible,button:focus-visible,input:focus-visible,select:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
.wrap{max-width:72rem;margin:0 auto;padding:1rem}
header.site{display:flex;flex-wrap:wrap;gap:.5rem 1.5rem;align-items:baseline;border-bottom:1px solid var(--line);padding-bottom:.75rem;margin-bottom:1rem}
header.site h1{margin:0;font-size:1.5rem}
header.site p{margin:0;color:var(--muted)}
code{font:0.9em/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:var(--code);padding:.05em .3em;border-radius:3px;overflow-wrap:anywhere;word-break:break-all}
form.search{display:flex;flex-wrap:wrap;gap:.5rem .75rem;align-items:flex-end;margin:0 0 1rem}
form.search label{display:flex;flex-direction:column;font-size:.85rem;color:var(--muted);min-width:0}
form.search .q{flex:1 1 14rem}
input,select,button{font:inherit;color:var(--fg);background:var(--bg);border:1px solid var(--line);border-radius:6px;padding:.35rem .5rem;max-width:100%}
button{cursor:pointer}
button.primary,form.search button{background:var(--accent);color:var(--bg);border-color:var(--accent)}
.sources{display:flex;flex-wrap:wrap;gap:.5rem 1rem;list-style:none;padding:0;margin:0 0 1rem;font-size:.9rem}
.sources .status{color:var(--muted)}
.swatch{display:inline-block;width:.8em;height:.8em;border-radius:50%;background:var(--source,#808080);margin-right:.35em;vertical-align:-.05em;border:1px solid var(--line)}
.summary{color:var(--muted);margin:.5rem 0 1rem}
ul.tiles{list-style:none;padding:0;margin:0;display:grid;grid-template-columns:repeat(auto-fill,minmax(10rem,1fr));gap:1rem}
.tile{background:var(--card);border:1px solid var(--line);border-top:4px solid var(--source,#808080);border-radius:8px;padding:.6rem;display:flex;flex-direction:column;gap:.25rem;min-width:0}
.tile-link{display:flex;flex-direction:column;gap:.4rem;text-decoration:none;color:var(--fg);font-weight:600}
.tile-link:hover .tile-name{text-decoration:underline}
.tile-name{overflow-wrap:anywhere}
.tile-facts,.tile-signed{font-size:.8rem;color:var(--muted);overflow-wrap:anywhere}
.source-tag{font-size:.85rem;overflow-wrap:anywhere}
.thumb{image-rendering:pixelated;background:var(--code);border-radius:4px;display:block}
img.thumb{width:96px;height:96px}
.noimg{display:flex;align-items:center;justify-content:center;font-size:2rem;color:var(--muted)}
nav.pages{display:flex;flex-wrap:wrap;gap:.5rem;margin:1.5rem 0;align-items:center}
nav.pages a,nav.pages span{padding:.2rem .6rem;border:1px solid var(--line);border-radius:6px;text-decoration:none}
nav.pages [aria-current]{background:var(--accent);color:var(--bg);border-color:var(--accent)}
.detail-head{display:flex;flex-wrap:wrap;gap:1rem;align-items:flex-start;margin-bottom:1rem}
.detail-head img.thumb,.detail-head .thumb{width:192px;height:192px}
.detail-head h1{margin:0 0 .25rem;overflow-wrap:anywhere}
.desc{max-width:48rem}
dl.facts{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:.3rem 1rem;margin:1rem 0}
dl.facts dt{color:var(--muted)}
dl.facts dd{margin:0;min-width:0}
@media (max-width:32rem){dl.facts{grid-template-columns:minmax(0,1fr)}dl.facts dd{margin-bottom:.4rem}}
.none{color:var(--muted)}
ul.keyids{list-style:none;padding:0;margin:0}
.signed-at{color:var(--muted);font-size:.85rem}
.table-wrap{overflow-x:auto;max-width:100%}
table.segments{border-collapse:collapse;font-size:.9rem}
table.segments caption{text-align:left;font-weight:600;margin-bottom:.3rem}
table.segments th,table.segments td{border-bottom:1px solid var(--line);padding:.25rem .6rem;text-align:left}
section.use{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:.75rem 1rem;margin:1rem 0}
section.use h2{font-size:1.1rem;margin:0 0 .5rem}
.command{display:flex;flex-wrap:wrap;gap:.25rem .75rem;align-items:center;margin:.4rem 0}
.command-label{flex:0 0 100%;font-size:.85rem;color:var(--muted)}
.command code{flex:1 1 12rem;padding:.3rem .5rem;white-space:pre-wrap}
.note{color:var(--muted)}
footer{border-top:1px solid var(--line);margin-top:2rem;padding-top:.75rem;color:var(--muted);font-size:.9rem}
.visually-hidden{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
`;

/** Copy buttons: shown only when scripts run; copy with the Clipboard API, else select the text. */
export const COPY_SCRIPT = `
for (const b of document.querySelectorAll("button.copy[data-copy]")) {
  b.hidden = false;
  b.addEventListener("click", async () => {
    const text = b.getAttribute("data-copy");
    try {
      await navigator.clipboard.writeText(text);
      b.textContent = "Copied";
    } catch {
      const code = b.parentElement.querySelector("code");
      const range = document.createRange();
      range.selectNodeContents(code);
      const sel = getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
      b.textContent = "Selected: press Ctrl+C";
    }
    b.setAttribute("data-copied", text);
    setTimeout(() => { b.textContent = "Copy"; }, 2000);
  });
}
`;
