//! What owners do (§8): create, configure, delete and purge nodes, manage
//! subscriptions and affiliations; and an entity's own affiliations (§5.7).

use waxwing_sdk::jid;
use waxwing_sdk::prelude::*;

use crate::config::{self, NodeType};
use crate::node::{self, Affiliation, Node};
use crate::notify::{self, Change};
use crate::subscription::{self, State, Subscription};
use crate::{Answer, FORM_NODE_CONFIG, NS, NS_EVENT, NS_OWNER, Service, access, errors, items};

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

/// XEP-0248 §7.2.3: the error of a node graph that cannot be.
fn invalid_options(why: String) -> StanzaError {
    errors::pubsub(Condition::NotAllowed, "invalid-options").with_type(ErrorType::Cancel).with_text(why)
}

/// Each collection a node names must exist, be a collection, let the
/// creator in as an owner (XEP-0248 §6.1), and not be the node itself or
/// below it (§7.2.3.5: no cycles).
fn check_collections(service: &Service, from: &str, collections: &[String], itself: &str) -> Result<(), StanzaError> {
    for name in collections {
        let parent = node::load(service, name)?
            .ok_or_else(|| StanzaError::new(Condition::ItemNotFound).with_text(format!("no collection '{name}'")))?
            .node;
        if !parent.is_collection() {
            return Err(invalid_options(format!("'{name}' is a leaf: leaves have no children")));
        }
        access::check_owner(service, &parent, from)?;
        if is_within(service, &parent, itself)? {
            return Err(invalid_options(format!("'{itself}' in '{name}' would make a cycle")));
        }
    }
    Ok(())
}

/// Whether `node` is `ancestor` or lies below it.
fn is_within(service: &Service, node: &Node, ancestor: &str) -> Result<bool, StanzaError> {
    let mut seen = std::collections::HashSet::new();
    let mut level = vec![node.clone()];
    while !level.is_empty() {
        let mut next = Vec::new();
        for n in level {
            if n.name == ancestor {
                return Ok(true);
            }
            if !seen.insert(n.name.clone()) {
                continue;
            }
            for parent in &n.config.collections {
                if let Some(p) = node::load(service, parent)? {
                    next.push(p.node);
                }
            }
        }
        level = next;
    }
    Ok(false)
}

/// The nodes directly in `collection`.
pub fn children(service: &Service, collection: &str) -> Result<Vec<String>, StanzaError> {
    Ok(node::all(service)?
        .into_iter()
        .filter(|n| n.config.collections.iter().any(|c| c == collection))
        .map(|n| n.name)
        .collect())
}

/// A collection's `pubsub#children`, submitted: each listed node joins
/// it, each other child leaves it.
fn set_children(service: &Service, from: &str, collection: &Node, wanted: &[String]) -> Result<(), StanzaError> {
    if !collection.is_collection() {
        return Err(invalid_options("a leaf has no children".into()));
    }
    let current = children(service, &collection.name)?;
    for name in wanted.iter().filter(|n| !current.contains(n)) {
        let child = node::require(service, name)?.node;
        access::check_owner(service, &child, from)?;
        if is_within(service, collection, name)? {
            return Err(invalid_options(format!("'{name}' in '{}' would make a cycle", collection.name)));
        }
        node::update(service, name, |n| {
            n.config.collections.push(collection.name.clone());
            Ok(())
        })?;
    }
    for name in current.iter().filter(|n| !wanted.contains(n)) {
        node::update(service, name, |n| {
            n.config.collections.retain(|c| *c != collection.name);
            Ok(())
        })?;
    }
    Ok(())
}

