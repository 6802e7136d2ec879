//! The host functions of the plugin contract. Each checks the operator's
//! grant first (a call without it touches nothing) and then its arguments;
//! limits are refused with text that names the limit.

use jid::Jid;
use ring::rand::{SecureRandom as _, SystemRandom};

use super::bindings::waxwing::plugin::{accounts, filter_scope, host, kv, mem, route, sessions, timers, types};
use super::outgoing;
use super::store::StoreData;
use super::{EventKind, SessionInfo};
use crate::accounts::AccountError;
use types::{Capability, HostError};

pub(crate) const MAX_KEY_BYTES: usize = 1024;
pub(crate) const MAX_VALUE_BYTES: usize = 1 << 20;
pub(crate) const MAX_SCAN_LIMIT: u32 = 1000;
/// A scan stops early (returning at least one entry) past this many bytes,
/// so that one call cannot pull a gigabyte through the host.
pub(crate) const MAX_SCAN_BYTES: usize = 8 << 20;
pub(crate) const MAX_BATCH_OPS: usize = 1000;
pub(crate) const MAX_BATCH_BYTES: usize = 16 << 20;
/// Stanzas one call may queue through `route`.
pub(crate) const MAX_QUEUED_STANZAS: usize = 10_000;
pub(crate) const MAX_RANDOM_BYTES: u32 = 1024;
const MAX_LOG_BYTES: usize = 4096;
const SCAN_PAGE: usize = 100;

impl StoreData {
    fn need(&self, c: Capability) -> Result<(), HostError> {
        if self.grants.has(c) { Ok(()) } else { Err(HostError::NotGranted(c)) }
    }

    fn internal(&self, what: &str, e: impl std::fmt::Display) -> HostError {
        tracing::warn!(plugin = %self.shared.name, domain = %self.shared.domain, "{what} failed: {e}");
        HostError::Internal(format!("{what} failed: {e}"))
    }
}

fn check_len(what: &str, len: usize, max: usize) -> Result<(), HostError> {
    if len > max {
        return Err(HostError::Invalid(format!("{what} is {len} bytes; the maximum is {max}")));
    }
    Ok(())
}

impl types::Host for StoreData {}

impl kv::Host for StoreData {
    fn get(&mut self, key: Vec<u8>) -> Result<Option<Vec<u8>>, HostError> {
        self.need(Capability::Kv)?;
        check_len("key", key.len(), MAX_KEY_BYTES)?;
        if let Some(mine) = self.pending.get(&key) {
            return Ok(mine.map(<[u8]>::to_vec));
        }
        self.shared.kv.get(&key).map_err(|e| self.internal("kv get", format!("{e:#}")))
    }

    fn put(&mut self, key: Vec<u8>, value: Vec<u8>) -> Result<(), HostError> {
        self.need(Capability::Kv)?;
        check_len("key", key.len(), MAX_KEY_BYTES)?;
        check_len("value", value.len(), MAX_VALUE_BYTES)?;
        self.pending.record([(key, Some(value))]).map_err(HostError::Quota)
    }

    fn delete(&mut self, key: Vec<u8>) -> Result<(), HostError> {
        self.need(Capability::Kv)?;
        check_len("key", key.len(), MAX_KEY_BYTES)?;
        self.pending.record([(key, None)]).map_err(HostError::Quota)
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
        let limit = limit as usize;
        // A cursor before the prefix means "from the start of the prefix".
        let mut after = if start_after.as_slice() < prefix.as_slice() { Vec::new() } else { start_after };
        let mut out = Vec::new();
        let mut bytes = 0;
        while out.len() < limit {
            let page =
                self.shared.kv.scan(&prefix, &after, SCAN_PAGE).map_err(|e| self.internal("kv scan", format!("{e:#}")))?;
            let complete = page.len() < SCAN_PAGE;
            let next_after = page.last().map(|(k, _)| k.clone());
            // The call's own uncommitted writes, in their place among the stored ones.
            for (k, v) in self.pending.merge_page(&prefix, &after, page, complete) {
                if out.len() >= limit {
                    return Ok(out);
                }
                bytes += k.len() + v.len();
                out.push((k, v));
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
                    out.push((k, Some(v)));
                }
                kv::Op::Delete(k) => {
                    check_len("key", k.len(), MAX_KEY_BYTES)?;
                    total += k.len();
                    out.push((k, None));
                }
            }
        }
        check_len("batch", total, MAX_BATCH_BYTES)?;
        // Commits with the rest of the call's writes: all of them or none.
        self.pending.record(out).map_err(HostError::Quota)
    }
}

