//! Caps of contacts on other servers: what a remote full JID advertises in
//! the presence it sends to an account here (its server's broadcast to the
//! bare JID, a directed presence, an answer to a probe), recorded and
//! verified like a local session's, so that PEP can notify it.
//!
//! The kernel hands the filter only presence from other servers: the scope
//! watches no account and `init` asks for remote senders
//! (`filter_scope::watch_remote`), so no local stanza enters wasm for it.
//! Available presence with caps records them under the full JID, as for a
//! session, and asks about an unknown `ver` from the account it was sent to
//! (as Prosody's mod_pep does: a client may answer only its contacts).
//! Unavailable or error presence, or available presence without caps, lets
//! go of the full JID.
//!
//! Only contacts count: a full JID whose bare JID is in the account's roster
//! (the roster plugin's `subscriptions` dataset, whatever the subscription),
//! so a stranger's presence makes this plugin neither ask nor keep anything.
//! Each account holds at most [`MAX_PER_ACCOUNT`] remote full JIDs in `mem`
//! (`held/<account>`, oldest first; past the bound the oldest is let go),
//! and each remote full JID counts the accounts holding it
//! (`holders/<full JID>`): its caps are forgotten when the last one lets go.

use waxwing_sdk::prelude::*;
use waxwing_sdk::{datasets, filter_scope, jid, log, mem};

use crate::advertised::{self, Advertised};
use crate::published;

/// Remote full JIDs one account holds; a roster of a few hundred contacts
/// online on a phone and a desktop each fits.
pub const MAX_PER_ACCOUNT: usize = 256;

/// Below the roster's (50) and blocking's (100) filters: presence blocking
/// drops is never recorded. Above PEP's (10), which reads what this writes.
const FILTER_PRIORITY: i32 = 20;

/// The roster plugin's dataset of who is in whose roster.
pub const ROSTER: &str = "roster";
pub const SUBSCRIPTIONS: &str = "subscriptions";

/// Whether `contact` (bare) is in `account`'s roster.
fn in_roster(account: &str, contact: &str) -> Result<bool, HostError> {
    Ok(datasets::get(ROSTER, SUBSCRIPTIONS, &format!("{account} {contact}"))?.is_some())
}

/// Presence to an account or one of its sessions.
pub fn route() -> Route {
    Route::presence()
        .of_types([StanzaType::Available, StanzaType::Unavailable, StanzaType::Error])
        .to_each([Address::Bare, Address::Full])
        .priority(FILTER_PRIORITY)
}

/// Has the kernel hand the filter what other servers send.
pub fn watch() -> Result<(), HostError> {
    filter_scope::watch_remote(true)
}

fn held_key(account: &str) -> String {
    format!("held/{account}")
}

fn holders_key(full_jid: &str) -> String {
    format!("holders/{full_jid}")
}

/// The filter: records or lets go, and always lets the presence through.
pub fn presence(stanza: &Stanza) -> Verdict {
    if let Err(e) = observe(stanza) {
        log::warn(&format!("caps of {} (presence to {}) not kept: {e}", stanza.from(), stanza.to()));
    }
    Verdict::Pass
}

fn observe(stanza: &Stanza) -> Result<(), HostError> {
    let (from, to) = (stanza.from(), stanza.to());
    let here = waxwing_sdk::domain();
    // The kernel sends only remote senders and local addressees; a full JID
    // is what advertises caps.
    if jid::domain(from) == here || jid::resource(from).is_none() || jid::node(to).is_none() || jid::domain(to) != here
    {
        return Ok(());
    }
    let account = jid::bare(to);
    match stanza.stanza_type() {
        StanzaType::Available => {
            let caps = stanza.element().ok().and_then(Advertised::from_presence);
            match caps {
                // Only a contact's: a stranger's presence costs nothing here.
                Some(caps) if in_roster(account, jid::bare(from))? => {
                    hold(account, from)?;
                    crate::advertise(from, &caps, Some(account))
                }
                _ => let_go(account, from),
            }
        }
        StanzaType::Unavailable | StanzaType::Error => let_go(account, from),
        _ => Ok(()),
    }
}

/// The remote full JIDs `account` holds, oldest first.
#[cfg(test)]
pub fn held(account: &str) -> Result<Vec<String>, HostError> {
    mem::lines(&held_key(account))
}

/// Changes `account`'s list with `change` (see [`mem::update_lines`]).
fn update<T>(account: &str, change: impl Fn(&mut Vec<String>) -> Option<T>) -> Result<Option<T>, HostError> {
    mem::update_lines(&held_key(account), change)
}

/// `account` holds `full_jid` (once), letting go of its oldest past the bound.
fn hold(account: &str, full_jid: &str) -> Result<(), HostError> {
    let added = update(account, |list| {
        if list.iter().any(|j| j == full_jid) {
            return None;
        }
        list.push(full_jid.to_owned());
        let excess = list.len().saturating_sub(MAX_PER_ACCOUNT);
        Some(list.drain(..excess).collect::<Vec<_>>())
    })?;
    let Some(dropped) = added else { return Ok(()) };
    mem::incr(&holders_key(full_jid), 1)?;
    for old in dropped {
        released(&old)?;
    }
    Ok(())
}

/// `account` no longer sees `full_jid`.
fn let_go(account: &str, full_jid: &str) -> Result<(), HostError> {
    let removed = update(account, |list| {
        let before = list.len();
        list.retain(|j| j != full_jid);
        (list.len() != before).then_some(())
    })?;
    if removed.is_some() {
        released(full_jid)?;
    }
    Ok(())
}

/// One account fewer holds `full_jid`: its caps go with the last.
fn released(full_jid: &str) -> Result<(), HostError> {
    let key = holders_key(full_jid);
    if mem::incr(&key, -1)? > 0 {
        return Ok(());
    }
    mem::delete(&key)?;
    mem::delete(&advertised::session_key(full_jid))?;
    published::withdraw(full_jid)
}

/// A deleted account holds nothing any more.
pub fn release_all(account: &str) -> Result<(), HostError> {
    for full_jid in mem::take_lines(&held_key(account))? {
        released(&full_jid)?;
    }
    Ok(())
}
