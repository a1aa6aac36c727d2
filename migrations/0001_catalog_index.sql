-- The catalog index (docs/WORKER.md, "Catalog index"): D1 mirrors the R2 pointers so that every
-- catalog request costs a constant few queries. R2 stays the source of truth for bytes and
-- pointers; `npm run reindex` and the cron rebuild this from R2.

-- One row per container name. A deleted name keeps its row (live = 0) so that a late write of an
-- older pointer version can never bring it back: rows change only to a higher or equal `seq`.
CREATE TABLE entries (
  name TEXT PRIMARY KEY,          -- container name; BINARY order = R2 list order of containers/<name>
  live INTEGER NOT NULL,          -- 1: live pointer; 0: tombstone
  seq INTEGER NOT NULL,           -- pointer version number (+1 per compare-and-swap of the pointer)
  pointer_etag TEXT,              -- R2 ETag of the pointer version this row mirrors
  sha256 TEXT,                    -- the file's SHA-256 (hex)
  size INTEGER,
  data_hash TEXT,
  data_size INTEGER,
  grid_size INTEGER,
  type TEXT,
  distro TEXT,
  arch TEXT,
  arch_norm TEXT,                 -- normalizeArch(arch): amd64 = x86_64, arm64 = aarch64
  kernel_version TEXT,
  description TEXT,
  content_version TEXT,
  segments TEXT,                  -- JSON [[name, type, size, start, sha256], ...]
  gen TEXT,                       -- blob generation: blobs/sha256/<sha256>/<gen>
  blob_etag TEXT,                 -- ETag of that verified object
  link TEXT,
  published_at TEXT,              -- ISO-8601
  published_ms INTEGER,           -- the same, for sorting and keyset pages
  thumb TEXT,                     -- thumbnail id (thumbnails/<name>/<thumb>.png), or NULL
  thumb_inline TEXT               -- base64 PNG of at most 32 KiB (the upload, or a smaller copy), or NULL
);
CREATE INDEX entries_by_date ON entries (live, published_ms DESC, name);
CREATE INDEX entries_by_distro ON entries (live, distro COLLATE NOCASE, name);
CREATE INDEX entries_by_arch ON entries (live, arch_norm, name);
CREATE INDEX entries_by_type ON entries (live, type COLLATE NOCASE, name);
CREATE INDEX entries_by_sha ON entries (sha256);

-- Full-text search over what people type: name, description, distro, arch, kernel version.
CREATE VIRTUAL TABLE entries_fts USING fts5(
  name, description, distro, arch, kernel_version,
  content = 'entries', content_rowid = 'rowid',
  tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3'
);
CREATE TRIGGER entries_fts_insert AFTER INSERT ON entries BEGIN
  INSERT INTO entries_fts (rowid, name, description, distro, arch, kernel_version)
  VALUES (new.rowid, new.name, new.description, new.distro, new.arch, new.kernel_version);
END;
CREATE TRIGGER entries_fts_delete AFTER DELETE ON entries BEGIN
  INSERT INTO entries_fts (entries_fts, rowid, name, description, distro, arch, kernel_version)
  VALUES ('delete', old.rowid, old.name, old.description, old.distro, old.arch, old.kernel_version);
END;
CREATE TRIGGER entries_fts_update AFTER UPDATE ON entries BEGIN
  INSERT INTO entries_fts (entries_fts, rowid, name, description, distro, arch, kernel_version)
  VALUES ('delete', old.rowid, old.name, old.description, old.distro, old.arch, old.kernel_version);
  INSERT INTO entries_fts (rowid, name, description, distro, arch, kernel_version)
  VALUES (new.rowid, new.name, new.description, new.distro, new.arch, new.kernel_version);
END;

-- Signature summaries per blob (signatures/<sha256>/<keyid> in R2).
CREATE TABLE signatures (
  sha256 TEXT NOT NULL,
  keyid TEXT NOT NULL,
  name TEXT NOT NULL,
  signed_at TEXT NOT NULL,
  signed_ms INTEGER NOT NULL,
  life INTEGER NOT NULL,          -- register life the envelope was written in
  PRIMARY KEY (sha256, keyid)
) WITHOUT ROWID;

-- Counters and progress: 'version' (+1 on every index write: catalog ETags and page caches),
-- 'reindex' (the cron's cursor, in `text`).
CREATE TABLE meta (
  key TEXT PRIMARY KEY,
  value INTEGER NOT NULL DEFAULT 0,
  text TEXT
) WITHOUT ROWID;
INSERT INTO meta (key, value) VALUES ('version', 1);

-- Remote catalogs, cached per source (normalized entries as JSON, split into parts under D1's
-- 2 MB row limit), so a cold isolate does not ask the remotes again while they are fresh.
CREATE TABLE remote_cache (
  source_key TEXT NOT NULL,       -- hash of the source's config (id, url, limits)
  part INTEGER NOT NULL,          -- 0: the head row (status, times); 1..n: entry JSON parts
  fetched_ms INTEGER NOT NULL,
  body TEXT NOT NULL,
  PRIMARY KEY (source_key, part)
) WITHOUT ROWID;
