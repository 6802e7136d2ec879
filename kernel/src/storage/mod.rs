//! RocksDB, embedded, under the data directory.
//!
//! One database holds everything; the key's first segment says whose it is
//! (`acct/`, `plug/`), and [`Storage::scoped`] hands out views that can only
//! name keys under their own prefix. Writes that a protocol promises to keep
//! are synced before they return.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use rocksdb::{DB, Direction, IteratorMode, Options, WriteBatch, WriteOptions};

#[derive(Clone)]
pub struct Storage {
    db: Arc<DB>,
    path: PathBuf,
}

/// One write in an atomic batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchOp {
    Put(Vec<u8>, Vec<u8>),
    Delete(Vec<u8>),
}

impl Storage {
    /// Opens (creating if needed) the database in `dir`. RocksDB admits one
    /// process at a time; the error says so when another holds the lock.
    pub fn open(dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating data directory {}", dir.display()))?;
        let path = dir.join("db");
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.set_max_open_files(256);
        opts.set_keep_log_file_num(4);
        let db = DB::open(&opts, &path).map_err(|e| {
            if e.to_string().contains("lock") {
                anyhow::anyhow!(
                    "the database at {} is in use by another process (is `waxwing serve` running? \
                     talk to it through its admin socket instead): {e}",
                    path.display()
                )
            } else {
                anyhow::anyhow!("opening the database at {}: {e}", path.display())
            }
        })?;
        Ok(Storage { db: Arc::new(db), path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn synced() -> WriteOptions {
        let mut w = WriteOptions::default();
        w.set_sync(true);
        w
    }

    pub fn get(&self, key: &[u8]) -> anyhow::Result<Option<Vec<u8>>> {
        self.db.get(key).context("storage read")
    }

    /// Durable before it returns.
    pub fn put(&self, key: &[u8], value: &[u8]) -> anyhow::Result<()> {
        self.db.put_opt(key, value, &Self::synced()).context("storage write")
    }

    pub fn delete(&self, key: &[u8]) -> anyhow::Result<()> {
        self.db.delete_opt(key, &Self::synced()).context("storage delete")
    }

    /// Keys starting with `prefix`, in order, after `start_after` if non-empty, at most `limit`.
    pub fn scan(&self, prefix: &[u8], start_after: &[u8], limit: usize) -> anyhow::Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let from: Vec<u8> = if start_after.is_empty() {
            prefix.to_vec()
        } else {
            let mut k = start_after.to_vec();
            k.push(0);
            k
        };
        let mut out = Vec::new();
        for item in self.db.iterator(IteratorMode::From(&from, Direction::Forward)) {
            let (k, v) = item.context("storage scan")?;
            if !k.starts_with(prefix) || out.len() >= limit {
                break;
            }
            out.push((k.to_vec(), v.to_vec()));
        }
        Ok(out)
    }

    /// All or nothing, durable before it returns.
    pub fn batch(&self, ops: &[BatchOp]) -> anyhow::Result<()> {
        let mut b = WriteBatch::default();
        for op in ops {
            match op {
                BatchOp::Put(k, v) => b.put(k, v),
                BatchOp::Delete(k) => b.delete(k),
            }
        }
        self.db.write_opt(b, &Self::synced()).context("storage batch")
    }

    /// Deletes every key under `prefix` (a range tombstone: as cheap for a
    /// million keys as for one), durable before it returns.
    pub fn delete_prefix(&self, prefix: &[u8]) -> anyhow::Result<()> {
        let Some(end) = prefix_end(prefix) else { anyhow::bail!("storage: an empty prefix would delete everything") };
        let mut b = WriteBatch::default();
        b.delete_range(prefix, &end);
        self.db.write_opt(b, &Self::synced()).context("storage range delete")
    }

    /// A view confined to keys under `prefix`.
    pub fn scoped(&self, prefix: impl Into<Vec<u8>>) -> ScopedStorage {
        ScopedStorage { storage: self.clone(), prefix: prefix.into() }
    }

    /// Flushes memtables so a restart replays nothing; called at shutdown.
    pub fn flush(&self) -> anyhow::Result<()> {
        self.db.flush().context("storage flush")
    }
}

/// The first key after every key that starts with `prefix`.
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// Storage seen through a fixed key prefix. Keys given to it are relative;
/// the prefix ends in a separator that no relative key can escape, because
/// every key is simply appended. Writes go to the whole database with
/// [`full`](Self::full) keys, so one batch can span several scopes (a plugin
/// call's kv, datasets and filter scope commit together).
#[derive(Clone)]
pub struct ScopedStorage {
    storage: Storage,
    prefix: Vec<u8>,
}

impl ScopedStorage {
    /// The whole database, for writes committed together across scopes.
    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    pub fn prefix(&self) -> &[u8] {
        &self.prefix
    }

    /// The database key behind a key of this scope.
    pub fn full(&self, key: &[u8]) -> Vec<u8> {
        let mut k = Vec::with_capacity(self.prefix.len() + key.len());
        k.extend_from_slice(&self.prefix);
        k.extend_from_slice(key);
        k
    }

    /// Like [`Storage::scan`], with keys returned relative to the scope.
    pub fn scan(&self, prefix: &[u8], start_after: &[u8], limit: usize) -> anyhow::Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let start = if start_after.is_empty() { Vec::new() } else { self.full(start_after) };
        let rows = self.storage.scan(&self.full(prefix), &start, limit)?;
        Ok(rows.into_iter().map(|(k, v)| (k[self.prefix.len()..].to_vec(), v)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_cannot_see_each_other() {
        let dir = crate::testutil::tempdir("storage");
        let s = Storage::open(&dir).unwrap();
        let a = s.scoped(b"plug/h/a/".to_vec());
        let b = s.scoped(b"plug/h/ab/".to_vec());
        s.put(&a.full(b"k"), b"1").unwrap();
        s.put(&b.full(b"k"), b"2").unwrap();
        assert_eq!(s.get(&a.full(b"k")).unwrap().as_deref(), Some(&b"1"[..]));
        assert_eq!(a.scan(b"", b"", 10).unwrap(), vec![(b"k".to_vec(), b"1".to_vec())]);
        s.batch(&[BatchOp::Put(a.full(b"x"), b"y".to_vec()), BatchOp::Delete(a.full(b"k"))]).unwrap();
        assert_eq!(a.scan(b"", b"", 10).unwrap(), vec![(b"x".to_vec(), b"y".to_vec())]);
        assert_eq!(s.get(&b.full(b"k")).unwrap().as_deref(), Some(&b"2"[..]));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn delete_prefix_takes_only_its_keys() {
        let dir = crate::testutil::tempdir("storage");
        let s = Storage::open(&dir).unwrap();
        for k in ["acct/a.example/x", "acct/a.example/y", "acct/a.example.org/z", "acct/a.exampl/w", "acct/b/x"] {
            s.put(k.as_bytes(), b"1").unwrap();
        }
        s.delete_prefix(b"acct/a.example/").unwrap();
        let left: Vec<String> =
            s.scan(b"acct/", b"", 10).unwrap().into_iter().map(|(k, _)| String::from_utf8(k).unwrap()).collect();
        assert_eq!(left, ["acct/a.exampl/w", "acct/a.example.org/z", "acct/b/x"]);
        assert!(s.delete_prefix(b"").is_err(), "an empty prefix is refused");
        assert_eq!(prefix_end(&[b'a', 0xff]), Some(vec![b'b']));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn scan_pages() {
        let dir = crate::testutil::tempdir("storage");
        let s = Storage::open(&dir).unwrap();
        for i in 0..5u8 {
            s.put(&[b'p', i], &[i]).unwrap();
        }
        let first = s.scan(b"p", b"", 2).unwrap();
        assert_eq!(first.len(), 2);
        let next = s.scan(b"p", &first[1].0, 10).unwrap();
        assert_eq!(next.len(), 3);
        assert_eq!(next[0].0, vec![b'p', 2]);
        let _ = std::fs::remove_dir_all(dir);
    }
}
