/** What every route of `pixelrts serve` works with, built once in index.ts. */
import type { Hono } from "hono";
import type { SourceInfo } from "../../shared/catalog.js";
import type { VmSupervisor } from "../boot/vm.js";
import type { AgentContext } from "../context.js";
import type { BootDeps } from "./boots.js";
import type { CatalogView } from "./catalog-view.js";
import type { EventBus } from "./events.js";
import type { LayoutStore } from "./layout.js";
import type { PullManager } from "./pulls.js";
import type { RequestTrust } from "./security.js";
import type { ThumbnailCache } from "./thumbnails.js";

export interface ServeState {
  agent: AgentContext;
  view: CatalogView;
  vms: VmSupervisor;
  pulls: PullManager;
  bus: EventBus;
  layout: LayoutStore;
  boot: BootDeps;
  thumbs: ThumbnailCache;
  /** This server as a catalog source (its URL is the request's origin). */
  source: (origin: string) => SourceInfo;
  version: string;
}

export type ServeEnv = { Variables: { trust: RequestTrust } };
export type ServeApp = Hono<ServeEnv>;
