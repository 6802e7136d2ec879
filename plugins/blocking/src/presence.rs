//! XEP-0191 §3.3 and §3.4 as a user expects them: a contact the user blocks
//! sees the user go offline at once (unavailable from each available
//! resource), and sees the user's current presence again once unblocked,
//! when the contact receives the user's presence at all. That is the
//! roster's business: its `subscriptions` dataset says `from` or `both`.
//! This plugin's own sends skip its own filter, so they go out whatever the
//! list says.

use std::collections::BTreeSet;

use waxwing_sdk::prelude::*;
use waxwing_sdk::{datasets, jid, log, new_presence, parse_client_xml, route, sessions};

use crate::storage;

pub const ROSTER: &str = "roster";
pub const SUBSCRIPTIONS: &str = "subscriptions";

fn receives_presence(subscription: &[u8]) -> bool {
    matches!(subscription, b"from" | b"both")
}

/// The addresses among `items` that receive `user`'s presence and that the
/// list does not block (before a block: those it will hide; after an
/// unblock: those it shows again). An item naming an account, bare or full,
/// counts when that account is subscribed, as it is: a full JID blocks one
/// resource only. A domain item covers every subscribed contact there.
pub fn subscribed_and_unblocked(user: &str, items: &[String]) -> Result<Vec<String>, HostError> {
    let mut found = BTreeSet::new();
    let mut domains = Vec::new();
    for item in items {
        match (jid::node(item), jid::resource(item)) {
            (Some(_), _) => {
                let entry = datasets::get(ROSTER, SUBSCRIPTIONS, &format!("{user} {}", jid::bare(item)))?;
                if entry.as_deref().is_some_and(receives_presence) {
                    found.insert(item.clone());
                }
            }
            (None, None) => domains.push(item.as_str()),
            // `domain/resource`: a service's resource, no roster contact.
            (None, Some(_)) => {}
        }
    }
    if !domains.is_empty() {
        let prefix = format!("{user} ");
        for entry in datasets::scan_iter(ROSTER, SUBSCRIPTIONS, &prefix) {
            let (key, subscription) = entry?;
            let contact = key.strip_prefix(&prefix).unwrap_or_default();
            if domains.contains(&jid::domain(contact)) && receives_presence(&subscription) {
                found.insert(contact.to_string());
            }
        }
    }
    let mut out = Vec::new();
    for address in found {
        if !storage::blocks(user, &address)? {
            out.push(address);
        }
    }
    Ok(out)
}

/// Unavailable from each of `user`'s available resources to each of `to`.
pub fn hide(user: &str, to: &[String]) -> Result<(), HostError> {
    if to.is_empty() {
        return Ok(());
    }
    for s in sessions::of(user)?.into_iter().filter(|s| s.available) {
        route::send_many(&new_presence(StanzaType::Unavailable).with_attr("from", s.jid), to)?;
    }
    Ok(())
}

/// The current presence of each of `user`'s available resources to each of `to`.
pub fn show(user: &str, to: &[String]) -> Result<(), HostError> {
    if to.is_empty() {
        return Ok(());
    }
    for s in sessions::of(user)?.into_iter().filter(|s| s.available) {
        let Ok(mut p) = parse_client_xml(&s.presence) else { continue };
        p.set_attr("from", s.jid);
        route::send_many(&p, to)?;
    }
    Ok(())
}

/// A notice that fails is logged, not answered: the list changed all the same.
pub fn or_log<T: Default>(what: &str, user: &str, r: Result<T, HostError>) -> T {
    r.unwrap_or_else(|e| {
        log::warn(&format!("{what} for {user}: {e}"));
        T::default()
    })
}
