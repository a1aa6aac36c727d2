export { createReporter, renderBar, type Reporter, type ReporterOptions } from "./reporter.js";
export { SpeedMeter, formatBytes, formatDuration } from "./speed.js";
export type { PullEvent, PullEventSink } from "./events.js";
