/**
 * One key style for every `--json` output: snake_case (like the Worker's catalog JSON and the
 * NDJSON events). Internal records use camelCase; they pass through here on the way out.
 * Container metadata is data, not ours to rename: leave it out of what you convert.
 */
export function snakeKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(snakeKeys);
  if (value === null || typeof value !== "object") return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)] = snakeKeys(v);
  return out;
}
