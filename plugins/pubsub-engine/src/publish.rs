//! Publishing (§7.1) and retracting (§7.2) items.

use waxwing_sdk::jid;
use waxwing_sdk::prelude::*;

use crate::config::{self, NodeConfig};
use crate::node::{self, Affiliation, Node};
use crate::notify::{self, Change};
use crate::{Answer, FORM_PUBLISH_OPTIONS, NS, NS_EVENT, Service, access, errors, items};

pub fn publish(service: &Service, iq: &Iq, payload: &Element, request: &Element) -> Answer {
    let name = crate::node_attr(request)?;
    let options = publish_options(payload)?;
    let node = match node::load(service, name)? {
        Some(stored) => {
            if let Some(options) = &options {
                stored.node.config.check_preconditions(options, &service.limits)?;
            }
            stored.node
        }
        None => auto_create(service, iq.from(), name, options.as_ref())?,
    };
    if node.is_collection() {
        return Err(errors::unsupported("publish").with_text("a collection holds nodes, not items"));
    }
    access::check_publish(service, &node, iq.from())?;
    let (item_id, body) = item_of(request, &node.config)?;
    let item_id = item_id.unwrap_or_else(crate::new_id);
    let publisher = jid::bare(iq.from()).to_string();
    let item = if node.config.persist_items {
        items::put(service, &node, &item_id, &publisher, &body)?
    } else {
        items::Item { id: item_id.clone(), seq: String::new(), publisher, payload: body }
    };
    let mut event = Element::new("items", NS_EVENT).with_attr("node", name);
    // §7.1.1: a transient notification-only node tells of a publish with
    // not even an item.
    if node.config.persist_items || node.config.deliver_payloads {
        event.push_child(item.element(NS_EVENT, node.config.deliver_payloads, !service.is_pep()));
    }
    notify::broadcast(service, &node, Change { event, about_items: true })?;
    Ok(Some(
        Element::new("pubsub", NS).with_child(
            Element::new("publish", NS)
                .with_attr("node", name)
                .with_child(Element::new("item", NS).with_attr("id", item_id.as_str())),
        ),
    ))
}

/// The `<publish-options/>` form, if the request has one.
fn publish_options(payload: &Element) -> Result<Option<DataForm>, StanzaError> {
    let Some(options) = payload.child("publish-options", NS) else { return Ok(None) };
    let form = config::submitted_form(Some(options))?;
    if let Some(f) = &form
        && f.form_type().is_some_and(|t| t != FORM_PUBLISH_OPTIONS)
    {
        return Err(
            StanzaError::new(Condition::BadRequest).with_text("publish-options must be a pubsub#publish-options form")
        );
    }
    Ok(form)
}

/// A node created by its first publish (`auto-create`, and PEP's rule),
/// configured by the publish-options when given.
fn auto_create(service: &Service, from: &str, name: &str, options: Option<&DataForm>) -> Result<Node, StanzaError> {
    if !service.may_create(from) {
        return Err(if service.is_pep() { errors::forbidden() } else { errors::node_not_found() });
    }
    let mut config: NodeConfig = node::base_config(service);
    if let Some(options) = options {
        config.apply(options, &service.limits).map_err(|_| config::precondition_not_met("publish-options"))?;
    }
    let node = Node::new(name, from, config);
    if node::create(service, &node)? {
        return Ok(node);
    }
    // Created by a concurrent publish meanwhile: theirs stands.
    let stored = node::require(service, name)?;
    if let Some(options) = options {
        stored.node.config.check_preconditions(options, &service.limits)?;
    }
    Ok(stored.node)
}

/// The item's id, if given, and its payload serialized ("" for none),
/// checked against what the node takes (§7.1.3).
fn item_of(request: &Element, config: &NodeConfig) -> Result<(Option<String>, String), StanzaError> {
    let mut items = request.elements().filter(|e| e.is("item", NS));
    let item = items.next();
    if items.next().is_some() || request.elements().any(|e| !e.is("item", NS)) {
        return Err(errors::pubsub(Condition::BadRequest, "invalid-payload").with_text("publish one <item/> at a time"));
    }
    let needs_payload = config.persist_items || config.deliver_payloads;
    let Some(item) = item else {
        return if needs_payload {
            Err(errors::pubsub(Condition::BadRequest, "item-required"))
        } else {
            Ok((None, String::new()))
        };
    };
    let id = item
        .attr("id")
        .filter(|id| !id.is_empty())
        .map(|id| crate::check_id("item", id))
        .transpose()?
        .map(str::to_string);
    let mut payloads = item.elements();
    let body = match (payloads.next(), payloads.next()) {
        (Some(_), Some(_)) => return Err(errors::pubsub(Condition::BadRequest, "invalid-payload")),
        (None, _) if needs_payload => return Err(errors::pubsub(Condition::BadRequest, "payload-required")),
        (None, _) => String::new(),
        (Some(_), _) if !needs_payload => return Err(errors::pubsub(Condition::BadRequest, "item-forbidden")),
        (Some(p), None) => p.to_xml(),
    };
    if body.len() as u64 > config.max_payload_size {
        return Err(errors::pubsub(Condition::NotAcceptable, "payload-too-big"));
    }
    Ok((id, body))
}

pub fn retract(service: &Service, iq: &Iq, request: &Element) -> Answer {
    let name = crate::node_attr(request)?;
    let ids: Vec<&str> = request.elements().filter(|e| e.is("item", NS)).filter_map(|e| e.attr("id")).collect();
    if ids.is_empty() {
        return Err(errors::pubsub(Condition::BadRequest, "item-required"));
    }
    let node = node::require(service, name)?.node;
    if !node.config.persist_items {
        return Err(errors::unsupported("persistent-items"));
    }
    let affiliation = node.affiliation(service, iq.from());
    let mut gone = Vec::new();
    for id in &ids {
        let Some(item) = items::get(service, name, id)? else { return Err(Condition::ItemNotFound.into()) };
        let own = item.publisher == jid::bare(iq.from()) && affiliation != Affiliation::Outcast;
        if !(matches!(affiliation, Affiliation::Owner | Affiliation::Publisher) || own) {
            return Err(errors::forbidden());
        }
        gone.push(item.id);
    }
    for id in &gone {
        items::remove(service, name, id)?;
    }
    let notify = match request.attr("notify") {
        Some("true" | "1") => true,
        Some("false" | "0") => false,
        Some(_) => return Err(StanzaError::new(Condition::BadRequest).with_text("notify must be a boolean")),
        None => node.config.notify_retract,
    };
    if notify {
        let event = gone.iter().fold(Element::new("items", NS_EVENT).with_attr("node", name), |el, id| {
            el.with_child(Element::new("retract", NS_EVENT).with_attr("id", id.as_str()))
        });
        notify::broadcast(service, &node, Change { event, about_items: true })?;
    }
    Ok(None)
}
