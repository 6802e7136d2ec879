//! XEP-0115 entity capabilities of clients, recorded from their presence.
//!
//! A session's `<c/>` (node, ver, hash) is remembered in `mem` until the
//! session ends or sends presence without one. A SHA-1 `ver` not seen before
//! is asked about once (`node#ver` disco#info to that session, from the
//! host: `queries`); the answer is kept in `kv` under its `ver` only if it
//! hashes to it, so a client cannot make the server believe another release
//! has features it lacks. The verified features of each session are
//! published as the dataset `caps` for PEP to read (`published`); `lookup`
//! answers an account about its own sessions, and the bare JIDs in config
//! `admins` about any.
//!
//! Contacts on other servers are recorded the same way, from the presence
//! they send to accounts here (`remote`): a filter that sees only what other
//! servers send, held per account within a bound, forgotten when they go.

mod advertised;
mod lookup;
mod published;
mod queries;
mod remote;
mod verified;

use waxwing_sdk::mem;
use waxwing_sdk::prelude::*;

use advertised::Advertised;

struct Caps;

impl Plugin for Caps {
    fn describe() -> Describe {
        Describe::new("caps", env!("CARGO_PKG_VERSION"))
            .event(EventKind::PresenceChanged)
            .event(EventKind::SessionEnded)
            .event(EventKind::UserDeleted)
            .iq_get_host(lookup::NS, "caps")
            // Presence from other servers only: no account is watched, and
            // `init` asks for remote senders (`remote`).
            .filter(remote::route())
            .filter_scope(FilterScope::WatchedAccounts)
            .setting_text_list("admins", &[], "Bare JIDs that may read the caps of any session on this host")
            .publishes(published::DATASET, published::DOC)
            // Who is whose contact, for `remote`.
            .reads(remote::ROSTER, remote::SUBSCRIPTIONS)
            .capabilities([Capability::Kv, Capability::Mem, Capability::Route])
    }

    fn init(_config: &Json) -> Result<Ready, String> {
        remote::watch().map_err(|e| format!("watching presence from other servers: {e}"))?;
        Ok(Ready::new())
    }

    fn on_event(event: Event) -> Result<(), EventError> {
        match event {
            Event::PresenceChanged { jid, presence } => Ok(presence_changed(&jid, &presence)?),
            Event::SessionEnded { jid, .. } => Ok(session_ended(&jid)?),
            Event::UserDeleted { jid } => Ok(remote::release_all(&jid)?),
            Event::IqResponse { context, outcome, .. } => queries::answered(&context, &outcome),
            _ => Ok(()),
        }
    }

    fn filter(stanza: Stanza) -> Verdict {
        remote::presence(&stanza)
    }

    fn on_iq(iq: Iq) -> Handled {
        lookup::answer(&iq, &waxwing_sdk::config().get("admins").as_str_list())
    }
}

fn presence_changed(full_jid: &str, presence_xml: &str) -> Result<(), HostError> {
    // The kernel serialized this presence itself; if it ever did not parse,
    // the session simply has no caps known.
    let presence = Element::parse(presence_xml).ok().filter(|p| p.attr("type").is_none());
    let Some(caps) = presence.as_ref().and_then(Advertised::from_presence) else {
        return forget(full_jid);
    };
    advertise(full_jid, &caps, None)
}

/// `full_jid` advertises `caps`: recorded, and published at once when their
/// `ver` is verified, else asked about (by `asker`, or the host).
fn advertise(full_jid: &str, caps: &Advertised, asker: Option<&str>) -> Result<(), HostError> {
    let key = advertised::session_key(full_jid);
    let encoded = caps.encode();
    let before = mem::get(&key)?;
    // Most presence is a status change with the same caps: nothing to write.
    let changed = before.as_deref() != Some(encoded.as_bytes());
    if changed {
        mem::put(&key, &encoded)?;
        if before.is_some() {
            published::withdraw(full_jid)?;
        }
    }
    if !caps.is_verifiable() {
        return Ok(());
    }
    match verified::load(&caps.ver)? {
        Some(info) if changed => published::put(full_jid, &info),
        Some(_) => Ok(()),
        None => queries::ask(full_jid, caps, asker),
    }
}

/// Presence without caps: what the session advertised no longer holds.
fn forget(full_jid: &str) -> Result<(), HostError> {
    let key = advertised::session_key(full_jid);
    if mem::get(&key)?.is_none() {
        return Ok(());
    }
    mem::delete(&key)?;
    published::withdraw(full_jid)
}

/// Unconditional, unlike [`forget`]: it also clears an entry a crash left
/// behind for a session of the same full JID.
fn session_ended(full_jid: &str) -> Result<(), HostError> {
    mem::delete(&advertised::session_key(full_jid))?;
    published::withdraw(full_jid)
}

waxwing_sdk::export_plugin!(Caps);

#[cfg(test)]
mod tests;
