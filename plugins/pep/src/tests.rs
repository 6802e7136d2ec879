//! The PEP plugin on the SDK's fake host: the newest items for a session
//! that comes online, and the avatar's way into the vCard.

use pubsub_engine::NS_EVENT;
use waxwing_sdk::prelude::*;
use waxwing_sdk::testing::{self, FakeHost};

use crate::Pep;

const ALICE: &str = "alice@example.org/phone";
const BOB: &str = "bob@example.org/laptop";
const NICK: &str = "http://jabber.org/protocol/nick";

fn setup() {
    FakeHost::reset();
    testing::init::<Pep>(r#"{"max_items": 1000, "max_payload_bytes": 65536}"#).unwrap();
    FakeHost::add_account("alice", "pw");
    FakeHost::add_account("bob", "pw");
    FakeHost::set_dataset("roster", "subscriptions", "alice@example.org bob@example.org", b"both");
    FakeHost::set_dataset("roster", "subscriptions", "bob@example.org alice@example.org", b"both");
}

fn iq(from: &str, to: &str, ty: &str, body: &str) -> Handled {
    let xml = format!("<iq xmlns='jabber:client' type='{ty}' id='q' from='{from}' to='{to}'>{body}</iq>");
    Pep::on_iq(Iq(Stanza::from_xml(&xml, Address::Bare, "example.org").unwrap()))
}

fn publish_nick(nick: &str) {
    let body = format!(
        "<pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='{NICK}'><item><nick xmlns='{NICK}'>{nick}</nick></item></publish></pubsub>"
    );
    iq(ALICE, "alice@example.org", "set", &body).unwrap();
}

const CAPS_PRESENCE: &str = "<presence xmlns='jabber:client'><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='n' ver='v1'/></presence>";

fn nicks_sent_to(to: &str) -> Vec<String> {
    FakeHost::sent()
        .iter()
        .filter(|m| m.attr("to") == Some(to))
        .filter_map(|m| {
            m.child("event", NS_EVENT)?
                .child("items", NS_EVENT)?
                .child("item", NS_EVENT)?
                .child("nick", NICK)
                .map(Element::text)
        })
        .collect()
}

#[test]
fn a_contact_coming_online_gets_the_newest_item_once_its_caps_are_known() {
    setup();
    publish_nick("Al");
    FakeHost::take_sent();
    FakeHost::add_session(BOB, Some(CAPS_PRESENCE));
    // Caps not verified yet: nothing yet, a timer to look again.
    Pep::on_event(Event::PresenceChanged { jid: BOB.into(), presence: CAPS_PRESENCE.into() }).unwrap();
    assert!(nicks_sent_to(BOB).is_empty());
    assert_eq!(FakeHost::timers().len(), 1);
    FakeHost::set_dataset("caps", "caps", BOB, format!("{NICK}+notify").as_bytes());
    for event in FakeHost::advance(60_000) {
        Pep::on_event(event).unwrap();
    }
    assert_eq!(nicks_sent_to(BOB), ["Al"]);
    let delayed = FakeHost::sent().iter().any(|m| m.child("delay", ns::DELAY).is_some());
    assert!(delayed, "the item carries its publish time");
    // The same caps again: no second copy.
    Pep::on_event(Event::PresenceChanged { jid: BOB.into(), presence: CAPS_PRESENCE.into() }).unwrap();
    assert_eq!(nicks_sent_to(BOB).len(), 1);
}

#[test]
fn a_session_without_the_notify_feature_or_subscription_gets_nothing() {
    setup();
    publish_nick("Al");
    FakeHost::take_sent();
    FakeHost::add_session("carol@example.org/x", Some(CAPS_PRESENCE));
    FakeHost::set_dataset("caps", "caps", "carol@example.org/x", format!("{NICK}+notify").as_bytes());
    Pep::on_event(Event::PresenceChanged { jid: "carol@example.org/x".into(), presence: CAPS_PRESENCE.into() })
        .unwrap();
    FakeHost::add_session(BOB, Some(CAPS_PRESENCE));
    FakeHost::set_dataset("caps", "caps", BOB, b"urn:xmpp:receipts");
    Pep::on_event(Event::PresenceChanged { jid: BOB.into(), presence: CAPS_PRESENCE.into() }).unwrap();
    assert!(FakeHost::sent().is_empty(), "{:?}", FakeHost::sent());
}

#[test]
fn the_account_answers_disco_as_a_pep_service() {
    setup();
    let Ok(Outcome::Reply(info)) =
        iq(BOB, "alice@example.org", "get", "<query xmlns='http://jabber.org/protocol/disco#info'/>")
    else {
        panic!()
    };
    let q = info.child("query", ns::DISCO_INFO).unwrap();
    let ids: Vec<_> =
        q.elements().filter(|e| e.name == "identity").map(|e| (e.attr("category"), e.attr("type"))).collect();
    assert_eq!(ids, [(Some("account"), Some("registered")), (Some("pubsub"), Some("pep"))]);
    let Ok(Outcome::Reply(items)) =
        iq(BOB, "alice@example.org", "get", "<query xmlns='http://jabber.org/protocol/disco#items'/>")
    else {
        panic!()
    };
    assert_eq!(items.child("query", ns::DISCO_ITEMS).unwrap().elements().count(), 0);
    publish_nick("Al");
    let Ok(Outcome::Reply(items)) =
        iq(BOB, "alice@example.org", "get", "<query xmlns='http://jabber.org/protocol/disco#items'/>")
    else {
        panic!()
    };
    let nodes: Vec<_> =
        items.child("query", ns::DISCO_ITEMS).unwrap().elements().filter_map(|i| i.attr("node")).collect();
    assert_eq!(nodes, [NICK]);
    // No such account: no service.
    let err =
        iq(BOB, "nobody@example.org", "get", "<query xmlns='http://jabber.org/protocol/disco#items'/>").unwrap_err();
    assert_eq!(err.condition, Condition::ServiceUnavailable);
}

#[test]
fn an_avatar_published_by_a_client_is_written_into_the_vcard() {
    setup();
    let pubsub = |node: &str, item: &str| {
        format!("<pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='{node}'>{item}</publish></pubsub>")
    };
    iq(
        ALICE,
        "alice@example.org",
        "set",
        &pubsub("urn:xmpp:avatar:data", "<item id='abc'><data xmlns='urn:xmpp:avatar:data'>aGVsbG8=</data></item>"),
    )
    .unwrap();
    assert!(FakeHost::requests().is_empty(), "data alone changes no vCard");
    let meta = "<item id='abc'><metadata xmlns='urn:xmpp:avatar:metadata'><info id='abc' bytes='5' type='image/png'/></metadata></item>";
    iq(ALICE, "alice@example.org", "set", &pubsub("urn:xmpp:avatar:metadata", meta)).unwrap();
    let get = FakeHost::take_requests();
    assert_eq!(get.len(), 1);
    assert_eq!((get[0].iq.attr("from"), get[0].iq.attr("to")), (Some("alice@example.org"), Some("alice@example.org")));
    let answer = "<iq xmlns='jabber:client' type='result' from='alice@example.org' to='alice@example.org'><vCard xmlns='vcard-temp'><FN>Alice</FN></vCard></iq>";
    Pep::on_event(get[0].answer(IqOutcome::Result(answer.into()))).unwrap();
    let set = FakeHost::take_requests();
    let vcard = set[0].iq.child("vCard", "vcard-temp").unwrap();
    assert_eq!(
        vcard.child("FN", "vcard-temp").map(Element::text).as_deref(),
        Some("Alice"),
        "the rest of the vCard stays"
    );
    let photo = vcard.child("PHOTO", "vcard-temp").unwrap();
    assert_eq!(photo.child("BINVAL", "vcard-temp").map(Element::text).as_deref(), Some("aGVsbG8="));
    assert_eq!(photo.child("TYPE", "vcard-temp").map(Element::text).as_deref(), Some("image/png"));
    // A publish from the bare JID (the vcard plugin's copy) is not copied back.
    iq("alice@example.org", "alice@example.org", "set", &pubsub("urn:xmpp:avatar:metadata", meta)).unwrap();
    assert!(FakeHost::requests().is_empty());
}
