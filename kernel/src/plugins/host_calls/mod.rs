//! The host functions of the plugin contract. Each checks the operator's
//! grant first (a call without it touches nothing) and then its arguments;
//! limits are refused with text that names the limit. `v1` adapts these for
//! components built against the previous major.

mod accounts;
mod commands;
mod datasets;
mod kv;
mod mem;
mod misc;
mod route;
mod server;
mod sessions;
mod uploads;
mod v1;

use super::bindings::types::{self, Capability, HostError};
use super::store::StoreData;

pub(crate) const MAX_KEY_BYTES: usize = 1024;
pub(crate) const MAX_VALUE_BYTES: usize = 1 << 20;
pub(crate) const MAX_SCAN_LIMIT: u32 = 1000;
/// A scan stops early (returning at least one entry) past this many bytes,
/// so that one call cannot pull a gigabyte through the host.
pub(crate) const MAX_SCAN_BYTES: usize = 8 << 20;
pub(crate) const MAX_BATCH_OPS: usize = 1000;
pub(crate) const MAX_BATCH_BYTES: usize = 16 << 20;
/// Stanzas one call may queue through `route` (a `send-many` counts one).
pub(crate) const MAX_QUEUED_STANZAS: usize = 10_000;
/// Recipients of all the `send-many`s of one call: a publish to a node's
/// every subscriber is one call. Each is a parsed JID held until the call
/// returns (~100 bytes), so this bounds a call's outbox near 25 MB.
pub(crate) const MAX_FANOUT_RECIPIENTS: usize = 250_000;
pub(crate) const MAX_RANDOM_BYTES: u32 = 1024;
const MAX_LOG_BYTES: usize = 4096;
const SCAN_PAGE: usize = 100;

/// Key-value pairs, as scans return them.
type Rows = Vec<(Vec<u8>, Vec<u8>)>;

impl StoreData {
    fn need(&self, c: Capability) -> Result<(), HostError> {
        if self.grants.has(c) { Ok(()) } else { Err(HostError::NotGranted(c)) }
    }

    fn internal(&self, what: &str, e: impl std::fmt::Display) -> HostError {
        tracing::warn!(plugin = %self.shared.name, domain = %self.shared.domain, "{what} failed: {e}");
        HostError::Internal(format!("{what} failed: {e}"))
    }

    /// Entries under `full_prefix` (a whole database key) after `after`
    /// (whole too, or empty), merged with this call's own writes, with
    /// `strip` bytes cut from each key: the one scan behind `kv.scan` and
    /// `datasets.scan`.
    fn scan_merged(&self, full_prefix: &[u8], after: Vec<u8>, limit: usize, strip: usize) -> Result<Rows, HostError> {
        let db = self.shared.kv.storage();
        // A cursor before the prefix means "from the start of the prefix".
        let mut after = if after.as_slice() < full_prefix { Vec::new() } else { after };
        let mut out = Vec::new();
        let mut bytes = 0;
        while out.len() < limit {
            let page = db.scan(full_prefix, &after, SCAN_PAGE).map_err(|e| self.internal("scan", format!("{e:#}")))?;
            let complete = page.len() < SCAN_PAGE;
            let next_after = page.last().map(|(k, _)| k.clone());
            // The call's own uncommitted writes, in their place among the stored ones.
            for (k, v) in self.pending.merge_page(full_prefix, &after, page, complete) {
                if out.len() >= limit {
                    return Ok(out);
                }
                bytes += k.len() + v.len();
                out.push((k[strip..].to_vec(), v));
                if bytes >= MAX_SCAN_BYTES {
                    return Ok(out);
                }
            }
            match next_after {
                Some(k) if !complete => after = k,
                _ => break,
            }
        }
        Ok(out)
    }

    /// A value as this call sees it: its own write, else the committed one.
    fn read_through(&self, full_key: &[u8]) -> Result<Option<Vec<u8>>, HostError> {
        if let Some(mine) = self.pending.get(full_key) {
            return Ok(mine.map(<[u8]>::to_vec));
        }
        self.shared.kv.storage().get(full_key).map_err(|e| self.internal("read", format!("{e:#}")))
    }

    fn write(&mut self, writes: Vec<(Vec<u8>, Option<Vec<u8>>)>) -> Result<(), HostError> {
        let delta = self.stored_delta(&writes)?;
        self.pending.record(writes).map_err(HostError::Quota)?;
        self.pending.stored_delta += delta;
        Ok(())
    }

    /// How `writes` change what the tenant stores, refused past its
    /// stored-bytes quota. Nothing is read without a quota.
    fn stored_delta(&self, writes: &[(Vec<u8>, Option<Vec<u8>>)]) -> Result<i64, HostError> {
        let budget = &self.shared.budget;
        let quota = budget.stored_quota();
        if quota == 0 {
            return Ok(0);
        }
        let db = self.shared.kv.storage();
        let weight = |k: &[u8], v: Option<&[u8]>| v.map_or(0, |v| (k.len() + v.len()) as i64);
        let mut delta = 0i64;
        let mut seen: std::collections::HashMap<&[u8], i64> = std::collections::HashMap::new();
        for (k, v) in writes {
            // Filter scopes are the kernel's bookkeeping, not the plugin's data.
            if k.starts_with(b"fscope/") {
                continue;
            }
            let before = match seen.get(k.as_slice()) {
                Some(w) => *w,
                None => match self.pending.get(k) {
                    Some(mine) => weight(k, mine),
                    None => {
                        let old = db.get(k).map_err(|e| self.internal("storage quota", format!("{e:#}")))?;
                        weight(k, old.as_deref())
                    }
                },
            };
            let after = weight(k, v.as_deref());
            seen.insert(k.as_slice(), after);
            delta += after - before;
        }
        let domain = &self.shared.domain;
        let stored = budget
            .stored(|| tenant_stored_bytes(db, domain))
            .map_err(|e| self.internal("storage quota", format!("{e:#}")))?;
        let would = stored + self.pending.stored_delta + delta;
        if delta > 0 && would > i64::try_from(quota).unwrap_or(i64::MAX) {
            return Err(HostError::Quota(format!(
                "{domain}'s plugins would store {would} bytes; its quota (quotas.stored_bytes) is {quota}"
            )));
        }
        Ok(delta)
    }
}

/// The bytes (keys and values) a tenant's plugins keep: their keys and
/// their datasets.
fn tenant_stored_bytes(db: &crate::storage::Storage, domain: &str) -> anyhow::Result<i64> {
    let mut total = 0i64;
    for prefix in [format!("plug/{domain}/"), format!("share/{domain}/")] {
        let mut after = Vec::new();
        loop {
            let page = db.scan(prefix.as_bytes(), &after, 1024)?;
            let Some((last, _)) = page.last() else { break };
            after = last.clone();
            total += page.iter().map(|(k, v)| (k.len() + v.len()) as i64).sum::<i64>();
        }
    }
    Ok(total)
}

fn check_len(what: &str, len: usize, max: usize) -> Result<(), HostError> {
    if len > max {
        return Err(HostError::Invalid(format!("{what} is {len} bytes; the maximum is {max}")));
    }
    Ok(())
}

impl types::Host for StoreData {}