impl mem::Host for StoreData {
    fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, HostError> {
        self.need(Capability::Mem)?;
        check_len("key", key.len(), MAX_KEY_BYTES)?;
        Ok(self.shared.mem.lock().map.get(&key).cloned())
    }

    fn put(&mut self, key: String, value: Vec<u8>) -> Result<(), HostError> {
        self.need(Capability::Mem)?;
        check_len("key", key.len(), MAX_KEY_BYTES)?;
        check_len("value", value.len(), MAX_VALUE_BYTES)?;
        let cap = self.shared.mem.cap_bytes;
        let mut m = self.shared.mem.lock();
        let old = m.map.get(&key).map_or(0, |v| key.len() + v.len());
        let new_total = m.bytes - old + key.len() + value.len();
        if new_total > cap {
            return Err(HostError::Quota(format!("mem would hold {new_total} bytes; this plugin's budget is {cap}")));
        }
        m.bytes = new_total;
        m.map.insert(key, value);
        Ok(())
    }

    fn delete(&mut self, key: String) -> Result<(), HostError> {
        self.need(Capability::Mem)?;
        check_len("key", key.len(), MAX_KEY_BYTES)?;
        let mut m = self.shared.mem.lock();
        if let Some(v) = m.map.remove(&key) {
            m.bytes -= key.len() + v.len();
        }
        Ok(())
    }

    fn incr(&mut self, key: String, delta: i64) -> Result<i64, HostError> {
        self.need(Capability::Mem)?;
        check_len("key", key.len(), MAX_KEY_BYTES)?;
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
        if current.is_none() {
            let new_total = m.bytes + key.len() + 8;
            if new_total > cap {
                return Err(HostError::Quota(format!(
                    "mem would hold {new_total} bytes; this plugin's budget is {cap}"
                )));
            }
            m.bytes = new_total;
        }
        m.map.insert(key, next.to_le_bytes().to_vec());
        Ok(next)
    }
}

impl StoreData {
    fn queue_room(&self, n: usize) -> Result<(), HostError> {
        let queued = self.effects.outbox.len();
        if queued + n > MAX_QUEUED_STANZAS {
            return Err(HostError::Quota(format!(
                "{queued} stanzas are already queued by this call; one call may send at most {MAX_QUEUED_STANZAS}"
            )));
        }
        Ok(())
    }

    fn prepare(&self, xml: &str) -> Result<waxwing_xml::Element, HostError> {
        outgoing::prepare(xml, &self.shared.domain, self.service_domain.as_deref()).map_err(HostError::Invalid)
    }
}

impl route::Host for StoreData {
    fn send(&mut self, xml: String) -> Result<(), HostError> {
        self.need(Capability::Route)?;
        self.queue_room(1)?;
        let el = self.prepare(&xml)?;
        self.effects.outbox.push(el);
        Ok(())
    }

    fn send_many(&mut self, xml: String, recipients: Vec<String>) -> Result<(), HostError> {
        self.need(Capability::Route)?;
        self.queue_room(recipients.len())?;
        let el = self.prepare(&xml)?;
        // All recipients are checked before any is queued: all or nothing.
        for r in &recipients {
            Jid::new(r).map_err(|e| HostError::Invalid(format!("recipient {r:?} is not a JID: {e}")))?;
        }
        for r in recipients {
            let mut one = el.clone();
            one.set_attr("to", r);
            self.effects.outbox.push(one);
        }
        Ok(())
    }
}

fn to_wit_session(s: SessionInfo) -> sessions::SessionInfo {
    sessions::SessionInfo { jid: s.jid, priority: s.priority, available: s.available, presence: s.presence }
}

impl sessions::Host for StoreData {
    fn of(&mut self, bare_jid: String) -> Result<Vec<sessions::SessionInfo>, HostError> {
        self.need(Capability::Sessions)?;
        let jid = Jid::new(&bare_jid).map_err(|e| HostError::Invalid(format!("{bare_jid:?} is not a JID: {e}")))?;
        if !jid.is_bare() || jid.node().is_none() {
            return Err(HostError::Invalid(format!("{bare_jid:?} is not a bare JID of an account (user@domain)")));
        }
        if jid.domain().as_str() != self.shared.domain {
            return Err(HostError::Invalid(format!("{bare_jid:?} is not on {}", self.shared.domain)));
        }
        let kernel =
            self.shared.kernel.get().ok_or_else(|| self.internal("sessions.of", "the router is not attached"))?;
        Ok(kernel.sessions_of(jid.as_str()).into_iter().map(to_wit_session).collect())
    }

    /// Public information (what disco tells anyone), and the WIT gives this
    /// call no way to fail, so it needs no grant.
    fn host(&mut self) -> sessions::HostInfo {
        (**self.shared.host_info.load()).clone()
    }
}

