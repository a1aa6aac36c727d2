import type { Command } from "./command.js";
import { extractCommand } from "../commands/extract.js";
import { inspectCommand } from "../commands/inspect.js";
import { packCommand } from "../commands/pack.js";

/** The command table: `pixelrts NAME ...` runs the entry whose name matches. */
export const COMMANDS: Command[] = [packCommand, inspectCommand, extractCommand];
