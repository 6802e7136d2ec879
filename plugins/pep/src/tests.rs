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

// ------------------------------------------------------------ remote contacts

const REMOTE: &str = "bob@remote.example/desktop";

/// Presence from `from` to `to`, as the kernel hands it to the filter.
fn remote_presence(from: &str, to: &str, rest: &str) -> Verdict {
    let addressed = if to.contains('/') { Address::Full } else { Address::Bare };
    let xml = format!("<presence xmlns='jabber:client' from='{from}' to='{to}'{rest}");
    Pep::filter(Stanza::from_xml(&xml, addressed, "example.org").unwrap())
}

fn remote_caps(from: &str, to: &str) -> Verdict {
    remote_presence(from, to, "><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='n' ver='v1'/></presence>")
}

fn remote_setup() {
    setup();
    FakeHost::set_dataset("roster", "subscriptions", "alice@example.org bob@remote.example", b"both");
}

fn wants_nick(full: &str) {
    FakeHost::set_dataset("caps", "caps", full, format!("{NICK}+notify").as_bytes());
}

#[test]
fn the_filter_sees_presence_from_other_servers_only() {
    setup();
    assert!(FakeHost::watches_remote());
    assert!(FakeHost::watched().is_empty());
    let d = Pep::describe().into_wit();
    assert_eq!(d.filter_scope, FilterScope::WatchedAccounts);
    assert!(d.filters.iter().all(|f| f.kind == Kind::Presence));
}

#[test]
fn a_remote_contact_coming_online_gets_the_newest_item_once_its_caps_are_known() {
    remote_setup();
    publish_nick("Al");
    FakeHost::take_sent();
    assert!(matches!(remote_caps(REMOTE, "alice@example.org"), Verdict::Pass));
    assert!(nicks_sent_to(REMOTE).is_empty(), "caps not verified yet");
    assert_eq!(FakeHost::timers().len(), 1);
    wants_nick(REMOTE);
    for event in FakeHost::advance(60_000) {
        Pep::on_event(event).unwrap();
    }
    assert_eq!(nicks_sent_to(REMOTE), ["Al"]);
    let from = FakeHost::sent().iter().find_map(|m| m.attr("from").map(str::to_string));
    assert_eq!(from.as_deref(), Some("alice@example.org"));
    // Its server's broadcast and the answer to a probe say the same again.
    remote_caps(REMOTE, "alice@example.org/phone");
    assert_eq!(nicks_sent_to(REMOTE).len(), 1);

    // A publish reaches it; once it is gone, no more.
    FakeHost::take_sent();
    publish_nick("Alice");
    assert_eq!(nicks_sent_to(REMOTE), ["Alice"]);
    remote_presence(REMOTE, "alice@example.org", " type='unavailable'/>");
    FakeHost::take_sent();
    publish_nick("Ali");
    assert!(nicks_sent_to(REMOTE).is_empty());
    assert!(FakeHost::mem_entries().iter().all(|(k, _)| !k.starts_with('r')), "{:?}", FakeHost::mem_entries());
}

#[test]
fn known_caps_get_the_newest_item_at_once_and_come_back_after_going_away() {
    remote_setup();
    publish_nick("Al");
    wants_nick(REMOTE);
    FakeHost::take_sent();
    remote_caps(REMOTE, "alice@example.org");
    assert_eq!(nicks_sent_to(REMOTE), ["Al"]);
    assert!(FakeHost::timers().is_empty());
    remote_presence(REMOTE, "alice@example.org", " type='error'/>");
    remote_caps(REMOTE, "alice@example.org");
    assert_eq!(nicks_sent_to(REMOTE), ["Al", "Al"], "back online: the newest item again");
}

#[test]
fn strangers_and_uninterested_contacts_get_nothing() {
    remote_setup();
    publish_nick("Al");
    FakeHost::take_sent();
    // Not in alice's roster: nothing kept.
    wants_nick("mallory@remote.example/x");
    remote_caps("mallory@remote.example/x", "alice@example.org");
    assert!(pubsub_engine::remote::sessions("alice@example.org").unwrap().is_empty());
    assert!(FakeHost::mem_entries().iter().all(|(k, _)| !k.starts_with('r')), "{:?}", FakeHost::mem_entries());
    // In it, but not seeing alice's presence: kept, sent nothing, now or
    // at a publish.
    FakeHost::set_dataset("roster", "subscriptions", "alice@example.org eve@remote.example", b"to");
    wants_nick("eve@remote.example/x");
    remote_caps("eve@remote.example/x", "alice@example.org");
    assert_eq!(pubsub_engine::remote::sessions("alice@example.org").unwrap(), ["eve@remote.example/x"]);
    assert!(nicks_sent_to("eve@remote.example/x").is_empty());
    assert!(FakeHost::timers().is_empty());
    // Subscribed, but its caps do not ask for the nick.
    FakeHost::set_dataset("caps", "caps", REMOTE, b"urn:xmpp:receipts");
    remote_caps(REMOTE, "alice@example.org");
    publish_nick("Alice");
    let to: Vec<_> = FakeHost::sent().iter().filter_map(|m| m.attr("to").map(str::to_string)).collect();
    assert!(to.iter().all(|t| !t.contains("remote.example")), "{to:?}");
    // Presence without caps lets it go.
    remote_presence(REMOTE, "alice@example.org", "/>");
    assert_eq!(pubsub_engine::remote::sessions("alice@example.org").unwrap(), ["eve@remote.example/x"]);

    // eve's subscription approved: the next publish reaches her.
    FakeHost::set_dataset("roster", "subscriptions", "alice@example.org eve@remote.example", b"both");
    FakeHost::take_sent();
    publish_nick("Ali");
    assert_eq!(nicks_sent_to("eve@remote.example/x"), ["Ali"]);
}

#[test]
fn the_access_model_decides_for_remote_contacts_too() {
    remote_setup();
    wants_nick(REMOTE);
    remote_caps(REMOTE, "alice@example.org");
    assert_eq!(pubsub_engine::remote::sessions("alice@example.org").unwrap(), [REMOTE], "kept");
    let body = format!(
        "<pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='{NICK}'><item><nick xmlns='{NICK}'>Al</nick></item></publish>\
         <publish-options><x xmlns='jabber:x:data' type='submit'>\
         <field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>\
         <field var='pubsub#access_model'><value>whitelist</value></field></x></publish-options></pubsub>"
    );
    iq(ALICE, "alice@example.org", "set", &body).unwrap();
    assert!(nicks_sent_to(REMOTE).is_empty());
}

#[test]
fn local_senders_are_not_remote_contacts_and_a_deleted_account_keeps_none() {
    remote_setup();
    wants_nick(BOB);
    remote_caps(BOB, "alice@example.org");
    assert!(pubsub_engine::remote::sessions("alice@example.org").unwrap().is_empty());
    remote_caps(REMOTE, "alice@example.org");
    assert_eq!(pubsub_engine::remote::sessions("alice@example.org").unwrap(), [REMOTE]);
    Pep::on_event(Event::UserDeleted { jid: "alice@example.org".into() }).unwrap();
    assert!(pubsub_engine::remote::sessions("alice@example.org").unwrap().is_empty());
    assert!(FakeHost::mem_entries().is_empty(), "{:?}", FakeHost::mem_entries());
}
