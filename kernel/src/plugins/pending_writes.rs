//! The writes of one plugin call (its `kv`, its datasets, its filter scope),
//! held until the call returns and then committed as one synced batch: one
//! fsync per call instead of one per put, all or nothing, and durable before
//! any reply of that call is routed. The call reads its own writes through
//! this overlay; other calls see them only once committed. Keys are whole
//! database keys: each host call names its own scope's.

use std::collections::BTreeMap;
use std::ops::Bound;

use crate::storage::{BatchOp, Storage};

/// Bytes (keys plus values) one call may write before committing. Far above
/// what any protocol write needs; it bounds the memory a runaway loop holds.
pub(crate) const MAX_PENDING_BYTES: usize = 64 << 20;

#[derive(Default)]
pub(crate) struct PendingWrites {
    /// `None` is a delete.
    ops: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    bytes: usize,
    /// How these writes change the bytes the tenant stores, once committed
    /// (counted only under a stored-bytes quota).
    pub stored_delta: i64,
}

fn weight(key: &[u8], value: &Option<Vec<u8>>) -> usize {
    key.len() + value.as_ref().map_or(0, Vec::len)
}

impl PendingWrites {
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// What this call wrote for `key`: `Some(None)` when it deleted it,
    /// `None` when it did not touch it.
    pub fn get(&self, key: &[u8]) -> Option<Option<&[u8]>> {
        self.ops.get(key).map(|v| v.as_deref())
    }

    /// Records writes, refusing all of them (and keeping what was there) when
    /// they would take the call past [`MAX_PENDING_BYTES`].
    pub fn record(&mut self, writes: impl IntoIterator<Item = (Vec<u8>, Option<Vec<u8>>)>) -> Result<(), String> {
        let writes: Vec<_> = writes.into_iter().collect();
        let mut bytes = self.bytes;
        let mut seen = BTreeMap::new();
        for (k, v) in &writes {
            let old = seen.get(k.as_slice()).copied().or_else(|| self.ops.get(k).map(|o| weight(k, o))).unwrap_or(0);
            let new = weight(k, v);
            bytes = bytes - old + new;
            seen.insert(k.as_slice(), new);
        }
        if bytes > MAX_PENDING_BYTES {
            return Err(format!(
                "this call's uncommitted writes would reach {bytes} bytes; one call may write at most {MAX_PENDING_BYTES}"
            ));
        }
        for (k, v) in writes {
            self.ops.insert(k, v);
        }
        self.bytes = bytes;
        Ok(())
    }

