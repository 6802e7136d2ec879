//! Durable key-value storage, private to this plugin on this virtual host
//! (capability `kv`).
//!
//! The writes of one call (`init`, a handler, an event, a filter) commit
//! together when it returns, before anything it sent leaves; the call reads
//! its own writes, and a call that traps keeps none of them.
//! [`compare_and_swap`] is the exception: a successful swap commits at once.

use super::paging::{PAGE, Paged};
use super::{lift, sys};
use crate::bindings::waxwing::plugin::kv as wit;
use crate::error::HostError;

/// A key and its value, as [`scan`] returns them.
pub type Entry = (Vec<u8>, Vec<u8>);

/// The kernel's limit on one key.
pub const MAX_KEY_BYTES: usize = 1024;
/// The kernel's limit on one value.
pub const MAX_VALUE_BYTES: usize = 1 << 20;
/// The most entries one [`scan`] returns.
pub const MAX_SCAN_LIMIT: u32 = 1000;
/// The most ops one host `batch` call takes; [`batch`] splits longer ones.
pub const MAX_BATCH_OPS: usize = 1000;
/// The most bytes (keys and values) one host `batch` call takes; [`batch`]
/// splits larger ones.
pub const MAX_BATCH_BYTES: usize = 16 << 20;

/// A change for [`batch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Set a key to a value.
    Put(Vec<u8>, Vec<u8>),
    /// Remove a key (absent is fine).
    Delete(Vec<u8>),
}

impl Op {
    /// `Op::Put` from anything byte-like.
    pub fn put(key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> Op {
        Op::Put(key.into(), value.into())
    }

    /// `Op::Delete` from anything byte-like.
    pub fn delete(key: impl Into<Vec<u8>>) -> Op {
        Op::Delete(key.into())
    }

    /// What the kernel counts against [`MAX_BATCH_BYTES`].
    fn bytes(&self) -> usize {
        match self {
            Op::Put(k, v) => k.len() + v.len(),
            Op::Delete(k) => k.len(),
        }
    }

    fn to_wit(&self) -> wit::Op {
        match self {
            Op::Put(k, v) => wit::Op::Put((k.clone(), v.clone())),
            Op::Delete(k) => wit::Op::Delete(k.clone()),
        }
    }
}

/// The value under `key`, if any.
pub fn get(key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>, HostError> {
    lift(sys::kv::get(key.as_ref()))
}

/// Sets `key` to `value`, committed with the rest of the call.
pub fn put(key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<(), HostError> {
    lift(sys::kv::put(key.as_ref(), value.as_ref()))
}

/// Removes `key`; absent is fine.
pub fn delete(key: impl AsRef<[u8]>) -> Result<(), HostError> {
    lift(sys::kv::delete(key.as_ref()))
}

/// One page: up to `limit` (at most [`MAX_SCAN_LIMIT`]) entries under
/// `prefix` in key order, after `start_after` unless it is empty. A page may
/// be short when its entries are large; only an empty page ends a scan.
/// [`scan_iter`] and [`scan_all`] do the paging.
pub fn scan(prefix: impl AsRef<[u8]>, start_after: impl AsRef<[u8]>, limit: u32) -> Result<Vec<Entry>, HostError> {
    lift(sys::kv::scan(prefix.as_ref(), start_after.as_ref(), limit))
}

/// Every entry under `prefix` in key order, fetched a page at a time as the
/// iterator is consumed. A host error is the last item.
///
/// ```ignore
/// for entry in kv::scan_iter(format!("roster/{user}/")) {
///     let (key, value) = entry?;
/// }
/// ```
pub fn scan_iter(prefix: impl AsRef<[u8]>) -> impl Iterator<Item = Result<Entry, HostError>> {
    let prefix = prefix.as_ref().to_vec();
    Paged::new(move |after: &Vec<u8>| scan(&prefix, after, PAGE))
}

/// Every entry under `prefix` in key order, in one vector: mind the memory
/// cap on a prefix that can grow without bound.
pub fn scan_all(prefix: impl AsRef<[u8]>) -> Result<Vec<Entry>, HostError> {
    scan_iter(prefix).collect()
}

/// Applies `ops` in order, however many: the SDK splits them into host calls
/// of at most [`MAX_BATCH_OPS`] ops and [`MAX_BATCH_BYTES`]. Splitting keeps
/// them atomic, since all of a call's writes commit together when it
/// returns; an error stops before the remaining chunks.
pub fn batch(ops: &[Op]) -> Result<(), HostError> {
    for chunk in chunks(ops) {
        let ops: Vec<wit::Op> = chunk.iter().map(Op::to_wit).collect();
        lift(sys::kv::batch(&ops))?;
    }
    Ok(())
}

/// Sets `key` to `new` (`None`: deletes it) only if its value is now
/// `expected` (`None`: absent), and says whether it did. Atomic against
/// every other call of this plugin on this host, and committed at once on
/// success (with the call's earlier writes). On `false`, read again and
/// retry: another call got there first.
///
/// ```ignore
/// loop {
///     let old = kv::get(&key)?;
///     let new = bump(old.as_deref());
///     if kv::compare_and_swap(&key, old.as_deref(), Some(&new))? {
///         break;
///     }
/// }
/// ```
pub fn compare_and_swap(key: impl AsRef<[u8]>, expected: Option<&[u8]>, new: Option<&[u8]>) -> Result<bool, HostError> {
    lift(sys::kv::compare_and_swap(key.as_ref(), expected, new))
}

/// `ops` split into runs the host takes in one call. A single op is always
/// below the byte limit (its key and value are capped far lower), so every
/// run holds at least one.
fn chunks(ops: &[Op]) -> Vec<&[Op]> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, op) in ops.iter().enumerate() {
        let size = op.bytes();
        if i > start && (i - start == MAX_BATCH_OPS || bytes + size > MAX_BATCH_BYTES) {
            out.push(&ops[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += size;
    }
    if start < ops.len() {
        out.push(&ops[start..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_stay_within_both_limits() {
        let small: Vec<Op> = (0..2500u32).map(|i| Op::put(i.to_be_bytes(), *b"v")).collect();
        let sizes: Vec<usize> = chunks(&small).iter().map(|c| c.len()).collect();
        assert_eq!(sizes, vec![1000, 1000, 500]);

        let big: Vec<Op> = (0..40u8).map(|i| Op::put(vec![i], vec![0; MAX_VALUE_BYTES])).collect();
        let runs = chunks(&big);
        assert!(runs.iter().all(|c| c.iter().map(Op::bytes).sum::<usize>() <= MAX_BATCH_BYTES));
        assert_eq!(runs.iter().map(|c| c.len()).sum::<usize>(), 40);
        assert_eq!(runs[0].len(), 15, "16 values of 1 MiB plus their keys are over 16 MiB");

        assert!(chunks(&[]).is_empty());
        assert_eq!(chunks(&[Op::delete("k")]).len(), 1);
    }
}
