//! What owners do (§8): create, configure, delete and purge nodes, manage
//! subscriptions and affiliations; and an entity's own affiliations (§5.7).

use waxwing_sdk::jid;
use waxwing_sdk::prelude::*;

use crate::config::{self, NodeType};
use crate::node::{self, Affiliation, Node};
use crate::notify::{self, Change};
use crate::subscription::{self, State, Subscription};
use crate::{FORM_NODE_CONFIG, NS, NS_EVENT, NS_OWNER, Service, access, errors, items};

/// The node config form of a request's `<configure/>`, checked to be one.
fn config_form(parent: Option<&Element>) -> Result<Option<DataForm>, StanzaError> {
    let form = config::submitted_form(parent)?;
    if let Some(f) = &form
        && f.form_type().is_some_and(|t| t != FORM_NODE_CONFIG)
    {
        return Err(StanzaError::new(Condition::BadRequest).with_text("expected a pubsub#node_config form"));
    }
    Ok(form)
}

/// Each collection a node names must exist, be a collection and let the
/// creator in as an owner (XEP-0248 §6.1).
fn check_collections(service: &Service, from: &str, collections: &[String], itself: &str) -> Result<(), StanzaError> {
    for name in collections {
        if name == itself {
            return Err(StanzaError::new(Condition::NotAcceptable).with_text("a node cannot be in itself"));
        }
        let parent = node::load(service, name)?
            .ok_or_else(|| StanzaError::new(Condition::ItemNotFound).with_text(format!("no collection '{name}'")))?
            .node;
        if !parent.is_collection() {
            return Err(StanzaError::new(Condition::NotAcceptable).with_text(format!("'{name}' is not a collection")));
        }
        access::check_owner(service, &parent, from)?;
    }
    Ok(())
}

pub fn create(
    service: &Service,
    iq: &Iq,
    payload: &Element,
    request: &Element,
) -> Result<Option<Element>, StanzaError> {
    if !service.may_create(iq.from()) {
        return Err(errors::forbidden());
    }
    let instant = request.attr("node").is_none_or(str::is_empty);
    let name = if instant {
        crate::new_id()
    } else {
        crate::check_id("node", request.attr("node").unwrap_or_default())?.to_string()
    };
    let mut config = node::base_config(service);
    if let Some(form) = config_form(payload.child("configure", NS))? {
        config.apply(&form, &service.limits)?;
    }
    check_collections(service, iq.from(), &config.collections, &name)?;
    let node = Node::new(&name, iq.from(), config);
    if !node::create(service, &node)? {
        return Err(Condition::Conflict.into());
    }
    Ok(instant
        .then(|| Element::new("pubsub", NS).with_child(Element::new("create", NS).with_attr("node", name.as_str()))))
}

/// The node a `pubsub#owner` request names, once the sender is its owner.
fn owned(service: &Service, iq: &Iq, request: &Element) -> Result<Node, StanzaError> {
    let name = crate::node_attr(request)?;
    let node = node::require(service, name)?.node;
    access::check_owner(service, &node, iq.from())?;
    Ok(node)
}

pub fn get_config(service: &Service, iq: &Iq, request: &Element) -> Result<Option<Element>, StanzaError> {
    let node = owned(service, iq, request)?;
    let configure = Element::new("configure", NS_OWNER)
        .with_attr("node", node.name.as_str())
        .with_child(node.config.to_form(&service.limits).to_element());
    Ok(Some(Element::new("pubsub", NS_OWNER).with_child(configure)))
}

pub fn set_config(service: &Service, iq: &Iq, request: &Element) -> Result<Option<Element>, StanzaError> {
    let node = owned(service, iq, request)?;
    let Some(form) = config_form(Some(request))? else {
        // A cancelled form changes nothing (§8.2.5).
        return Ok(None);
    };
    let from = iq.from();
    let updated = node::update(service, &node.name, |n| {
        let before = n.config.node_type;
        n.config.apply(&form, &service.limits)?;
        if n.config.node_type != before {
            return Err(StanzaError::new(Condition::NotAcceptable).with_text("pubsub#node_type is set at creation"));
        }
        check_collections(service, from, &n.config.collections, &n.name)
    })?;
    items::trim(service, &updated.name, updated.config.max_items)?;
    if updated.config.notify_config {
        let mut event = Element::new("configuration", NS_EVENT).with_attr("node", updated.name.as_str());
        if updated.config.deliver_payloads {
            let mut form = updated.config.to_form(&service.limits);
            form.kind = FormKind::Result;
            event.push_child(form.to_element());
        }
        notify::broadcast(service, &updated, Change { event, about_items: false })?;
    }
    Ok(None)
}

pub fn default_config(service: &Service, request: &Element) -> Result<Option<Element>, StanzaError> {
    let mut config = node::base_config(service);
    if let Some(form) = config_form(Some(request))? {
        // `pubsub#node_type=collection` asks for a collection's defaults.
        if form.value("pubsub#node_type") == Some("collection") {
            config.node_type = NodeType::Collection;
        }
    }
    let default = Element::new("default", NS_OWNER).with_child(config.to_form(&service.limits).to_element());
    Ok(Some(Element::new("pubsub", NS_OWNER).with_child(default)))
}

pub fn delete(service: &Service, iq: &Iq, request: &Element) -> Result<Option<Element>, StanzaError> {
    let node = owned(service, iq, request)?;
    if node.config.notify_delete {
        let mut event = Element::new("delete", NS_EVENT).with_attr("node", node.name.as_str());
        if let Some(uri) = request.child("redirect", NS_OWNER).and_then(|r| r.attr("uri")) {
            event.push_child(Element::new("redirect", NS_EVENT).with_attr("uri", uri));
        }
        notify::broadcast(service, &node, Change { event, about_items: false })?;
    }
    items::purge(service, &node.name)?;
    subscription::remove_all(service, &node.name)?;
    waxwing_sdk::kv::delete(crate::store::node_key(service, &node.name))?;
    Ok(None)
}