    /// This call's writes under `prefix` with keys in `(after, upto]`
    /// (`after` empty: from the prefix on; `upto` `None`: to the end).
    fn range<'a>(
        &'a self,
        prefix: &'a [u8],
        after: &[u8],
        upto: Option<&[u8]>,
    ) -> impl Iterator<Item = (&'a Vec<u8>, &'a Option<Vec<u8>>)> + 'a {
        let lower = if after.is_empty() { Bound::Included(prefix.to_vec()) } else { Bound::Excluded(after.to_vec()) };
        let upper = upto.map_or(Bound::Unbounded, |u| Bound::Included(u.to_vec()));
        self.ops.range::<Vec<u8>, _>((lower, upper)).take_while(move |(k, _)| k.starts_with(prefix))
    }

    /// The committed entries of `page` (a page of the store's scan, which
    /// continued after `after`; `complete` when the store has nothing more
    /// under the prefix) merged with this call's writes in the same key range,
    /// in key order.
    pub fn merge_page(
        &self,
        prefix: &[u8],
        after: &[u8],
        page: Vec<(Vec<u8>, Vec<u8>)>,
        complete: bool,
    ) -> Vec<(Vec<u8>, Vec<u8>)> {
        let upto = if complete { None } else { page.last().map(|(k, _)| k.clone()) };
        let mut mine = self.range(prefix, after, upto.as_deref()).peekable();
        let mut out = Vec::with_capacity(page.len());
        let mut stored = page.into_iter().peekable();
        loop {
            let take_mine = match (stored.peek(), mine.peek()) {
                (None, None) => break,
                (Some(_), None) => false,
                (None, Some(_)) => true,
                (Some((s, _)), Some((m, _))) => m.as_slice() <= s.as_slice(),
            };
            if take_mine {
                let Some((k, v)) = mine.next() else { break };
                if stored.peek().is_some_and(|(s, _)| s == k) {
                    stored.next();
                }
                if let Some(v) = v {
                    out.push((k.clone(), v.clone()));
                }
            } else if let Some(row) = stored.next() {
                out.push(row);
            }
        }
        out
    }

    /// Commits every write as one synced batch and empties the overlay.
    /// Writes everything as one synced batch; the stored-bytes change it made.
    pub fn commit(&mut self, db: &Storage) -> anyhow::Result<i64> {
        let delta = std::mem::take(&mut self.stored_delta);
        if self.ops.is_empty() {
            return Ok(0);
        }
        let ops: Vec<BatchOp> = std::mem::take(&mut self.ops)
            .into_iter()
            .map(|(k, v)| match v {
                Some(v) => BatchOp::Put(k, v),
                None => BatchOp::Delete(k),
            })
            .collect();
        self.bytes = 0;
        db.batch(&ops)?;
        Ok(delta)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(pairs: &[(&str, &str)]) -> Vec<(Vec<u8>, Vec<u8>)> {
        pairs.iter().map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec())).collect()
    }

    fn put(p: &mut PendingWrites, k: &str, v: Option<&str>) {
        p.record([(k.as_bytes().to_vec(), v.map(|v| v.as_bytes().to_vec()))]).unwrap();
    }

    #[test]
    fn own_writes_shadow_and_interleave_with_the_store() {
        let mut p = PendingWrites::default();
        put(&mut p, "a/2", Some("new"));
        put(&mut p, "a/3", None);
        put(&mut p, "a/5", Some("five"));
        put(&mut p, "b/1", Some("other prefix"));
        let page = kv(&[("a/1", "1"), ("a/2", "old"), ("a/3", "3"), ("a/4", "4")]);
        assert_eq!(
            p.merge_page(b"a/", b"", page, true),
            kv(&[("a/1", "1"), ("a/2", "new"), ("a/4", "4"), ("a/5", "five")])
        );
    }

    #[test]
    fn a_partial_page_merges_only_up_to_its_last_key() {
        let mut p = PendingWrites::default();
        put(&mut p, "a/0", Some("zero"));
        put(&mut p, "a/9", Some("nine"));
        let page = kv(&[("a/1", "1"), ("a/2", "2")]);
        // a/9 belongs to a later page: the store has more keys before it.
        assert_eq!(p.merge_page(b"a/", b"", page, false), kv(&[("a/0", "zero"), ("a/1", "1"), ("a/2", "2")]));
        let next = kv(&[("a/3", "3")]);
        assert_eq!(p.merge_page(b"a/", b"a/2", next, true), kv(&[("a/3", "3"), ("a/9", "nine")]));
    }

    #[test]
    fn the_budget_refuses_a_whole_batch() {
        let mut p = PendingWrites::default();
        let big = vec![0u8; MAX_PENDING_BYTES / 2];
        p.record([(b"x".to_vec(), Some(big.clone()))]).unwrap();
        let err = p.record([(b"y".to_vec(), Some(big.clone())), (b"z".to_vec(), Some(vec![1]))]).unwrap_err();
        assert!(err.contains("at most"), "{err}");
        assert_eq!(p.get(b"y"), None, "nothing of a refused batch is kept");
        // Overwriting a key frees what it held.
        p.record([(b"x".to_vec(), Some(big))]).unwrap();
        p.record([(b"x".to_vec(), None)]).unwrap();
        assert_eq!(p.get(b"x"), Some(None));
    }

    #[test]
    fn commit_writes_once_and_empties() {
        let dir = crate::testutil::tempdir("pending");
        let s = crate::storage::Storage::open(&dir).unwrap();
        let scoped = s.scoped(b"plug/h/p/".to_vec());
        s.put(&scoped.full(b"gone"), b"1").unwrap();
        let mut p = PendingWrites::default();
        put(&mut p, "plug/h/p/k", Some("v"));
        put(&mut p, "plug/h/p/gone", None);
        assert_eq!(s.get(&scoped.full(b"k")).unwrap(), None, "nothing is visible before the commit");
        p.commit(&s).unwrap();
        assert!(p.is_empty());
        assert_eq!(s.get(&scoped.full(b"k")).unwrap().as_deref(), Some(&b"v"[..]));
        assert_eq!(s.get(&scoped.full(b"gone")).unwrap(), None);
        let _ = std::fs::remove_dir_all(dir);
    }
}
