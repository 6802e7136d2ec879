//! Contacts on other servers (XEP-0163 across server-to-server), the way
//! Prosody's mod_pep does it: the presence a remote contact sends to an
//! account here says which of its full JIDs are online, and its caps (which
//! the caps plugin verifies, asking across servers) say which nodes each
//! wants.
//!
//! The filter sees only presence from other servers (no account watched,
//! `filter_scope::watch_remote` in `init`). Available presence with caps
//! from a contact in the account's roster keeps the full JID among the
//! account's remote recipients ([`pubsub_engine::remote`]), which every
//! publish reads, checking then, as for a local contact, that the contact
//! sees the account's presence and that the node's access model admits it
//! (so a subscription approved later counts at once). A contact that sees
//! the account's presence also gets the newest item of each node it asks
//! for once its caps are verified, as `online.rs` does for a local session.
//! Unavailable or error presence lets the full JID go; nothing of a
//! stranger's presence is kept.

use pubsub_engine::config::SendLast;
use pubsub_engine::notify::Caps;
use pubsub_engine::{access, node, remote, subscribe};
use waxwing_sdk::prelude::*;
use waxwing_sdk::{filter_scope, jid, log, mem, timers};

/// Below the caps plugin's (20), which records the caps this reads.
const FILTER_PRIORITY: i32 = 10;
/// How long to wait for caps to be verified, each time: a query to another
/// server's client takes longer than to a local one.
const RETRIES_MS: &[u64] = &[500, 1_000, 3_000, 10_000, 30_000];

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

/// Per account and remote full JID: the `ver` it advertises now, the one
/// whose newest items it got, and the tries left while its caps are asked.
fn key(what: &str, account: &str, full: &str) -> String {
    format!("r{what}/{account}/{full}")
}

/// What a retry timer carries: a local full JID never holds a line break.
fn timer_data(account: &str, full: &str) -> String {
    format!("{account}\n{full}")
}

/// Whether a timer is one of these (else `online.rs`'s).
pub fn is_timer(data: &str) -> bool {
    data.contains('\n')
}

/// The filter: keeps or lets go, and always lets the presence through.
pub fn presence(stanza: &Stanza) -> Verdict {
    if let Err(e) = observe(stanza) {
        log::warn(&format!("presence of {} to {}: {e:?}", stanza.from(), stanza.to()));
    }
    Verdict::Pass
}

fn observe(stanza: &Stanza) -> Result<(), StanzaError> {
    let (from, to) = (stanza.from(), stanza.to());
    let here = waxwing_sdk::domain();
    if jid::domain(from) == here || jid::resource(from).is_none() || jid::node(to).is_none() || jid::domain(to) != here
    {
        return Ok(());
    }
    let account = jid::bare(to);
    if stanza.stanza_type() != StanzaType::Available {
        return Ok(forget(account, from)?);
    }
    let ver = stanza.element().ok().and_then(crate::online::caps_ver).filter(|v| !v.contains('\n'));
    let Some(ver) = ver else { return Ok(forget(account, from)?) };
    let contact = jid::bare(from);
    if !access::in_roster(account, contact)? {
        return Ok(forget(account, from)?);
    }
    for dropped in remote::add(account, from)? {
        clear(account, &dropped)?;
    }
    if !access::has_presence_subscription(account, contact)? {
        // Its items wait until it may see the account's presence.
        return Ok(());
    }
    if mem::get(&key("seen", account, from))?.as_deref() == Some(ver.as_bytes()) {
        return Ok(());
    }
    mem::put(&key("ver", account, from), &ver)?;
    mem::delete(&key("tries", account, from))?;
    attempt(account, from, &ver)
}

/// Sends the newest items once the caps of `full` are known, else waits.
fn attempt(account: &str, full: &str, ver: &str) -> Result<(), StanzaError> {
    let tries = key("tries", account, full);
    let Some(caps) = Caps::of(full)? else {
        let n = mem::incr(&tries, 1)?;
        if let Some(delay) = usize::try_from(n - 1).ok().and_then(|i| RETRIES_MS.get(i)) {
            timers::set(*delay, &timer_data(account, full))?;
        } else {
            mem::delete(&tries)?;
        }
        return Ok(());
    };
    mem::delete(&tries)?;
    mem::put(&key("seen", account, full), ver)?;
    send_newest(account, full, &caps)
}

/// A retry timer: the caps `full` advertises now, if the account still
/// keeps it.
pub fn retry(data: &str) -> Result<(), StanzaError> {
    let Some((account, full)) = data.split_once('\n') else { return Ok(()) };
    let current = mem::get(&key("ver", account, full))?;
    let Some(ver) = current.and_then(|v| String::from_utf8(v).ok()) else {
        mem::delete(&key("tries", account, full))?;
        return Ok(());
    };
    if mem::get(&key("seen", account, full))?.as_deref() == Some(ver.as_bytes()) {
        return Ok(());
    }
    attempt(account, full, &ver)
}

/// `full` is no longer online for `account`, or asks for nothing.
fn forget(account: &str, full: &str) -> Result<(), HostError> {
    remote::remove(account, full)?;
    clear(account, full)
}

fn clear(account: &str, full: &str) -> Result<(), HostError> {
    for what in ["ver", "seen", "tries"] {
        mem::delete(&key(what, account, full))?;
    }
    Ok(())
}

/// A deleted account keeps no remote recipients.
pub fn account_deleted(account: &str) -> Result<(), HostError> {
    for full in remote::remove_all(account)? {
        clear(account, &full)?;
    }
    Ok(())
}

/// The newest item of each of `account`'s nodes that `full` asks for and
/// may read, if it still sees the account's presence.
fn send_newest(account: &str, full: &str, caps: &Caps) -> Result<(), StanzaError> {
    let contact = jid::bare(full);
    if !access::has_presence_subscription(account, contact)? {
        return Ok(());
    }
    let service = crate::service(account);
    for node in node::all(&service)? {
        let wanted =
            node.config.send_last == SendLast::OnSubAndPresence && !node.is_collection() && caps.want(&node.name);
        if !wanted || access::model_admits(&service, &node, contact)?.is_err() {
            continue;
        }
        subscribe::send_last_items(&service, &node, full)?;
    }
    Ok(())
}