pub fn create(service: &Service, iq: &Iq, payload: &Element, request: &Element) -> Answer {
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
    let configure = payload.child("configure", NS);
    if configure.is_some_and(|c| c.attr("node").is_some()) {
        // §8.1.3: the node is named by <create/> alone.
        return Err(StanzaError::new(Condition::BadRequest).with_text("<configure/> of a create names no node"));
    }
    let form = config_form(configure)?;
    if let Some(form) = &form {
        config.apply(form, &service.limits)?;
    }
    check_collections(service, iq.from(), &config.collections, &name)?;
    let node = Node::new(&name, iq.from(), config);
    if !node::create(service, &node)? {
        return Err(Condition::Conflict.into());
    }
    if let Some(kids) = form.as_ref().and_then(|f| f.get("pubsub#children")) {
        set_children(service, iq.from(), &node, &kids.values)?;
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

pub fn get_config(service: &Service, iq: &Iq, request: &Element) -> Answer {
    let node = owned(service, iq, request)?;
    let kids = if node.is_collection() { children(service, &node.name)? } else { Vec::new() };
    let configure = Element::new("configure", NS_OWNER)
        .with_attr("node", node.name.as_str())
        .with_child(node.config.to_form(&service.limits, &kids).to_element());
    Ok(Some(Element::new("pubsub", NS_OWNER).with_child(configure)))
}

pub fn set_config(service: &Service, iq: &Iq, request: &Element) -> Answer {
    let node = owned(service, iq, request)?;
    let Some(form) = config_form(Some(request))? else {
        // A cancelled form changes nothing (§8.2.5).
        return Ok(None);
    };
    let from = iq.from();
    let has_items = !items::newest(service, &node.name, 1)?.is_empty();
    let updated = node::update(service, &node.name, |n| {
        let before = n.config.node_type;
        n.config.apply(&form, &service.limits)?;
        match (before, n.config.node_type) {
            (NodeType::Collection, NodeType::Leaf) => {
                return Err(invalid_options("a collection stays a collection".into()));
            }
            (NodeType::Leaf, NodeType::Collection) if has_items => {
                return Err(invalid_options("a leaf with items cannot become a collection; purge it first".into()));
            }
            _ => {}
        }
        check_collections(service, from, &n.config.collections, &n.name)
    })?;
    if let Some(kids) = form.get("pubsub#children") {
        set_children(service, from, &updated, &kids.values)?;
    }
    items::trim(service, &updated.name, updated.config.max_items)?;
    if updated.config.notify_config {
        let mut event = Element::new("configuration", NS_EVENT).with_attr("node", updated.name.as_str());
        if updated.config.deliver_payloads {
            let kids = if updated.is_collection() { children(service, &updated.name)? } else { Vec::new() };
            let mut form = updated.config.to_form(&service.limits, &kids);
            form.kind = FormKind::Result;
            event.push_child(form.to_element());
        }
        notify::broadcast(service, &updated, Change { event, about_items: false })?;
    }
    Ok(None)
}

pub fn default_config(service: &Service, request: &Element) -> Answer {
    let mut config = node::base_config(service);
    if let Some(form) = config_form(Some(request))? {
        // `pubsub#node_type=collection` asks for a collection's defaults.
        if form.value("pubsub#node_type") == Some("collection") {
            config.node_type = NodeType::Collection;
        }
    }
    let default = Element::new("default", NS_OWNER).with_child(config.to_form(&service.limits, &[]).to_element());
    Ok(Some(Element::new("pubsub", NS_OWNER).with_child(default)))
}

pub fn delete(service: &Service, iq: &Iq, request: &Element) -> Answer {
    if request.attr("node").is_none_or(str::is_empty) {
        // XEP-0248 §7.4.3: the root collection (the service) stays.
        return Err(StanzaError::new(Condition::NotAllowed).with_text("the root node cannot be deleted"));
    }
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

pub fn purge(service: &Service, iq: &Iq, request: &Element) -> Answer {
    let node = owned(service, iq, request)?;
    if !node.config.persist_items {
        return Err(errors::unsupported("persistent-items"));
    }
    items::purge(service, &node.name)?;
    let event = Element::new("purge", NS_EVENT).with_attr("node", node.name.as_str());
    notify::broadcast(service, &node, Change { event, about_items: false })?;
    Ok(None)
}

pub fn get_subscriptions(service: &Service, iq: &Iq, request: &Element) -> Answer {
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

pub fn set_subscriptions(service: &Service, iq: &Iq, request: &Element) -> Answer {
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
        // §8.8.4: the entity hears of what an owner did to its subscription.
        let told = Element::new("subscription", NS_EVENT)
            .with_attr("node", node.name.as_str())
            .with_attr("jid", jid.as_str())
            .with_attr("subscription", state.map_or("none", State::as_str));
        waxwing_sdk::route::send(&notify::message(service, &node, told).with_attr("to", jid.as_str()))?;
    }
    Ok(None)
}

pub fn get_affiliations(service: &Service, iq: &Iq, request: &Element) -> Answer {
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

pub fn set_affiliations(service: &Service, iq: &Iq, request: &Element) -> Answer {
    let node = owned(service, iq, request)?;
    let mut changes = Vec::new();
    for entry in request.elements().filter(|e| e.is("affiliation", NS_OWNER)) {
        let jid = entry.attr("jid").and_then(|j| Jid::prep(j).ok()).map(|j| j.bare());
        let affiliation = entry.attr("affiliation").and_then(Affiliation::parse);
        match (jid, affiliation) {
            (Some(jid), Some(_)) if changes.iter().any(|(j, _)| *j == jid) => {
                // §8.9.2.5: one change per entity in a request.
                return Err(StanzaError::new(Condition::BadRequest).with_text(format!("{jid} is named twice")));
            }
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
pub fn own_affiliations(service: &Service, iq: &Iq, request: &Element) -> Answer {
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
