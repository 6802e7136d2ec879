//! `kv` on a BTreeMap. Writes land at once rather than at the end of the
//! call; compare-and-swap behaves as the kernel's does.

use super::check_len;
use crate::Capability;
use crate::bindings::waxwing::plugin::kv::Op;
use crate::bindings::waxwing::plugin::types::HostError;
use crate::host::kv::{Entry, MAX_BATCH_BYTES, MAX_BATCH_OPS, MAX_KEY_BYTES, MAX_SCAN_LIMIT, MAX_VALUE_BYTES};
use crate::testing::state::{State, with};

fn checked<R>(key: &[u8], f: impl FnOnce(&mut State) -> R) -> Result<R, HostError> {
    with(|s| {
        s.need(Capability::Kv)?;
        check_len("key", key.len(), MAX_KEY_BYTES)?;
        Ok(f(s))
    })
}

pub(crate) fn get(key: &[u8]) -> Result<Option<Vec<u8>>, HostError> {
    checked(key, |s| s.kv.get(key).cloned())
}

pub(crate) fn put(key: &[u8], value: &[u8]) -> Result<(), HostError> {
    check_len("value", value.len(), MAX_VALUE_BYTES)?;
    checked(key, |s| {
        s.kv.insert(key.to_vec(), value.to_vec());
    })
}

pub(crate) fn delete(key: &[u8]) -> Result<(), HostError> {
    checked(key, |s| {
        s.kv.remove(key);
    })
}

pub(crate) fn scan(prefix: &[u8], start_after: &[u8], limit: u32) -> Result<Vec<Entry>, HostError> {
    check_len("start-after", start_after.len(), MAX_KEY_BYTES)?;
    if limit > MAX_SCAN_LIMIT {
        return Err(HostError::Invalid(format!("scan limit {limit} is above the maximum {MAX_SCAN_LIMIT}")));
    }
    checked(prefix, |s| {
        s.kv.range(prefix.to_vec()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .filter(|(k, _)| start_after.is_empty() || k.as_slice() > start_after)
            .take(limit as usize)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    })
}

pub(crate) fn batch(ops: &[Op]) -> Result<(), HostError> {
    if ops.len() > MAX_BATCH_OPS {
        return Err(HostError::Invalid(format!("batch of {} ops; the maximum is {MAX_BATCH_OPS}", ops.len())));
    }
    let mut total = 0;
    for op in ops {
        let (k, v) = match op {
            Op::Put((k, v)) => (k, v.len()),
            Op::Delete(k) => (k, 0),
        };
        check_len("key", k.len(), MAX_KEY_BYTES)?;
        check_len("value", v, MAX_VALUE_BYTES)?;
        total += k.len() + v;
    }
    check_len("batch", total, MAX_BATCH_BYTES)?;
    with(|s| {
        s.need(Capability::Kv)?;
        s.kv_batches += 1;
        for op in ops {
            match op {
                Op::Put((k, v)) => s.kv.insert(k.clone(), v.clone()),
                Op::Delete(k) => s.kv.remove(k),
            };
        }
        Ok(())
    })
}

pub(crate) fn compare_and_swap(key: &[u8], expected: Option<&[u8]>, new: Option<&[u8]>) -> Result<bool, HostError> {
    if let Some(v) = new {
        check_len("value", v.len(), MAX_VALUE_BYTES)?;
    }
    checked(key, |s| {
        if s.kv.get(key).map(Vec::as_slice) != expected {
            return false;
        }
        match new {
            Some(v) => s.kv.insert(key.to_vec(), v.to_vec()),
            None => s.kv.remove(key),
        };
        true
    })
}
