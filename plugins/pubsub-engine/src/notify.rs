//! Event notifications (§7.1.2.1, §8.4, §8.5, §8.2.3, XEP-0248 §5): who
//! hears of a change to a node, and one `send-many` per distinct message.
//!
//! Recipients are the node's subscribers (subscribed, delivery on), the
//! subscribers of the collections it is in (with a SHIM `Collection`
//! header naming the collection), and on PEP the account's own sessions and
//! its contacts' sessions whose verified caps ask for `<node>+notify`: the
//! local ones the kernel lists, those on other servers that [`remote`] keeps.

use std::collections::{HashMap, HashSet};

use waxwing_sdk::prelude::*;
use waxwing_sdk::{datasets, jid, route, sessions};

use crate::node::Node;
use crate::subscription::{self, State, Subscription};
use crate::{NS_EVENT, NS_SHIM, Service, access, node, remote};

pub const CAPS_PLUGIN: &str = "caps";
pub const CAPS_DATASET: &str = "caps";

/// What the notification is about: the child of `<event/>`.
pub struct Change {
    pub event: Element,
    /// Item publications and retractions go to collection subscribers and,
    /// on PEP, to interested contacts; node deletions, purges and config
    /// changes only to the node's own subscribers.
    pub about_items: bool,
}

/// The `<message/>` carrying `event`, `to` left for the kernel to set.
pub fn message(service: &Service, node: &Node, event: Element) -> Element {
    let message_type =
        if node.config.notification_type == "normal" { StanzaType::Normal } else { StanzaType::Headline };
    waxwing_sdk::new_message("", message_type)
        .with_attr("from", service.jid.as_str())
        .with_attr("id", crate::new_id())
        .with_child(Element::new("event", NS_EVENT).with_child(event))
}

/// Sends `change` to everyone who should hear of it.
pub fn broadcast(service: &Service, node: &Node, change: Change) -> Result<(), StanzaError> {
    if !node.config.deliver_notifications {
        return Ok(());
    }
    let mut seen = HashSet::new();
    let direct: Vec<String> = subscription::of_node(service, &node.name)?
        .into_iter()
        .filter(|s| receives(s) && seen.insert(s.jid.clone()))
        .map(|s| s.jid)
        .collect();
    let mut recipients = direct;
    if change.about_items && service.is_pep() {
        for full in interested_sessions(service, node)? {
            // A contact subscribed by its bare JID already gets one copy
            // on each of its sessions.
            if !seen.contains(jid::bare(&full)) && seen.insert(full.clone()) {
                recipients.push(full);
            }
        }
    }
    let msg = message(service, node, change.event.clone());
    send(&msg, &recipients)?;
    if change.about_items {
        for (collection, subs) in collection_subscribers(service, node)? {
            let fresh: Vec<String> = subs.into_iter().filter(|j| seen.insert(j.clone())).collect();
            let headers = Element::new("headers", NS_SHIM)
                .with_child(Element::new("header", NS_SHIM).with_attr("name", "Collection").with_text(collection));
            send(&message(service, node, change.event.clone()).with_child(headers), &fresh)?;
        }
    }
    Ok(())
}

fn send(msg: &Element, recipients: &[String]) -> Result<(), StanzaError> {
    match recipients {
        [] => Ok(()),
        [one] => Ok(route::send(&msg.clone().with_attr("to", one.as_str()))?),
        many => Ok(route::send_many(msg, many)?),
    }
}

fn receives(sub: &Subscription) -> bool {
    sub.state == State::Subscribed && sub.deliver && !sub.kind_nodes
}

/// The subscribers of each collection above `node` that want its items:
/// all of the direct parents', and those of farther ancestors that asked
/// for every depth.
fn collection_subscribers(service: &Service, node: &Node) -> Result<Vec<(String, Vec<String>)>, StanzaError> {
    let mut out = Vec::new();
    let mut visited = HashSet::new();
    let mut level: Vec<String> = node.config.collections.clone();
    let mut depth = 1;
    while !level.is_empty() && depth <= 16 {
        let mut next = Vec::new();
        for name in level {
            if !visited.insert(name.clone()) {
                continue;
            }
            let Some(parent) = node::load(service, &name)? else { continue };
            let subs = subscription::of_node(service, &name)?
                .into_iter()
                .filter(|s| receives(s) && (depth == 1 || s.depth_all))
                .map(|s| s.jid)
                .collect();
            out.push((name, subs));
            next.extend(parent.node.config.collections.iter().cloned());
        }
        level = next;
        depth += 1;
    }
    Ok(out)
}

