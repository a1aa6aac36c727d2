/**
 * Container names, the one grammar the Worker (ids in URLs and R2 keys), signature statements
 * and the agent share: 1–128 of `A-Z a-z 0-9 . _ -`, starting with a letter or digit, no `..`.
 */
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function isContainerName(name: unknown): name is string {
  return typeof name === "string" && NAME_RE.test(name) && !name.includes("..");
}

export const CONTAINER_NAME_RULE = "1-128 characters of A-Z a-z 0-9 . _ -, starting with a letter or digit, without '..'";
