//! `jabber:iq:roster` (RFC 6121 §2): a user's get and set of their own
//! roster, pushes to interested resources, and roster versioning (XEP-0237).

use waxwing_sdk::jid::bare;
use waxwing_sdk::prelude::*;
use waxwing_sdk::{route, sessions};

use crate::item::{self, Item, NS_ROSTER, RosterSet};
use crate::storage;
use crate::subscription::Request;
use crate::{presence, session_state, stanzas};

pub fn handle(iq: Iq) -> Handled {
    let user = iq.to().to_string();
    // XEP-0227: the server itself imports and exports rosters.
    if crate::migrate::from_server(&iq) {
        return crate::migrate::handle(&iq, &user);
    }
    // §2.1.5/§2.3.3: a roster belongs to its account alone.
    if bare(iq.from()) != user {
        return Err(StanzaError::new(Condition::Forbidden).with_text("that roster is not yours"));
    }
    if iq.is_get() { get(&iq, &user) } else { set(&iq, &user) }
}

/// What a roster get with `ver` should answer (XEP-0237 §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// The whole roster, with the current version.
    Full,
    /// An empty result, then pushes of what changed after this version.
    ChangesSince(u64),
}

/// A version this server handed out (a number no greater than the current
/// one) is answered with changes; anything else gets the whole roster.
pub fn plan(requested: Option<&str>, current: u64) -> Answer {
    match requested.and_then(|v| v.parse::<u64>().ok()) {
        Some(v) if v <= current => Answer::ChangesSince(v),
        _ => Answer::Full,
    }
}

/// Roster items changed after `since`, removals included, oldest first,
/// each with the version it was changed at.
pub fn changes_since(items: &[Item], tombstones: &[(String, u64)], since: u64) -> Vec<(u64, Element)> {
    let mut changes: Vec<(u64, Element)> = items
        .iter()
        .filter(|i| i.listed && i.ver > since)
        .map(|i| (i.ver, i.to_wire()))
        .chain(tombstones.iter().filter(|(_, v)| *v > since).map(|(jid, v)| (*v, item::removal_wire(jid))))
        .collect();
    changes.sort_by_key(|(v, _)| *v);
    changes
}

fn get(iq: &Iq, user: &str) -> Handled {
    session_state::mark_interested(iq.from())?;
    let current = storage::current_ver(user)?;
    let requested = iq.payload()?.attr("ver");
    match plan(requested, current) {
        Answer::Full => {
            let mut query = Element::new("query", NS_ROSTER).with_attr("ver", current.to_string());
            for item in storage::items(user)?.iter().filter(|i| i.listed) {
                query.push_child(item.to_wire());
            }
            iq.reply_with(query)
        }
        Answer::ChangesSince(since) => {
            // The empty result must reach the client before the pushes.
            route::send(&iq.result())?;
            for (ver, wire) in changes_since(&storage::items(user)?, &storage::tombstones(user)?, since) {
                route::send(&stanzas::roster_push(user, iq.from(), wire, ver))?;
            }
            Ok(Outcome::Done)
        }
    }
}

fn set(iq: &Iq, user: &str) -> Handled {
    let (jid, name, groups) = match item::parse_set(iq.payload()?, user)? {
        RosterSet::Update { jid, name, groups } => (jid, name, groups),
        RosterSet::Remove { jid } => return remove(iq, user, &jid),
    };
    // Pushed even when nothing changed, as RFC 6121 §2.3.2 has it.
    let (change, ()) = storage::update(user, &jid, true, |item| {
        if !item.listed && storage::is_full(user)? {
            return Err(roster_full());
        }
        item.listed = true;
        item.name = name.clone();
        item.groups = groups.clone();
        Ok(())
    })?;
    route::send(&iq.result())?;
    if let Some(ver) = change.ver {
        push(user, &change.after.to_wire(), ver)?;
    }
    Ok(Outcome::Done)
}

/// The answer when a roster has reached `max_items`.
pub fn roster_full() -> StanzaError {
    StanzaError::new(Condition::ResourceConstraint).with_text("the roster is full")
}

/// §2.5.2: the item goes, and with it every subscription either way.
fn remove(iq: &Iq, user: &str, contact: &str) -> Handled {
    let (change, ()) = storage::update(user, contact, false, |item| {
        if !item.listed {
            return Err(StanzaError::new(Condition::ItemNotFound));
        }
        item.listed = false;
        item.sub = Default::default();
        Ok(())
    })?;
    route::send(&iq.result())?;
    if let Some(ver) = change.ver {
        push(user, &item::removal_wire(contact), ver)?;
    }
    let before = change.before.sub;
    if before.to || before.pending_out {
        route::send(&stanzas::subscription(Request::Unsubscribe, user, contact))?;
    }
    if before.from || before.pending_in {
        route::send(&stanzas::subscription(Request::Unsubscribed, user, contact))?;
    }
    if before.from {
        presence::send_unavailable_of_resources(user, contact)?;
    }
    Ok(Outcome::Done)
}

/// §2.1.6: a change goes to every resource of the user that asked for the roster.
pub fn push(user: &str, wire: &Element, ver: u64) -> Result<(), HostError> {
    for s in sessions::of(user)? {
        if session_state::is_interested(&s.jid)? {
            route::send(&stanzas::roster_push(user, &s.jid, wire.clone(), ver))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_versions_get_changes_others_the_whole_roster() {
        assert_eq!(plan(None, 5), Answer::Full);
        assert_eq!(plan(Some(""), 5), Answer::Full);
        assert_eq!(plan(Some("ver13"), 5), Answer::Full);
        assert_eq!(plan(Some("6"), 5), Answer::Full);
        assert_eq!(plan(Some("-1"), 5), Answer::Full);
        assert_eq!(plan(Some("5"), 5), Answer::ChangesSince(5));
        assert_eq!(plan(Some("0"), 0), Answer::ChangesSince(0));
        assert_eq!(plan(Some("2"), 5), Answer::ChangesSince(2));
    }

    #[test]
    fn changes_are_listed_items_and_removals_in_version_order() {
        let mut a = Item::new("a@h");
        a.listed = true;
        a.ver = 4;
        let mut b = Item::new("b@h");
        b.listed = true;
        b.ver = 1;
        let mut pending = Item::new("p@h");
        pending.ver = 9;
        let tombs = vec![("gone@h".to_string(), 3), ("old@h".to_string(), 1)];
        let changes = changes_since(&[a, b, pending], &tombs, 1);
        let summary: Vec<(u64, String, String)> = changes
            .iter()
            .map(|(v, e)| {
                (*v, e.attr("jid").unwrap_or("").to_string(), e.attr("subscription").unwrap_or("").to_string())
            })
            .collect();
        assert_eq!(summary, vec![(3, "gone@h".into(), "remove".into()), (4, "a@h".into(), "none".into())]);
        assert!(changes_since(&[], &tombs, 3).is_empty());
    }
}
