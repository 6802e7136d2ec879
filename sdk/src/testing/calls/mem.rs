//! `mem` on a BTreeMap, with the kernel's counter rules.

use super::check_len;
use crate::Capability;
use crate::bindings::waxwing::plugin::types::HostError;
use crate::host::kv::{MAX_KEY_BYTES, MAX_VALUE_BYTES};
use crate::testing::state::{State, with};

fn checked<R>(key: &str, f: impl FnOnce(&mut State) -> Result<R, HostError>) -> Result<R, HostError> {
    with(|s| {
        s.need(Capability::Mem)?;
        check_len("key", key.len(), MAX_KEY_BYTES)?;
        f(s)
    })
}

pub(crate) fn get(key: &str) -> Result<Option<Vec<u8>>, HostError> {
    checked(key, |s| Ok(s.mem.get(key).cloned()))
}

pub(crate) fn put(key: &str, value: &[u8]) -> Result<(), HostError> {
    check_len("value", value.len(), MAX_VALUE_BYTES)?;
    checked(key, |s| {
        s.mem.insert(key.to_string(), value.to_vec());
        Ok(())
    })
}

pub(crate) fn delete(key: &str) -> Result<(), HostError> {
    checked(key, |s| {
        s.mem.remove(key);
        Ok(())
    })
}

pub(crate) fn incr(key: &str, delta: i64) -> Result<i64, HostError> {
    checked(key, |s| {
        let current = match s.mem.get(key) {
            None => 0,
            Some(v) => i64::from_le_bytes(<[u8; 8]>::try_from(v.as_slice()).map_err(|_| {
                HostError::Invalid(format!(
                    "the value under {key:?} is {} bytes, not an 8-byte little-endian counter",
                    v.len()
                ))
            })?),
        };
        let next =
            current.checked_add(delta).ok_or_else(|| HostError::Invalid(format!("counter {key:?} would overflow")))?;
        s.mem.insert(key.to_string(), next.to_le_bytes().to_vec());
        Ok(next)
    })
}

pub(crate) fn put_if_absent(key: &str, value: &[u8]) -> Result<bool, HostError> {
    check_len("value", value.len(), MAX_VALUE_BYTES)?;
    checked(key, |s| {
        if s.mem.contains_key(key) {
            return Ok(false);
        }
        s.mem.insert(key.to_string(), value.to_vec());
        Ok(true)
    })
}

pub(crate) fn compare_and_swap(key: &str, expected: Option<&[u8]>, new: Option<&[u8]>) -> Result<bool, HostError> {
    if let Some(v) = new {
        check_len("value", v.len(), MAX_VALUE_BYTES)?;
    }
    checked(key, |s| {
        if s.mem.get(key).map(Vec::as_slice) != expected {
            return Ok(false);
        }
        match new {
            Some(v) => s.mem.insert(key.to_string(), v.to_vec()),
            None => s.mem.remove(key),
        };
        Ok(true)
    })
}
