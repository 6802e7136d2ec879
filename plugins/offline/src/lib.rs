//! XEP-0160 offline messages: a chat or normal message to an account with no
//! resource to take it is kept (the kernel's `message-undeliverable`) and
//! handed to the account's first session that becomes available with a
//! non-negative priority, stamped with XEP-0203 delayed delivery.
//!
//! Config: `max_messages_per_user` (default 1000). Past it the sender gets
//! `<resource-constraint/>` (wait) from the recipient's bare JID.

mod delivery;
mod policy;
mod settings;
mod storage;

use waxwing_sdk::prelude::*;
use waxwing_sdk::{log, now_ms, route};

use crate::policy::Disposition;
use crate::storage::Record;

struct Offline;

impl Plugin for Offline {
    fn describe() -> Describe {
        Describe::new("offline", env!("CARGO_PKG_VERSION"))
            .feature("msgoffline")
            .event(EventKind::MessageUndeliverable)
            .event(EventKind::PresenceChanged)
            .event(EventKind::SessionEnded)
            .event(EventKind::UserDeleted)
            .capability(Capability::Kv)
            .capability(Capability::Mem)
            .capability(Capability::Route)
    }

    fn init(config: &Json) -> Result<(), String> {
        settings::max_messages(config).map(|_| ())
    }

    fn on_event(event: Event) -> Result<(), String> {
        match event.kind {
            EventKind::MessageUndeliverable => keep(&event.jid, &event.data),
            EventKind::PresenceChanged => delivery::on_presence_changed(&event.jid, &event.data),
            EventKind::SessionEnded => delivery::on_session_ended(&event.jid),
            EventKind::UserDeleted => storage::purge(&event.jid).map_err(|e| e.to_string()),
            other => Err(format!("an event this plugin did not subscribe to: {other:?}")),
        }
    }
}

/// `message-undeliverable`: `recipient` is the bare JID, `data` the message.
fn keep(recipient: &str, data: &str) -> Result<(), String> {
    let message = waxwing_sdk::parse_client_xml(data).map_err(|e| e.to_string())?;
    match policy::disposition(&message) {
        Disposition::Discard => Ok(()),
        Disposition::Refuse => bounce(&message, recipient, StanzaError::new(Condition::ServiceUnavailable)),
        Disposition::Store => store(&message, recipient, data),
    }
}

fn store(message: &Element, recipient: &str, xml: &str) -> Result<(), String> {
    let quota = settings::max_messages(&waxwing_sdk::config())?;
    let count = match storage::stored_count(recipient) {
        Ok(n) => n,
        Err(e) => return storage_failed(message, recipient, e),
    };
    if count >= quota {
        return bounce(message, recipient, StanzaError::new(Condition::ResourceConstraint).with_type(ErrorType::Wait));
    }
    let record = Record { arrived_ms: now_ms(), xml: xml.to_string() };
    match storage::append(recipient, &record, count) {
        Ok(()) => Ok(()),
        Err(HostError::Quota(_)) => {
            bounce(message, recipient, StanzaError::new(Condition::ResourceConstraint).with_type(ErrorType::Wait))
        }
        Err(e) => storage_failed(message, recipient, e),
    }
}

/// The message could not be kept: the sender hears what a server without
/// storage answers (RFC 6121 §8.5.2.2.1), the log hears why.
fn storage_failed(message: &Element, recipient: &str, error: HostError) -> Result<(), String> {
    bounce(message, recipient, StanzaError::new(Condition::ServiceUnavailable))?;
    Err(format!("storing a message for {recipient}: {error}"))
}

/// Sends the error reply to the message's sender, from the recipient's bare
/// JID: the address the sender wrote to (or its bare form).
fn bounce(message: &Element, recipient: &str, error: StanzaError) -> Result<(), String> {
    let Some(reply) = error_reply(message, recipient, &error) else {
        log::debug("an undeliverable message without a sender: nobody to tell");
        return Ok(());
    };
    route::send(&reply).map_err(|e| e.to_string())
}

fn error_reply(message: &Element, recipient: &str, error: &StanzaError) -> Option<Element> {
    message.attr("from")?;
    let mut reply = error.reply_to(message);
    reply.set_attr("from", recipient);
    Some(reply)
}

waxwing_sdk::export_plugin!(Offline);

#[cfg(test)]
mod tests {
    use super::*;
    use waxwing_sdk::parse_client_xml;

    #[test]
    fn quota_errors_come_from_the_recipient_and_wait() {
        let message =
            parse_client_xml("<message from='a@h/x' to='b@h/gone' id='7' type='chat'><body>hi</body></message>")
                .unwrap();
        let error = StanzaError::new(Condition::ResourceConstraint).with_type(ErrorType::Wait);
        let reply = error_reply(&message, "b@h", &error).unwrap();
        assert_eq!(reply.attr("from"), Some("b@h"));
        assert_eq!(reply.attr("to"), Some("a@h/x"));
        assert_eq!(reply.attr("id"), Some("7"));
        assert_eq!(reply.attr("type"), Some("error"));
        let err = reply.child("error", ns::CLIENT).unwrap();
        assert_eq!(err.attr("type"), Some("wait"));
        assert!(err.child("resource-constraint", "urn:ietf:params:xml:ns:xmpp-stanzas").is_some());
    }

    #[test]
    fn no_sender_no_reply() {
        let message = parse_client_xml("<message to='b@h'><body>hi</body></message>").unwrap();
        assert!(error_reply(&message, "b@h", &StanzaError::new(Condition::ServiceUnavailable)).is_none());
    }

    #[test]
    fn describes_the_feature_and_events() {
        let d = Offline::describe().into_wit();
        assert_eq!(d.features, vec!["msgoffline".to_string()]);
        assert!(d.events.contains(&EventKind::MessageUndeliverable));
        assert!(d.routes.is_empty() && d.filters.is_empty());
    }
}
