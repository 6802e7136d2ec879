//! The fake host's side of every WIT import, with the generated signatures,
//! and the kernel's argument checks and limits where a plugin could trip
//! over them (key and value sizes, batch and scan limits, JIDs on the host).

pub(crate) mod accounts;
pub(crate) mod commands;
pub(crate) mod datasets;
pub(crate) mod disco;
pub(crate) mod filter_scope;
pub(crate) mod host;
pub(crate) mod jid;
pub(crate) mod kv;
pub(crate) mod mem;
pub(crate) mod route;
pub(crate) mod server;
pub(crate) mod sessions;
pub(crate) mod timers;
pub(crate) mod uploads;

use crate::bindings::waxwing::plugin::types::HostError;

fn check_len(what: &str, len: usize, max: usize) -> Result<(), HostError> {
    if len > max {
        return Err(HostError::Invalid(format!("{what} is {len} bytes; the maximum is {max}")));
    }
    Ok(())
}

/// The prepared bare JID of an account on `domain`, as the kernel demands
/// for `sessions`.
fn account_jid(raw: &str, domain: &str) -> Result<::jid::BareJid, HostError> {
    let bare = ::jid::BareJid::new(raw).map_err(|e| HostError::Invalid(format!("{raw:?} is not a JID: {e}")))?;
    if bare.node().is_none() {
        return Err(HostError::Invalid(format!("{raw:?} is not a bare JID of an account (user@domain)")));
    }
    if bare.domain().as_str() != domain {
        return Err(HostError::Invalid(format!("{raw:?} is not on {domain}")));
    }
    Ok(bare)
}
