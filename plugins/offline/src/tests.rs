//! The plugin as the kernel drives it, on the SDK's fake host: messages
//! kept in `kv`, the quota, delivery on presence, the purge.

use waxwing_sdk::testing::{self, FakeHost};
use waxwing_sdk::{kv, parse_client_xml};

use super::*;

const BOB: &str = "bob@example.org";

fn load(max_messages: u32) {
    testing::init::<Offline>(&format!(r#"{{"max_messages_per_user": {max_messages}}}"#)).unwrap();
}

/// What the kernel hands over: the message as it was addressed.
fn undeliverable(id: &str, to: &str, inner: &str) -> Event {
    let message = format!("<message from='alice@example.org/a1' to='{to}' id='{id}' type='chat'>{inner}</message>");
    Event::MessageUndeliverable { message }
}

fn presence(jid: &str, xml: &str) -> Event {
    Event::PresenceChanged { jid: jid.into(), presence: xml.into() }
}

fn stored() -> usize {
    FakeHost::kv_entries().iter().filter(|(k, _)| k.starts_with(b"msg/")).count()
}

#[test]
fn describes_the_feature_events_and_quota() {
    let d = Offline::describe().into_wit();
    assert_eq!(d.features, vec!["msgoffline".to_string()]);
    assert!(d.events.contains(&EventKind::MessageUndeliverable));
    // One route: the server's XEP-0227 export (an iq get with <offline/>).
    assert_eq!(d.routes.len(), 1);
    assert!(d.filters.is_empty());
    assert_eq!((d.settings[0].key.as_str(), d.settings[0].default.as_str()), (MAX_MESSAGES, "1000"));
}

#[test]
fn messages_are_kept_under_the_bare_addressee_and_delivered_once() {
    load(10);
    Offline::on_event(undeliverable("m1", "Bob@Example.org/gone", "<body>one</body>")).unwrap();
    Offline::on_event(undeliverable("m2", BOB, "<body>two</body>")).unwrap();
    Offline::on_event(undeliverable("m3", BOB, "<composing xmlns='http://jabber.org/protocol/chatstates'/>")).unwrap();
    assert_eq!(stored(), 2);
    assert_eq!(kv::get(format!("count/{BOB}")).unwrap().as_deref(), Some(&b"2"[..]));

    // Negative priority: not yet.
    Offline::on_event(presence("bob@example.org/phone", "<presence><priority>-1</priority></presence>")).unwrap();
    assert!(FakeHost::sent().is_empty());
    Offline::on_event(presence("bob@example.org/phone", "<presence/>")).unwrap();
    let sent = FakeHost::take_sent();
    let ids: Vec<_> = sent.iter().map(|m| m.attr("id").unwrap_or_default()).collect();
    assert_eq!(ids, ["m1", "m2"]);
    assert!(sent.iter().all(|m| m.attr("to") == Some("bob@example.org/phone")));
    assert!(sent[0].child("delay", ns::DELAY).is_some());
    assert!(FakeHost::kv_entries().is_empty(), "the backlog and its count are gone");

    // A second presence of the same session replays nothing.
    Offline::on_event(undeliverable("m4", BOB, "<body>four</body>")).unwrap();
    Offline::on_event(presence("bob@example.org/phone", "<presence><show>away</show></presence>")).unwrap();
    assert!(FakeHost::sent().is_empty());
    // Once it has ended, coming back counts as becoming available again.
    Offline::on_event(Event::SessionEnded { jid: "bob@example.org/phone".into(), last_presence: None }).unwrap();
    Offline::on_event(presence("bob@example.org/phone", "<presence/>")).unwrap();
    assert_eq!(FakeHost::take_sent().len(), 1);
}

#[test]
fn past_the_quota_the_sender_is_told_to_wait() {
    load(1);
    Offline::on_event(undeliverable("q1", BOB, "<body>one</body>")).unwrap();
    Offline::on_event(undeliverable("q2", BOB, "<body>two</body>")).unwrap();
    assert_eq!(stored(), 1);
    let [bounce] = <[Element; 1]>::try_from(FakeHost::take_sent()).unwrap();
    assert_eq!((bounce.attr("from"), bounce.attr("id")), (Some(BOB), Some("q2")));
    let error = bounce.child("error", ns::CLIENT).unwrap();
    assert_eq!(error.attr("type"), Some("wait"));
}

#[test]
fn no_store_hints_are_refused_and_storage_failures_bounce() {
    load(10);
    Offline::on_event(undeliverable("s1", BOB, "<body>x</body><no-store xmlns='urn:xmpp:hints'/>")).unwrap();
    assert_eq!(FakeHost::take_sent()[0].attr("type"), Some("error"));
    FakeHost::revoke(Capability::Kv);
    let err = Offline::on_event(undeliverable("s2", BOB, "<body>x</body>")).unwrap_err();
    assert!(err.message().contains(BOB), "{err}");
    assert_eq!(FakeHost::take_sent()[0].attr("id"), Some("s2"));
}

#[test]
fn deleting_the_account_purges_its_messages() {
    load(1000);
    for i in 0..300 {
        Offline::on_event(undeliverable(&format!("d{i}"), BOB, "<body>x</body>")).unwrap();
    }
    Offline::on_event(undeliverable("other", "carol@example.org", "<body>x</body>")).unwrap();
    Offline::on_event(Event::UserDeleted { jid: BOB.into() }).unwrap();
    let keys: Vec<String> = FakeHost::kv_entries().into_iter().map(|(k, _)| String::from_utf8(k).unwrap()).collect();
    assert!(keys.iter().all(|k| k.contains("carol@")), "{keys:?}");
    assert_eq!(keys.len(), 2);
}

#[test]
fn quota_errors_come_from_the_recipient_and_wait() {
    let message =
        parse_client_xml("<message from='a@h/x' to='b@h/gone' id='7' type='chat'><body>hi</body></message>").unwrap();
    let error = StanzaError::new(Condition::ResourceConstraint).with_type(ErrorType::Wait);
    let reply = error_reply(&message, "b@h", &error).unwrap();
    assert_eq!((reply.attr("from"), reply.attr("to")), (Some("b@h"), Some("a@h/x")));
    assert_eq!((reply.attr("id"), reply.attr("type")), (Some("7"), Some("error")));
    let err = reply.child("error", ns::CLIENT).unwrap();
    assert_eq!(err.attr("type"), Some("wait"));
    assert!(err.child("resource-constraint", "urn:ietf:params:xml:ns:xmpp-stanzas").is_some());
}

#[test]
fn no_sender_no_reply() {
    let message = parse_client_xml("<message to='b@h'><body>hi</body></message>").unwrap();
    assert!(error_reply(&message, "b@h", &StanzaError::new(Condition::ServiceUnavailable)).is_none());
}