impl StoreData {
    fn account_error(&self, e: AccountError) -> HostError {
        match e {
            AccountError::Storage(e) => self.internal("account storage", format!("{e:#}")),
            other => HostError::Invalid(other.to_string()),
        }
    }

    fn account_jid(&self, username: &str) -> String {
        let raw = format!("{username}@{}", self.shared.domain);
        jid::BareJid::new(&raw).map(|j| j.to_string()).unwrap_or(raw)
    }
}

impl accounts::Host for StoreData {
    fn exists(&mut self, username: String) -> Result<bool, HostError> {
        self.need(Capability::Accounts)?;
        self.shared.accounts.exists(&self.shared.domain, &username).map_err(|e| self.account_error(e))
    }

    fn create(&mut self, username: String, password: String) -> Result<(), HostError> {
        self.need(Capability::Accounts)?;
        self.shared.accounts.create(&self.shared.domain, &username, &password).map_err(|e| self.account_error(e))?;
        let jid = self.account_jid(&username);
        self.effects.events.push((EventKind::UserCreated, jid));
        Ok(())
    }

    fn set_password(&mut self, username: String, password: String) -> Result<(), HostError> {
        self.need(Capability::Accounts)?;
        self.shared.accounts.set_password(&self.shared.domain, &username, &password).map_err(|e| self.account_error(e))
    }

    fn delete(&mut self, username: String) -> Result<(), HostError> {
        self.need(Capability::Accounts)?;
        self.shared.accounts.delete(&self.shared.domain, &username).map_err(|e| self.account_error(e))?;
        let jid = self.account_jid(&username);
        self.effects.events.push((EventKind::UserDeleted, jid));
        Ok(())
    }
}

impl timers::Host for StoreData {
    fn set(&mut self, delay_ms: u64, data: String) -> Result<u64, HostError> {
        self.need(Capability::Timers)?;
        let entry = self.shared.entry.get().cloned().unwrap_or_default();
        if entry.strong_count() == 0 {
            // Only while a plugin's first version loads: nothing could receive the event.
            return Err(HostError::Internal("timers cannot be set before the plugin has loaded".into()));
        }
        self.shared.timers.set(entry, delay_ms, data)
    }

    fn cancel(&mut self, id: u64) -> Result<(), HostError> {
        self.need(Capability::Timers)?;
        self.shared.timers.cancel(id);
        Ok(())
    }
}

impl filter_scope::Host for StoreData {
    fn restrict(&mut self) {
        self.shared.filter_scope.restrict();
    }

    fn watch(&mut self, bare_jid: String, on: bool) -> Result<(), HostError> {
        let bare = jid::BareJid::new(&bare_jid)
            .map_err(|e| HostError::Invalid(format!("{bare_jid:?} is not a bare JID: {e}")))?;
        if bare.domain().as_str() != self.shared.domain {
            return Err(HostError::Invalid(format!("{bare_jid:?} is not on {}", self.shared.domain)));
        }
        if self.shared.filter_scope.watch(bare.as_str(), on) {
            Ok(())
        } else {
            Err(HostError::Quota("the filter scope is full; the filter now sees every stanza".into()))
        }
    }
}

impl host::Host for StoreData {
    fn log(&mut self, level: host::Level, message: String) {
        let mut end = message.len().min(MAX_LOG_BYTES);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        let (plugin, domain, msg) = (&self.shared.name, &self.shared.domain, &message[..end]);
        match level {
            host::Level::Trace => tracing::trace!(plugin = %plugin, domain = %domain, "{msg}"),
            host::Level::Debug => tracing::debug!(plugin = %plugin, domain = %domain, "{msg}"),
            host::Level::Info => tracing::info!(plugin = %plugin, domain = %domain, "{msg}"),
            host::Level::Warn => tracing::warn!(plugin = %plugin, domain = %domain, "{msg}"),
            host::Level::Error => tracing::error!(plugin = %plugin, domain = %domain, "{msg}"),
        }
    }

    fn now_ms(&mut self) -> u64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
    }

    /// More than the maximum yields the maximum. Should the system's source
    /// ever fail, the list is empty: short, never predictable.
    fn random(&mut self, len: u32) -> Vec<u8> {
        let mut buf = vec![0u8; len.min(MAX_RANDOM_BYTES) as usize];
        match SystemRandom::new().fill(&mut buf) {
            Ok(()) => buf,
            Err(_) => {
                tracing::error!(plugin = %self.shared.name, "the system random source failed");
                Vec::new()
            }
        }
    }

    fn domain(&mut self) -> String {
        self.shared.domain.clone()
    }
}
