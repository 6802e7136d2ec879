//! XEP-0160 offline messages: a chat or normal message to an account with no
//! resource to take it is kept (the kernel's `message-undeliverable`) and
//! handed to the account's first session that becomes available with a
//! non-negative priority, stamped with XEP-0203 delayed delivery. Past the
//! `max_messages_per_user` quota the sender gets `<resource-constraint/>`
//! (wait) from the recipient's bare JID.

mod delivery;
mod migrate;
mod policy;
mod storage;

use waxwing_sdk::prelude::*;
use waxwing_sdk::{log, now_ms, route};

use crate::policy::Disposition;
use crate::storage::Record;

const MAX_MESSAGES: &str = "max_messages_per_user";

struct Offline;

impl Plugin for Offline {
    fn describe() -> Describe {
        Describe::new("offline", env!("CARGO_PKG_VERSION"))
            .feature("msgoffline")
            .event(EventKind::MessageUndeliverable)
            .event(EventKind::PresenceChanged)
            .event(EventKind::SessionEnded)
            .event(EventKind::UserDeleted)
            .capabilities([Capability::Kv, Capability::Mem, Capability::Route])
            // XEP-0227 export: the server asks for every stored message.
            .route(Route::iq_get().payload(migrate::NS_OFFLINE, "offline").to(Address::Bare))
            // A mailbox, not an archive: past a million an account's queue is
            // a store of its own (MAM's job), and delivering it at login
            // would flood the client.
            .setting_int(MAX_MESSAGES, 1, 1_000_000, 1000, "How many messages one account may have waiting")
    }

    fn on_iq(iq: Iq) -> Handled {
        migrate::export(&iq)
    }

    fn on_event(event: Event) -> Result<(), EventError> {
        match event {
            Event::MessageUndeliverable { message } => keep(&message),
            Event::PresenceChanged { jid, presence } => delivery::on_presence_changed(&jid, &presence),
            Event::SessionEnded { jid, .. } => Ok(delivery::on_session_ended(&jid)?),
            Event::UserDeleted { jid } => Ok(storage::purge(&jid)?),
            _ => Ok(()),
        }
    }
}

/// `message-undeliverable`: the message, addressed to a local account.
fn keep(xml: &str) -> Result<(), EventError> {
    let mut message = waxwing_sdk::parse_client_xml(xml)?;
    let to = message.attr("to").ok_or("an undeliverable message without a 'to'")?;
    let recipient = Jid::prep(to)?.bare();
    // An imported message (XEP-0227) says when it arrived at its first
    // server: kept as arriving then, without that stamp.
    let imported = migrate::arrival(&mut message, &waxwing_sdk::domain());
    match policy::disposition(&message) {
        Disposition::Discard => Ok(()),
        Disposition::Refuse => bounce(&message, &recipient, StanzaError::new(Condition::ServiceUnavailable)),
        Disposition::Store => match imported {
            Some(arrived_ms) => {
                let xml = message.to_xml_in(waxwing_sdk::ns::CLIENT);
                store_at(&message, &recipient, &xml, arrived_ms)
            }
            None => store_at(&message, &recipient, xml, now_ms()),
        },
    }
}

fn store_at(message: &Element, recipient: &str, xml: &str, arrived_ms: u64) -> Result<(), EventError> {
    let full = || StanzaError::new(Condition::ResourceConstraint).with_type(ErrorType::Wait);
    let quota = u64::try_from(waxwing_sdk::config().require_i64(MAX_MESSAGES)?).unwrap_or(0);
    let count = match storage::stored_count(recipient) {
        Ok(n) => n,
        Err(e) => return storage_failed(message, recipient, e),
    };
    if count >= quota {
        return bounce(message, recipient, full());
    }
    let record = Record { arrived_ms, xml: xml.to_string() };
    match storage::append(recipient, &record, count) {
        Ok(()) => Ok(()),
        Err(HostError::Quota(_)) => bounce(message, recipient, full()),
        Err(e) => storage_failed(message, recipient, e),
    }
}

/// The message could not be kept: the sender hears what a server without
/// storage answers (RFC 6121 §8.5.2.2.1), the log hears why.
fn storage_failed(message: &Element, recipient: &str, error: HostError) -> Result<(), EventError> {
    bounce(message, recipient, StanzaError::new(Condition::ServiceUnavailable))?;
    Err(EventError::from(error).context(format!("storing a message for {recipient}")))
}

/// Sends the error reply to the message's sender, from the recipient's bare
/// JID: the address the sender wrote to (or its bare form).
fn bounce(message: &Element, recipient: &str, error: StanzaError) -> Result<(), EventError> {
    let Some(reply) = error_reply(message, recipient, &error) else {
        log::debug("an undeliverable message without a sender: nobody to tell");
        return Ok(());
    };
    Ok(route::send(&reply)?)
}

fn error_reply(message: &Element, recipient: &str, error: &StanzaError) -> Option<Element> {
    message.attr("from")?;
    let mut reply = error.reply_to(message);
    reply.set_attr("from", recipient);
    Some(reply)
}

waxwing_sdk::export_plugin!(Offline);

#[cfg(test)]
mod tests;
