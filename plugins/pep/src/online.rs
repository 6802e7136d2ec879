//! The newest items for a session that comes online (XEP-0163 §4.3.2): when
//! a session first tells its presence with caps, or advertises other caps,
//! it gets the newest item of each node it asks `+notify` for, of its own
//! account and of every account whose presence it sees.
//!
//! Caps are verified by the caps plugin, which may answer after this
//! presence arrives: while a session's verified features are not yet in its
//! dataset, a timer looks again a few times.

use pubsub_engine::config::SendLast;
use pubsub_engine::notify::{self, Caps};
use pubsub_engine::{access, node, subscribe};
use waxwing_sdk::prelude::*;
use waxwing_sdk::{jid, mem, sessions, timers};

/// How long to wait for caps to be verified, each time.
const RETRIES_MS: &[u64] = &[300, 1_000, 3_000, 10_000];

fn seen_key(full: &str) -> String {
    format!("seen/{full}")
}

fn tries_key(full: &str) -> String {
    format!("tries/{full}")
}

/// The caps `ver` a presence advertises.
pub(crate) fn caps_ver(presence: &Element) -> Option<String> {
    presence.child("c", ns::CAPS).and_then(|c| c.attr("ver")).map(str::to_string)
}

pub fn presence(full: &str, xml: &str) -> Result<(), StanzaError> {
    let presence = waxwing_sdk::parse_client_xml(xml)?;
    if presence.attr("type").is_some() {
        return Ok(());
    }
    let Some(ver) = caps_ver(&presence) else { return Ok(()) };
    if mem::get(&seen_key(full))?.as_deref() == Some(ver.as_bytes()) {
        return Ok(());
    }
    mem::delete(&tries_key(full))?;
    attempt(full, &ver)
}

/// Sends the newest items once the session's caps are known, else waits.
fn attempt(full: &str, ver: &str) -> Result<(), StanzaError> {
    let Some(caps) = Caps::of(full)? else {
        let tries = mem::incr(&tries_key(full), 1)?;
        if let Some(delay) = usize::try_from(tries - 1).ok().and_then(|i| RETRIES_MS.get(i)) {
            timers::set(*delay, full)?;
        } else {
            mem::delete(&tries_key(full))?;
        }
        return Ok(());
    };
    mem::delete(&tries_key(full))?;
    mem::put(&seen_key(full), ver)?;
    send_newest(full, &caps)
}

/// A retry timer: the session's current caps, if it is still there.
pub fn retry(full: &str) -> Result<(), StanzaError> {
    let bare = jid::bare(full);
    let Some(session) = sessions::of(bare)?.into_iter().find(|s| s.jid == full) else {
        mem::delete(&tries_key(full))?;
        return Ok(());
    };
    let Ok(presence) = waxwing_sdk::parse_client_xml(&session.presence) else { return Ok(()) };
    match caps_ver(&presence) {
        Some(ver) if session.available => attempt(full, &ver),
        _ => Ok(()),
    }
}

pub fn ended(full: &str) -> Result<(), StanzaError> {
    mem::delete(&seen_key(full))?;
    mem::delete(&tries_key(full))?;
    Ok(())
}

fn send_newest(full: &str, caps: &Caps) -> Result<(), StanzaError> {
    let user = jid::bare(full);
    let accounts = std::iter::once(user.to_string()).chain(notify::presence_subscriptions(user)?);
    for account in accounts {
        if jid::domain(&account) != waxwing_sdk::domain() {
            continue;
        }
        let service = crate::service(&account);
        for node in node::all(&service)? {
            let wanted =
                node.config.send_last == SendLast::OnSubAndPresence && !node.is_collection() && caps.want(&node.name);
            if !wanted || (account != user && access::model_admits(&service, &node, user)?.is_err()) {
                continue;
            }
            // What a new subscriber gets: the newest item, delayed.
            subscribe::send_last_items(&service, &node, full)?;
        }
    }
    Ok(())
}
