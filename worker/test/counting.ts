/**
 * Storage bindings that count their calls (each R2 method call, each D1 statement execution or
 * batch: what Cloudflare counts against a request's subrequest/query limits), around the real
 * ones, so tests can assert a route's storage calls stay bounded whatever the catalog size.
 */

export interface Counter {
  r2: string[];
  d1: string[];
  reset(): void;
}

export function newCounter(): Counter {
  const c: Counter = {
    r2: [],
    d1: [],
    reset() {
      c.r2.length = 0;
      c.d1.length = 0;
    },
  };
  return c;
}

export function countingBucket(inner: R2Bucket, counter: Counter): R2Bucket {
  const note = (s: string) => counter.r2.push(s);
  const wrapUpload = (u: R2MultipartUpload): R2MultipartUpload => ({
    key: u.key,
    uploadId: u.uploadId,
    uploadPart: (...a: Parameters<R2MultipartUpload["uploadPart"]>) => (note(`uploadPart ${u.key}`), u.uploadPart(...a)),
    abort: () => (note(`abort ${u.key}`), u.abort()),
    complete: (parts: R2UploadedPart[]) => (note(`complete ${u.key}`), u.complete(parts)),
  });
  return {
    head: (key: string) => (note(`head ${key}`), inner.head(key)),
    get: (key: string, o?: R2GetOptions) => (note(`get ${key}`), inner.get(key, o)),
    put: (...a: Parameters<R2Bucket["put"]>) => (note(`put ${a[0]}`), inner.put(...a)),
    delete: (keys: string | string[]) => (note(`delete ${[keys].flat().join(",")}`), inner.delete(keys)),
    list: (o?: R2ListOptions) => (note(`list ${o?.prefix ?? ""}`), inner.list(o)),
    createMultipartUpload: async (key: string, o?: R2MultipartOptions) => (note(`createMultipartUpload ${key}`), wrapUpload(await inner.createMultipartUpload(key, o))),
    resumeMultipartUpload: (key: string, uploadId: string) => wrapUpload(inner.resumeMultipartUpload(key, uploadId)),
  } as unknown as R2Bucket;
}

const INNER = Symbol("inner");

type Wrapped = D1PreparedStatement & { [INNER]: D1PreparedStatement };

/**
 * A D1Database whose executions are numbered `steps` (via `before`, which may also hold the call:
 * the gated bindings use it); statements unwrap to the real ones inside `batch`.
 */
export function wrapDb(inner: D1Database, before: (call: string) => Promise<void> | void): D1Database {
  const short = (sql: string) => sql.replace(/\s+/g, " ").trim().slice(0, 60);
  const wrap = (stmt: D1PreparedStatement, sql: string): Wrapped => {
    const w = {
      [INNER]: stmt,
      bind: (...values: unknown[]) => wrap(stmt.bind(...values), sql),
      first: async (col?: string) => (await before(`first ${short(sql)}`), col === undefined ? stmt.first() : stmt.first(col)),
      all: async () => (await before(`all ${short(sql)}`), stmt.all()),
      run: async () => (await before(`run ${short(sql)}`), stmt.run()),
      raw: async (o?: { columnNames?: boolean }) => (await before(`raw ${short(sql)}`), stmt.raw(o as { columnNames: true })),
    };
    return w as unknown as Wrapped;
  };
  return {
    prepare: (sql: string) => wrap(inner.prepare(sql), sql),
    batch: async (stmts: D1PreparedStatement[]) => {
      await before(`batch ${stmts.length}`);
      return inner.batch(stmts.map((s) => (s as Wrapped)[INNER] ?? s));
    },
    exec: async (sql: string) => (await before(`exec ${short(sql)}`), inner.exec(sql)),
    dump: () => inner.dump(),
    withSession: () => {
      throw new Error("withSession is not used by the Worker");
    },
  } as unknown as D1Database;
}

export function countingDb(inner: D1Database, counter: Counter): D1Database {
  return wrapDb(inner, (call) => {
    counter.d1.push(call);
  });
}
