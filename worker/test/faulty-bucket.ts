/**
 * A real R2Bucket around another one (normally `env.BUCKET`) whose calls can misbehave the ways
 * R2 may: a conditional put that lands but is answered with null (a write the binding retried),
 * one that is lost (null, nothing written), or any call that throws. `pick` sees every call in
 * order (`method`, `key`, and `n`: how many calls of that method on that key came before) and
 * returns the fault for it, if any; `after` runs once the real call is done and before the caller
 * gets its answer (another request can complete there).
 */

export type Fault = { kind: "lands-null"; after?: () => Promise<void> } | { kind: "lost" } | { kind: "throws" } | { kind: "after"; after: () => Promise<void> };

export interface FaultyBucket {
  bucket: R2Bucket;
  /** Every call made so far, e.g. `put containers/demo`, with `!` appended when a fault was applied. */
  calls: string[];
}

export function faultyBucket(inner: R2Bucket, pick: (call: { method: string; key: string; n: number }) => Fault | undefined): FaultyBucket {
  const calls: string[] = [];
  const seen = new Map<string, number>();
  async function run<T>(method: string, key: string, real: () => Promise<T>, nullish: T): Promise<T> {
    const id = `${method} ${key}`;
    const n = seen.get(id) ?? 0;
    seen.set(id, n + 1);
    const fault = pick({ method, key, n });
    calls.push(fault ? `${id}!` : id);
    if (!fault) return real();
    if (fault.kind === "throws") throw new Error(`injected R2 failure: ${id}`);
    if (fault.kind === "lost") return nullish;
    const answer = await real();
    await fault.after?.();
    return fault.kind === "lands-null" ? nullish : answer;
  }
  const bucket = {
    head: (key: string) => run("head", key, () => inner.head(key), null),
    get: (key: string, o?: R2GetOptions) => run("get", key, () => inner.get(key, o), null),
    put: (...a: Parameters<R2Bucket["put"]>) => run("put", a[0], () => inner.put(...a), null),
    delete: (keys: string | string[]) => run("delete", [keys].flat().join(","), () => inner.delete(keys), undefined),
    list: (o?: R2ListOptions) => run("list", o?.prefix ?? "", () => inner.list(o), { objects: [], truncated: false, delimitedPrefixes: [] } as unknown as R2Objects),
    createMultipartUpload: (key: string, o?: R2MultipartOptions) => inner.createMultipartUpload(key, o),
    resumeMultipartUpload: (key: string, uploadId: string) => inner.resumeMultipartUpload(key, uploadId),
  } as unknown as R2Bucket;
  return { bucket, calls };
}
