//! The `authorize` access model (§6.1.3.2, §8.6): a subscription waits as
//! `pending` while the owners get a `pubsub#subscribe_authorization` form;
//! an owner's submitted form approves or denies it, and the subscriber is
//! told either way.

use waxwing_sdk::prelude::*;
use waxwing_sdk::route;

use crate::node::{self, Node};
use crate::subscription::{self, State, Subscription};
use crate::{FORM_SUB_AUTH, NS_EVENT, Service, access, notify};

pub fn ask_owners(service: &Service, node: &Node, sub: &Subscription) -> Result<(), StanzaError> {
    let form = DataForm::form()
        .with_form_type(FORM_SUB_AUTH)
        .title("PubSub subscriber request")
        .instructions("To approve this entity's subscription request, set pubsub#allow to true and submit.")
        .field(Field::text_single("pubsub#node", &node.name).label("Node ID"))
        .field(Field::new("pubsub#subscriber_jid", FieldType::JidSingle).label("Subscriber Address").value(&sub.jid))
        .field(Field::boolean("pubsub#allow", false).label("Allow this JID to subscribe to this pubsub node?"));
    let msg = waxwing_sdk::new_message("", StanzaType::Normal)
        .with_attr("from", service.jid.as_str())
        .with_attr("id", crate::new_id())
        .with_child(form.to_element());
    let owners: Vec<String> = node.owners().map(str::to_string).collect();
    if !owners.is_empty() {
        route::send_many(&msg, &owners)?;
    }
    Ok(())
}

/// A message to the service: an owner's answer to an authorization form,
/// or `None` when it is not one (the caller decides what else it may be).
pub fn handle_answer(service: &Service, msg: &Message) -> Result<Option<()>, StanzaError> {
    let Some(Ok(form)) = msg.element()?.child("x", ns::DATA_FORMS).map(DataForm::from_element) else {
        return Ok(None);
    };
    if form.form_type() != Some(FORM_SUB_AUTH) {
        return Ok(None);
    }
    if form.kind == FormKind::Cancel {
        return Ok(Some(()));
    }
    let bad = |what: &str| StanzaError::new(Condition::BadRequest).with_text(what.to_string());
    let name = form.value("pubsub#node").ok_or_else(|| bad("pubsub#node missing"))?;
    let subscriber = form.value("pubsub#subscriber_jid").ok_or_else(|| bad("pubsub#subscriber_jid missing"))?;
    let allow = match form.value("pubsub#allow") {
        Some("1" | "true") => true,
        Some("0" | "false") => false,
        _ => return Err(bad("pubsub#allow must be a boolean")),
    };
    let node = node::require(service, name)?.node;
    access::check_owner(service, &node, msg.from())?;
    let Some(mut sub) = subscription::get(service, name, subscriber)? else {
        return Err(StanzaError::new(Condition::ItemNotFound).with_text("no pending subscription of that JID"));
    };
    if sub.state != State::Pending {
        return Ok(Some(()));
    }
    if allow {
        sub.state = State::Subscribed;
        subscription::put(service, name, &sub)?;
    } else {
        subscription::remove(service, name, subscriber)?;
    }
    let told = Element::new("subscription", NS_EVENT)
        .with_attr("node", name)
        .with_attr("jid", subscriber)
        .with_attr("subscription", if allow { "subscribed" } else { "none" });
    route::send(&notify::message(service, &node, told).with_attr("to", subscriber))?;
    if allow && node.config.send_last != crate::config::SendLast::Never {
        crate::subscribe::send_last_items(service, &node, subscriber)?;
    }
    Ok(Some(()))
}
