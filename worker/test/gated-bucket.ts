/**
 * A real R2Bucket around another one (normally `env.BUCKET`) that can hold one of its calls
 * until the test opens a gate: the test learns that the call was reached (`reached`), does
 * whatever should happen "meanwhile", then calls `open()`. Events, not sleeps. Every call,
 * including the methods of multipart upload handles, is one numbered step in `calls`.
 */

export interface GatedBucket {
  bucket: R2Bucket;
  /** Every call made so far, in order, e.g. `put containers/demo`. */
  calls: string[];
  /** Resolves with the held call once the bucket is holding it. */
  reached: Promise<string>;
  /** Lets the held call (and every later one) through. */
  open(): void;
}

export interface Gate {
  /** Numbers one call and holds it when it is the one picked. */
  step(call: string): Promise<void>;
  calls: string[];
  reached: Promise<string>;
  open(): void;
}

/** `holdBefore(index, call)` picks the call to hold (the first one it accepts); others pass at once. */
export function makeGate(holdBefore: (index: number, call: string) => boolean): Gate {
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  let signal!: (call: string) => void;
  const reached = new Promise<string>((r) => (signal = r));
  const calls: string[] = [];
  let held = false;
  const step = async (call: string) => {
    const index = calls.push(call) - 1;
    if (!held && holdBefore(index, call)) {
      held = true;
      signal(call);
      await gate;
    }
  };
  return { step, calls, reached, open };
}

/** `holdBefore(index, call)` picks the call to hold (the first one it accepts); others pass at once. */
export function gatedBucket(inner: R2Bucket, holdBefore: (index: number, call: string) => boolean): GatedBucket {
  const g = makeGate(holdBefore);
  return { bucket: gatedBucketWith(inner, g), calls: g.calls, reached: g.reached, open: g.open };
}

/** A bucket whose every call is a step of `g` (shared with other gated bindings of one request). */
export function gatedBucketWith(inner: R2Bucket, g: Gate): R2Bucket {
  const step = g.step;
  const wrapUpload = (u: R2MultipartUpload): R2MultipartUpload => ({
    key: u.key,
    uploadId: u.uploadId,
    uploadPart: async (...a: Parameters<R2MultipartUpload["uploadPart"]>) => (await step(`uploadPart ${u.key}`), u.uploadPart(...a)),
    abort: async () => (await step(`abort ${u.key}`), u.abort()),
    complete: async (parts: R2UploadedPart[]) => (await step(`complete ${u.key}`), u.complete(parts)),
  });
  const bucket = {
    head: async (key: string) => (await step(`head ${key}`), inner.head(key)),
    get: async (key: string, o?: R2GetOptions) => (await step(`get ${key}`), inner.get(key, o)),
    put: async (...a: Parameters<R2Bucket["put"]>) => (await step(`put ${a[0]}`), inner.put(...a)),
    delete: async (keys: string | string[]) => (await step(`delete ${[keys].flat().join(",")}`), inner.delete(keys)),
    list: async (o?: R2ListOptions) => (await step(`list ${o?.prefix ?? ""}`), inner.list(o)),
    createMultipartUpload: async (key: string, o?: R2MultipartOptions) => (await step(`createMultipartUpload ${key}`), wrapUpload(await inner.createMultipartUpload(key, o))),
    resumeMultipartUpload: (key: string, uploadId: string) => wrapUpload(inner.resumeMultipartUpload(key, uploadId)),
  } as unknown as R2Bucket;
  return bucket;
}
