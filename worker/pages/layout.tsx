/** @jsxImportSource hono/jsx */
/** The HTML shell of the catalog pages: viewport, light/dark colours, the copy-button script. */
import type { Child, FC } from "hono/jsx";
import { raw } from "hono/html";
import { COPY_SCRIPT, CSS } from "./assets";

export const Layout: FC<{ title: string; children?: Child }> = ({ title, children }) => (
  <html lang="en">
    <head>
      <meta charset="utf-8" />
      <meta name="viewport" content="width=device-width, initial-scale=1" />
      <meta name="color-scheme" content="light dark" />
      <link rel="icon" href="data:," />
      <title>{title}</title>
      <style>{raw(CSS)}</style>
    </head>
    <body>
      <div class="wrap">{children}</div>
      <script>{raw(COPY_SCRIPT)}</script>
    </body>
  </html>
);

/** `<!doctype html>` + the rendered page. */
export function document(node: unknown): string {
  return `<!doctype html>${String(node)}`;
}
