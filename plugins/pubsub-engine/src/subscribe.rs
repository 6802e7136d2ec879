//! Subscribing (§6.1), unsubscribing (§6.2), subscription options (§6.3,
//! §6.4) and an entity's own subscriptions (§5.6).

use waxwing_sdk::prelude::*;
use waxwing_sdk::{jid, route};

use crate::config::{Access, SendLast};
use crate::node::{self, Affiliation, Node};
use crate::subscription::{self, State, Subscription};
use crate::{Answer, FORM_SUB_OPTIONS, NS, NS_EVENT, Service, access, authorize, errors, items, notify};

/// The `jid` of a request, prepared, which must be the sender's own (bare
/// or full, as the subscriber chose).
fn subscriber(iq: &Iq, request: &Element, mismatch: StanzaError) -> Result<String, StanzaError> {
    let Some(raw) = request.attr("jid") else {
        return Err(errors::pubsub(Condition::BadRequest, "jid-required"));
    };
    let prepared = Jid::prep(raw).map_err(|_| errors::pubsub(Condition::BadRequest, "invalid-jid"))?;
    if raw.len() > 512 {
        // A part of storage keys: long enough for any address in use.
        return Err(
            errors::pubsub(Condition::BadRequest, "invalid-jid").with_text("a subscriber JID of at most 512 bytes")
        );
    }
    if prepared.bare() != jid::bare(iq.from()) {
        return Err(mismatch);
    }
    Ok(prepared.to_string())
}

pub fn subscribe(service: &Service, iq: &Iq, payload: &Element, request: &Element) -> Answer {
    let name = crate::node_attr(request)?;
    let jid = subscriber(iq, request, errors::pubsub(Condition::BadRequest, "invalid-jid"))?;
    let node = node::require(service, name)?.node;
    let bare = jid::bare(&jid);
    let affiliation = node.affiliation(service, bare);
    if affiliation == Affiliation::Outcast {
        return Err(errors::forbidden());
    }
    if let Some(existing) = subscription::get(service, name, &jid)? {
        if existing.state == State::Pending {
            return Err(errors::pubsub(Condition::NotAuthorized, "pending-subscription"));
        }
        return Ok(Some(reply(name, &existing)));
    }
    let mut sub = Subscription::new(&jid, State::Subscribed);
    if let Some(form) = crate::config::submitted_form(payload.child("options", NS))? {
        sub.apply(&form).map_err(|_| errors::pubsub(Condition::BadRequest, "invalid-options"))?;
    }
    if !affiliation.reads() {
        match node.config.access {
            Access::Authorize => sub.state = State::Pending,
            _ => access::model_admits(service, &node, bare)??,
        }
    }
    subscription::put(service, name, &sub)?;
    match sub.state {
        State::Pending => authorize::ask_owners(service, &node, &sub)?,
        _ => {
            if matches!(node.config.send_last, SendLast::OnSub | SendLast::OnSubAndPresence) {
                send_last_items(service, &node, &jid)?;
            }
            notify_owners(service, &node, &sub)?;
        }
    }
    Ok(Some(reply(name, &sub)))
}

fn reply(node: &str, sub: &Subscription) -> Element {
    Element::new("pubsub", NS).with_child(sub.element(NS, node))
}

/// `pubsub#notify_sub`: owners hear of a new subscription.
fn notify_owners(service: &Service, node: &Node, sub: &Subscription) -> Result<(), StanzaError> {
    if !node.config.notify_sub {
        return Ok(());
    }
    let owners: Vec<String> = node.owners().map(str::to_string).collect();
    let msg = notify::message(service, node, sub.element(NS_EVENT, &node.name));
    if !owners.is_empty() {
        route::send_many(&msg, &owners)?;
    }
    Ok(())
}