pub fn purge(service: &Service, iq: &Iq, request: &Element) -> Result<Option<Element>, StanzaError> {
    let node = owned(service, iq, request)?;
    if !node.config.persist_items {
        return Err(errors::unsupported("persistent-items"));
    }
    items::purge(service, &node.name)?;
    let event = Element::new("purge", NS_EVENT).with_attr("node", node.name.as_str());
    notify::broadcast(service, &node, Change { event, about_items: false })?;
    Ok(None)
}

pub fn get_subscriptions(service: &Service, iq: &Iq, request: &Element) -> Result<Option<Element>, StanzaError> {
    let node = owned(service, iq, request)?;
    let list = subscription::of_node(service, &node.name)?.iter().fold(
        Element::new("subscriptions", NS_OWNER).with_attr("node", node.name.as_str()),
        |el, s| {
            el.with_child(
                Element::new("subscription", NS_OWNER)
                    .with_attr("jid", s.jid.as_str())
                    .with_attr("subscription", s.state.as_str()),
            )
        },
    );
    Ok(Some(Element::new("pubsub", NS_OWNER).with_child(list)))
}

pub fn set_subscriptions(service: &Service, iq: &Iq, request: &Element) -> Result<Option<Element>, StanzaError> {
    let node = owned(service, iq, request)?;
    let mut changes = Vec::new();
    for entry in request.elements().filter(|e| e.is("subscription", NS_OWNER)) {
        let jid = entry.attr("jid").and_then(|j| Jid::prep(j).ok()).map(|j| j.to_string());
        let state = entry.attr("subscription");
        match (jid, state) {
            (Some(jid), Some("none")) => changes.push((jid, None)),
            (Some(jid), Some(s)) => match State::parse(s) {
                Some(state) => changes.push((jid, Some(state))),
                None => {
                    return Err(
                        StanzaError::new(Condition::NotAcceptable).with_text(format!("no subscription state '{s}'"))
                    );
                }
            },
            _ => {
                return Err(
                    StanzaError::new(Condition::NotAcceptable).with_text("each subscription needs a jid and a state")
                );
            }
        }
    }
    for (jid, state) in changes {
        match state {
            None => subscription::remove(service, &node.name, &jid)?,
            Some(state) => {
                let mut sub =
                    subscription::get(service, &node.name, &jid)?.unwrap_or_else(|| Subscription::new(&jid, state));
                sub.state = state;
                subscription::put(service, &node.name, &sub)?;
            }
        }
    }
    Ok(None)
}

pub fn get_affiliations(service: &Service, iq: &Iq, request: &Element) -> Result<Option<Element>, StanzaError> {
    let node = owned(service, iq, request)?;
    let list = node.affiliations.iter().fold(
        Element::new("affiliations", NS_OWNER).with_attr("node", node.name.as_str()),
        |el, (jid, a)| {
            el.with_child(
                Element::new("affiliation", NS_OWNER)
                    .with_attr("jid", jid.as_str())
                    .with_attr("affiliation", a.as_str()),
            )
        },
    );
    Ok(Some(Element::new("pubsub", NS_OWNER).with_child(list)))
}

pub fn set_affiliations(service: &Service, iq: &Iq, request: &Element) -> Result<Option<Element>, StanzaError> {
    let node = owned(service, iq, request)?;
    let mut changes = Vec::new();
    for entry in request.elements().filter(|e| e.is("affiliation", NS_OWNER)) {
        let jid = entry.attr("jid").and_then(|j| Jid::prep(j).ok()).map(|j| j.bare());
        let affiliation = entry.attr("affiliation").and_then(Affiliation::parse);
        match (jid, affiliation) {
            (Some(jid), Some(a)) => changes.push((jid, a)),
            _ => {
                return Err(StanzaError::new(Condition::NotAcceptable)
                    .with_text("each affiliation needs a valid jid and one of owner, publisher, publish-only, member, none, outcast"));
            }
        }
    }
    let updated = node::update(service, &node.name, |n| {
        for (jid, a) in &changes {
            n.set_affiliation(jid, *a);
        }
        // Someone must stay in charge (§8.9.2.4).
        if n.owners().next().is_none() && !service.is_pep() {
            return Err(StanzaError::new(Condition::NotAcceptable).with_text("a node keeps at least one owner"));
        }
        Ok(())
    })?;
    // An outcast's subscriptions end with its banning (§4.1).
    for (jid, a) in &changes {
        if *a == Affiliation::Outcast {
            for (name, sub) in subscription::of_account(service, jid)? {
                if name == updated.name {
                    subscription::remove(service, &name, &sub.jid)?;
                }
            }
        }
    }
    Ok(None)
}

/// `<affiliations/>` in `pubsub`: the sender's own, on one node or all.
pub fn own_affiliations(service: &Service, iq: &Iq, request: &Element) -> Result<Option<Element>, StanzaError> {
    let bare = jid::bare(iq.from());
    let nodes = match request.attr("node") {
        Some(name) => vec![node::require(service, name)?.node],
        None => node::all(service)?,
    };
    let mut out = Element::new("affiliations", NS);
    if let Some(name) = request.attr("node") {
        out.set_attr("node", name);
    }
    for node in nodes {
        let a = node.affiliation(service, bare);
        if a != Affiliation::None {
            out.push_child(
                Element::new("affiliation", NS)
                    .with_attr("node", node.name.as_str())
                    .with_attr("affiliation", a.as_str()),
            );
        }
    }
    Ok(Some(Element::new("pubsub", NS).with_child(out)))
}
