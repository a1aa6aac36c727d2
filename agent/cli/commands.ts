import type { Command } from "./command.js";
import { extractCommand } from "../commands/extract.js";
import { inspectCommand } from "../commands/inspect.js";
import { packCommand } from "../commands/pack.js";
import { bootCommand } from "../commands/boot.js";
import { publishCommand } from "../commands/publish.js";
import { cacheCommand } from "../commands/cache.js";
import { catalogCommand } from "../commands/catalog.js";
import { pullCommand } from "../commands/pull.js";
import { serversCommand } from "../commands/servers.js";
import { keyCommand } from "../commands/key.js";
import { signCommand, verifyCommand } from "../commands/sign.js";
import { trustCommand } from "../commands/trust.js";
import { serveCommand } from "../commands/serve.js";

/** The command table: `pixelrts NAME ...` runs the entry whose name matches. */
export const COMMANDS: Command[] = [packCommand, inspectCommand, extractCommand, serversCommand, catalogCommand, pullCommand, bootCommand, publishCommand, cacheCommand, keyCommand, signCommand, verifyCommand, trustCommand, serveCommand];