/// The node's newest item to `to`, delayed to its publish time (§6.1.7).
/// A collection's: the newest of each leaf in it.
pub fn send_last_items(service: &Service, node: &Node, to: &str) -> Result<(), StanzaError> {
    let leaves: Vec<Node> = if node.is_collection() {
        node::all(service)?.into_iter().filter(|n| n.config.collections.contains(&node.name)).collect()
    } else {
        vec![node.clone()]
    };
    for leaf in leaves {
        if !leaf.config.persist_items || leaf.is_collection() {
            continue;
        }
        for item in items::newest(service, &leaf.name, 1)? {
            let event = Element::new("items", NS_EVENT).with_attr("node", leaf.name.as_str()).with_child(item.element(
                NS_EVENT,
                leaf.config.deliver_payloads,
                !service.is_pep(),
            ));
            let stamp = waxwing_sdk::format_utc(item.published_ms());
            let msg = notify::message(service, &leaf, event).with_attr("to", to).with_child(
                Element::new("delay", ns::DELAY).with_attr("from", service.jid.as_str()).with_attr("stamp", stamp),
            );
            route::send(&msg)?;
        }
    }
    Ok(())
}

pub fn unsubscribe(service: &Service, iq: &Iq, request: &Element) -> Answer {
    let name = crate::node_attr(request)?;
    let jid = subscriber(iq, request, errors::forbidden())?;
    node::require(service, name)?;
    let Some(_) = subscription::get(service, name, &jid)? else {
        return Err(errors::pubsub(Condition::UnexpectedRequest, "not-subscribed").with_type(ErrorType::Cancel));
    };
    // One subscription per JID, so no subscription ids are handed out and a
    // `subid` names nothing to choose between (§6.2.3.5: ignored).
    subscription::remove(service, name, &jid)?;
    Ok(None)
}

/// The subscription an options request names, or the XEP's error.
fn options_target(service: &Service, iq: &Iq, request: &Element) -> Result<(Node, Subscription), StanzaError> {
    let name = crate::node_attr(request)?;
    let jid = subscriber(iq, request, errors::forbidden())?;
    let node = node::require(service, name)?.node;
    let sub = subscription::get(service, name, &jid)?
        .ok_or_else(|| errors::pubsub(Condition::UnexpectedRequest, "not-subscribed").with_type(ErrorType::Modify))?;
    Ok((node, sub))
}

pub fn get_options(service: &Service, iq: &Iq, request: &Element) -> Answer {
    let (node, sub) = options_target(service, iq, request)?;
    let options = Element::new("options", NS)
        .with_attr("node", node.name.as_str())
        .with_attr("jid", sub.jid.as_str())
        .with_child(sub.options_form(node.is_collection()).to_element());
    Ok(Some(Element::new("pubsub", NS).with_child(options)))
}

pub fn set_options(service: &Service, iq: &Iq, request: &Element) -> Answer {
    let (node, mut sub) = options_target(service, iq, request)?;
    let Some(form) = crate::config::submitted_form(Some(request))? else {
        return Err(errors::pubsub(Condition::BadRequest, "invalid-options"));
    };
    if form.form_type().is_some_and(|t| t != FORM_SUB_OPTIONS) {
        return Err(errors::pubsub(Condition::BadRequest, "invalid-options"));
    }
    sub.apply(&form).map_err(|field| errors::pubsub(Condition::BadRequest, "invalid-options").with_text(field))?;
    subscription::put(service, &node.name, &sub)?;
    Ok(None)
}

/// `<default/>` in `pubsub`: the options a new subscription gets (§6.4).
pub fn default_options(service: &Service, request: &Element) -> Answer {
    let collection = match request.attr("node") {
        Some(name) => node::require(service, name)?.node.is_collection(),
        None => false,
    };
    let mut form = Subscription::new("", State::Subscribed).options_form(collection);
    // §6.4.2: the defaults are data, not a form to fill in.
    form.kind = FormKind::Result;
    let form = form.to_element();
    let mut default = Element::new("default", NS);
    if let Some(name) = request.attr("node") {
        default.set_attr("node", name);
    }
    Ok(Some(Element::new("pubsub", NS).with_child(default.with_child(form))))
}

/// `<subscriptions/>` in `pubsub`: the sender's own (§5.6).
pub fn own_subscriptions(service: &Service, iq: &Iq, request: &Element) -> Answer {
    let bare = jid::bare(iq.from());
    let only = request.attr("node");
    if let Some(name) = only {
        node::require(service, name)?;
    }
    let mut out = Element::new("subscriptions", NS);
    if let Some(name) = only {
        out.set_attr("node", name);
    }
    for (name, sub) in subscription::of_account(service, bare)? {
        if only.is_none_or(|n| n == name) {
            out.push_child(sub.element(NS, &name));
        }
    }
    Ok(Some(Element::new("pubsub", NS).with_child(out)))
}
