import type { ServeApp, ServeState } from "../state.js";

export function consoleRoutes(app: ServeApp, _s: ServeState): void {
  app.get("/", (c) => c.text("console: to do"));
}
