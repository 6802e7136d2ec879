//! Safe wrappers over the host interfaces. Each call needs its capability
//! granted in the operator's config, except `log`, the clock, `random` and
//! `domain`; otherwise it returns `HostError::NotGranted` and does nothing.
//!
//! Outside wasm (native unit tests) these panic: keep them out of the logic
//! you test there.

use crate::bindings::waxwing::plugin as wit;
use crate::error::HostError;

fn lift<T>(r: Result<T, wit::types::HostError>) -> Result<T, HostError> {
    r.map_err(HostError::from)
}

/// Durable key-value storage, private to this plugin on this virtual host.
pub mod kv {
    use super::*;

    /// A key and its value, as [`scan`] returns them.
    pub type Entry = (Vec<u8>, Vec<u8>);

    /// A change for [`batch`].
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum Op {
        Put(Vec<u8>, Vec<u8>),
        Delete(Vec<u8>),
    }

    pub fn get(key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>, HostError> {
        lift(wit::kv::get(key.as_ref()))
    }

    /// Durable before it returns.
    pub fn put(key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<(), HostError> {
        lift(wit::kv::put(key.as_ref(), value.as_ref()))
    }

    pub fn delete(key: impl AsRef<[u8]>) -> Result<(), HostError> {
        lift(wit::kv::delete(key.as_ref()))
    }

    /// Up to `limit` entries under `prefix` in key order, after `start_after`
    /// unless it is empty: pass the last key seen to page on.
    pub fn scan(prefix: impl AsRef<[u8]>, start_after: impl AsRef<[u8]>, limit: u32) -> Result<Vec<Entry>, HostError> {
        lift(wit::kv::scan(prefix.as_ref(), start_after.as_ref(), limit))
    }

    /// Applies all of `ops` or none.
    pub fn batch(ops: &[Op]) -> Result<(), HostError> {
        let ops: Vec<wit::kv::Op> = ops
            .iter()
            .map(|op| match op {
                Op::Put(k, v) => wit::kv::Op::Put((k.clone(), v.clone())),
                Op::Delete(k) => wit::kv::Op::Delete(k.clone()),
            })
            .collect();
        lift(wit::kv::batch(&ops))
    }
}

/// An ephemeral map shared by this plugin's instances on this host; it
/// survives a hot swap, not a restart.
pub mod mem {
    use super::*;

    pub fn get(key: &str) -> Result<Option<Vec<u8>>, HostError> {
        lift(wit::mem::get(key))
    }

    pub fn put(key: &str, value: impl AsRef<[u8]>) -> Result<(), HostError> {
        lift(wit::mem::put(key, value.as_ref()))
    }

    pub fn delete(key: &str) -> Result<(), HostError> {
        lift(wit::mem::delete(key))
    }

    /// Adds `delta` to a counter (missing counts as 0); returns the new value.
    pub fn incr(key: &str, delta: i64) -> Result<i64, HostError> {
        lift(wit::mem::incr(key, delta))
    }
}

/// Sending stanzas. Sends are queued and leave when the current call returns.
pub mod route {
    use super::*;
    use waxwing_xml::{Element, ns};

    /// Sends one stanza; its `from` must be on this virtual host.
    pub fn send(stanza: &Element) -> Result<(), HostError> {
        send_xml(&stanza.to_xml_in(ns::CLIENT))
    }

    /// Sends an already-serialized stanza.
    pub fn send_xml(xml: &str) -> Result<(), HostError> {
        lift(wit::route::send(xml))
    }

    /// Sends `stanza` to each of `recipients`, its `to` replaced: fan-out in
    /// one host call.
    pub fn send_many(stanza: &Element, recipients: &[String]) -> Result<(), HostError> {
        lift(wit::route::send_many(&stanza.to_xml_in(ns::CLIENT), recipients))
    }
}

/// The kernel's view of sessions and of what plugins declared on this host.
pub mod sessions {
    use super::*;
    pub use wit::sessions::{HostInfo, SessionInfo};

    /// The online sessions of `bare_jid`.
    pub fn of(bare_jid: &str) -> Result<Vec<SessionInfo>, HostError> {
        lift(wit::sessions::of(bare_jid))
    }

    /// The host's domain and every plugin's disco features, identities, items
    /// and extensions: what a disco plugin aggregates.
    pub fn host() -> HostInfo {
        wit::sessions::host()
    }
}

/// Account management; granted to registration and admin plugins only.
pub mod accounts {
    use super::*;

    pub fn exists(username: &str) -> Result<bool, HostError> {
        lift(wit::accounts::exists(username))
    }

    pub fn create(username: &str, password: &str) -> Result<(), HostError> {
        lift(wit::accounts::create(username, password))
    }

    pub fn set_password(username: &str, password: &str) -> Result<(), HostError> {
        lift(wit::accounts::set_password(username, password))
    }

    pub fn delete(username: &str) -> Result<(), HostError> {
        lift(wit::accounts::delete(username))
    }
}

/// One-shot timers; each fires the `timer-fired` event with its `data`.
pub mod timers {
    use super::*;

    /// Returns an id for [`cancel`].
    pub fn set(delay_ms: u64, data: &str) -> Result<u64, HostError> {
        lift(wit::timers::set(delay_ms, data))
    }

    pub fn cancel(id: u64) -> Result<(), HostError> {
        lift(wit::timers::cancel(id))
    }
}

/// Narrowing this plugin's filters to the accounts that need them (WIT 1.1):
/// after [`restrict`], `filter` sees only stanzas from or to a watched
/// account, and the rest of the traffic never enters wasm.
pub mod filter_scope {
    use super::*;

    /// Kept by the kernel across hot swaps, not restarts: re-establish it the
    /// first time the filter runs after a start.
    pub fn restrict() {
        wit::filter_scope::restrict()
    }

    /// Starts or stops watching an account of this host (bare JID).
    pub fn watch(bare_jid: &str, on: bool) -> Result<(), HostError> {
        lift(wit::filter_scope::watch(bare_jid, on))
    }
}

/// The server log, tagged by the kernel with the plugin's name and host.
pub mod log {
    use super::wit::host::{Level, log};

    pub fn trace(message: &str) {
        log(Level::Trace, message);
    }

    pub fn debug(message: &str) {
        log(Level::Debug, message);
    }

    pub fn info(message: &str) {
        log(Level::Info, message);
    }

    pub fn warn(message: &str) {
        log(Level::Warn, message);
    }

    pub fn error(message: &str) {
        log(Level::Error, message);
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    wit::host::now_ms()
}

/// `len` cryptographically secure random bytes; the host gives at most 1024
/// per call, so larger requests are made in several.
pub fn random(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        let want = (len - out.len()).min(1024) as u32;
        let chunk = wit::host::random(want);
        if chunk.is_empty() {
            break;
        }
        out.extend_from_slice(&chunk);
    }
    out.truncate(len);
    out
}

/// This virtual host's domain.
pub fn domain() -> String {
    wit::host::domain()
}
