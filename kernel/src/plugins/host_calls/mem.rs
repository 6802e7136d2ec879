//! `mem`: the plugin's ephemeral map on this host, shared by its instances
//! and versions, within a byte budget.

use super::super::bindings::waxwing::plugin::mem;
use super::super::store::MemInner;
use super::{MAX_KEY_BYTES, MAX_VALUE_BYTES, check_len};
use crate::plugins::bindings::types::{Capability, HostError};
use crate::plugins::store::StoreData;

/// Makes room for `key` to hold `len` bytes, or says why not.
fn charge(m: &mut MemInner, cap: usize, key: &str, len: usize) -> Result<(), HostError> {
    let old = m.map.get(key).map_or(0, |v| key.len() + v.len());
    let new_total = m.bytes - old + key.len() + len;
    if new_total > cap {
        return Err(HostError::Quota(format!("mem would hold {new_total} bytes; this plugin's budget is {cap}")));
    }
    m.bytes = new_total;
    Ok(())
}

fn remove(m: &mut MemInner, key: &str) {
    if let Some(v) = m.map.remove(key) {
        m.bytes -= key.len() + v.len();
    }
}

impl StoreData {
    fn mem_args(&self, key: &str, value: Option<&[u8]>) -> Result<(), HostError> {
        self.need(Capability::Mem)?;
        check_len("key", key.len(), MAX_KEY_BYTES)?;
        if let Some(v) = value {
            check_len("value", v.len(), MAX_VALUE_BYTES)?;
        }
        Ok(())
    }
}

impl mem::Host for StoreData {
    fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, HostError> {
        self.mem_args(&key, None)?;
        Ok(self.shared.mem.lock().map.get(&key).cloned())
    }

    fn put(&mut self, key: String, value: Vec<u8>) -> Result<(), HostError> {
        self.mem_args(&key, Some(&value))?;
        let cap = self.shared.mem.cap_bytes;
        let mut m = self.shared.mem.lock();
        charge(&mut m, cap, &key, value.len())?;
        m.map.insert(key, value);
        Ok(())
    }

    fn delete(&mut self, key: String) -> Result<(), HostError> {
        self.mem_args(&key, None)?;
        remove(&mut self.shared.mem.lock(), &key);
        Ok(())
    }

    fn incr(&mut self, key: String, delta: i64) -> Result<i64, HostError> {
        self.mem_args(&key, None)?;
        let cap = self.shared.mem.cap_bytes;
        let mut m = self.shared.mem.lock();
        let current = match m.map.get(&key) {
            None => None,
            Some(v) => match <[u8; 8]>::try_from(v.as_slice()) {
                Ok(b) => Some(i64::from_le_bytes(b)),
                Err(_) => {
                    return Err(HostError::Invalid(format!(
                        "the value under {key:?} is {} bytes, not an 8-byte little-endian counter",
                        v.len()
                    )));
                }
            },
        };
        let next = current
            .unwrap_or(0)
            .checked_add(delta)
            .ok_or_else(|| HostError::Invalid(format!("counter {key:?} would overflow")))?;
        charge(&mut m, cap, &key, 8)?;
        m.map.insert(key, next.to_le_bytes().to_vec());
        Ok(next)
    }

    fn put_if_absent(&mut self, key: String, value: Vec<u8>) -> Result<bool, HostError> {
        self.compare_and_swap(key, None, Some(value))
    }

    fn compare_and_swap(
        &mut self,
        key: String,
        expected: Option<Vec<u8>>,
        new: Option<Vec<u8>>,
    ) -> Result<bool, HostError> {
        self.mem_args(&key, new.as_deref())?;
        let cap = self.shared.mem.cap_bytes;
        let mut m = self.shared.mem.lock();
        if m.map.get(&key) != expected.as_ref() {
            return Ok(false);
        }
        match new {
            Some(v) => {
                charge(&mut m, cap, &key, v.len())?;
                m.map.insert(key, v);
            }
            None => remove(&mut m, &key),
        }
        Ok(true)
    }
}