/// A session's verified caps features (the caps plugin's dataset), once
/// they are known.
pub struct Caps(String);

impl Caps {
    pub fn of(full_jid: &str) -> Result<Option<Caps>, HostError> {
        let features = datasets::get(CAPS_PLUGIN, CAPS_DATASET, full_jid)?;
        Ok(features.map(|f| Caps(String::from_utf8_lossy(&f).into_owned())))
    }

    /// Whether they ask for `node`'s notifications (`<node>+notify`).
    pub fn want(&self, node: &str) -> bool {
        self.0.lines().any(|f| f.strip_suffix("+notify") == Some(node))
    }
}

/// Whether a session's verified caps ask for `node`'s notifications.
pub fn wants_notify(full_jid: &str, node: &str) -> Result<bool, HostError> {
    Ok(Caps::of(full_jid)?.is_some_and(|caps| caps.want(node)))
}

/// PEP's implicit recipients (XEP-0163 §4.3): the available sessions of
/// the account and of the contacts the node's access model admits, whose
/// caps ask for the node; a contact on another server by the full JIDs
/// that told the account their presence ([`remote`]).
pub fn interested_sessions(service: &Service, node: &Node) -> Result<Vec<String>, StanzaError> {
    let Some(owner) = service.pep_owner() else { return Ok(Vec::new()) };
    let mut remote_by_bare: HashMap<String, Vec<String>> = HashMap::new();
    for full in remote::sessions(owner)? {
        remote_by_bare.entry(jid::bare(&full).to_string()).or_default().push(full);
    }
    let mut out = Vec::new();
    for contact in std::iter::once(owner.to_string()).chain(presence_subscribers(owner)?) {
        if contact != owner && access::model_admits(service, node, &contact)?.is_err() {
            continue;
        }
        if jid::domain(&contact) == waxwing_sdk::domain() {
            out.extend(sessions_wanting(&contact, &node.name)?);
            continue;
        }
        for full in remote_by_bare.remove(&contact).unwrap_or_default() {
            if wants_notify(&full, &node.name)? {
                out.push(full);
            }
        }
    }
    Ok(out)
}

/// The available sessions of `bare` on this host whose caps want `node`
/// (none for a JID of another domain: see [`remote`]).
pub fn sessions_wanting(bare: &str, node: &str) -> Result<Vec<String>, HostError> {
    if jid::domain(bare) != waxwing_sdk::domain() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for session in sessions::of(bare)? {
        if session.available && wants_notify(&session.jid, node)? {
            out.push(session.jid);
        }
    }
    Ok(out)
}

/// The contacts that see `owner`'s presence (`from` or `both`).
pub fn presence_subscribers(owner: &str) -> Result<Vec<String>, HostError> {
    roster_contacts(owner, &[b"from", b"both"])
}

/// The accounts whose presence `user` sees (`to` or `both`): whose PEP
/// nodes may send it their last items when it comes online.
pub fn presence_subscriptions(user: &str) -> Result<Vec<String>, HostError> {
    roster_contacts(user, &[b"to", b"both"])
}

/// The contacts in `user`'s roster whose subscription is one of `states`.
fn roster_contacts(user: &str, states: &[&[u8]]) -> Result<Vec<String>, HostError> {
    let prefix = format!("{user} ");
    let mut out = Vec::new();
    for entry in datasets::scan_iter(access::ROSTER, access::SUBSCRIPTIONS, &prefix) {
        let (key, value) = entry?;
        if states.contains(&value.as_slice())
            && let Some(contact) = key.strip_prefix(&prefix)
        {
            out.push(contact.to_string());
        }
    }
    Ok(out)
}
