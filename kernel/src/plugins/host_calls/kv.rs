//! `kv`: the plugin's durable keys, read through the call's own writes,
//! written at the end of the call, swapped atomically on request.

use super::super::bindings::waxwing::plugin::kv;
use super::{MAX_BATCH_BYTES, MAX_BATCH_OPS, MAX_KEY_BYTES, MAX_SCAN_LIMIT, MAX_VALUE_BYTES, check_len};
use crate::plugins::bindings::types::{Capability, HostError};
use crate::plugins::store::StoreData;

impl kv::Host for StoreData {
    fn get(&mut self, key: Vec<u8>) -> Result<Option<Vec<u8>>, HostError> {
        self.need(Capability::Kv)?;
        check_len("key", key.len(), MAX_KEY_BYTES)?;
        let full = self.shared.kv.full(&key);
        self.read_through(&full)
    }

    fn put(&mut self, key: Vec<u8>, value: Vec<u8>) -> Result<(), HostError> {
        self.need(Capability::Kv)?;
        check_len("key", key.len(), MAX_KEY_BYTES)?;
        check_len("value", value.len(), MAX_VALUE_BYTES)?;
        let full = self.shared.kv.full(&key);
        self.write(vec![(full, Some(value))])
    }

    fn delete(&mut self, key: Vec<u8>) -> Result<(), HostError> {
        self.need(Capability::Kv)?;
        check_len("key", key.len(), MAX_KEY_BYTES)?;
        let full = self.shared.kv.full(&key);
        self.write(vec![(full, None)])
    }

    fn scan(
        &mut self,
        prefix: Vec<u8>,
        start_after: Vec<u8>,
        limit: u32,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, HostError> {
        self.need(Capability::Kv)?;
        check_len("prefix", prefix.len(), MAX_KEY_BYTES)?;
        check_len("start-after", start_after.len(), MAX_KEY_BYTES)?;
        if limit > MAX_SCAN_LIMIT {
            return Err(HostError::Invalid(format!("scan limit {limit} is above the maximum {MAX_SCAN_LIMIT}")));
        }
        let full_prefix = self.shared.kv.full(&prefix);
        let after = if start_after.is_empty() { Vec::new() } else { self.shared.kv.full(&start_after) };
        let strip = self.shared.kv.prefix().len();
        self.scan_merged(&full_prefix, after, limit as usize, strip)
    }

    fn batch(&mut self, ops: Vec<kv::Op>) -> Result<(), HostError> {
        self.need(Capability::Kv)?;
        if ops.len() > MAX_BATCH_OPS {
            return Err(HostError::Invalid(format!("batch of {} ops; the maximum is {MAX_BATCH_OPS}", ops.len())));
        }
        let mut total = 0;
        let mut out = Vec::with_capacity(ops.len());
        for op in ops {
            match op {
                kv::Op::Put((k, v)) => {
                    check_len("key", k.len(), MAX_KEY_BYTES)?;
                    check_len("value", v.len(), MAX_VALUE_BYTES)?;
                    total += k.len() + v.len();
                    out.push((self.shared.kv.full(&k), Some(v)));
                }
                kv::Op::Delete(k) => {
                    check_len("key", k.len(), MAX_KEY_BYTES)?;
                    total += k.len();
                    out.push((self.shared.kv.full(&k), None));
                }
            }
        }
        check_len("batch", total, MAX_BATCH_BYTES)?;
        // Commits with the rest of the call's writes: all of them or none.
        self.write(out)
    }

    fn compare_and_swap(
        &mut self,
        key: Vec<u8>,
        expected: Option<Vec<u8>>,
        new: Option<Vec<u8>>,
    ) -> Result<bool, HostError> {
        self.need(Capability::Kv)?;
        check_len("key", key.len(), MAX_KEY_BYTES)?;
        if let Some(v) = &new {
            check_len("value", v.len(), MAX_VALUE_BYTES)?;
        }
        let full = self.shared.kv.full(&key);
        if let Some(mine) = self.pending.get(&full) {
            // This call already wrote the key: it compares with its own write.
            if mine != expected.as_deref() {
                return Ok(false);
            }
            self.write(vec![(full, new)])?;
            return Ok(true);
        }
        // Exclusive against every other commit of this plugin on this host,
        // so nothing lands between the comparison and the write.
        let shared = self.shared.clone();
        let _exclusive = shared.commit_lock.write().unwrap_or_else(|p| p.into_inner());
        let db = shared.kv.storage();
        let current = db.get(&full).map_err(|e| self.internal("kv compare-and-swap", format!("{e:#}")))?;
        if current != expected {
            return Ok(false);
        }
        self.write(vec![(full, new)])?;
        // Committed now, with the call's earlier writes: a swap that said
        // yes must hold even if the call fails afterwards.
        let stored = self.pending.commit(db).map_err(|e| self.internal("kv compare-and-swap", format!("{e:#}")))?;
        self.shared.budget.stored_changed(stored);
        Ok(true)
    }
}
