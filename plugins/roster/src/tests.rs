//! The plugin as the kernel drives it, on the SDK's fake host.

use waxwing_sdk::testing::{self, FakeHost};

use super::*;

const ALICE: &str = "alice@example.org";
const BOB: &str = "bob@example.org";

fn start() {
    testing::init::<Roster>(r#"{"max_items": 2}"#).unwrap();
    FakeHost::add_session("alice@example.org/a", Some("<presence><status>here</status></presence>"));
    FakeHost::add_session("bob@example.org/b", Some("<presence/>"));
}

fn stanza(xml: &str, addressed: Address) -> Stanza {
    Stanza::from_xml(xml, addressed, "example.org").unwrap()
}

/// Alice's client sends a subscription stanza: the filter takes it.
fn alice_sends(ty: &str, to: &str) -> Verdict {
    Roster::filter(stanza(&format!("<presence from='alice@example.org/a' to='{to}' type='{ty}'/>"), Address::Bare))
}

/// A subscription stanza from `from` reaches alice's bare JID.
fn alice_gets(ty: &str, from: &str) -> Handled {
    Roster::on_presence(Presence(stanza(&format!("<presence from='{from}' to='{ALICE}' type='{ty}'/>"), Address::Bare)))
}

fn roster_iq(ty: &str, payload: &str) -> Handled {
    let xml = format!("<iq from='alice@example.org/a' to='{ALICE}' type='{ty}' id='r1'>{payload}</iq>");
    Roster::on_iq(Iq(stanza(&xml, Address::Bare)))
}

fn entry(contact: &str) -> Option<String> {
    let key = format!("{ALICE} {contact}");
    let all = FakeHost::dataset_entries("roster", "subscriptions");
    all.into_iter().find(|(k, _)| *k == key).map(|(_, v)| String::from_utf8(v).unwrap())
}

#[test]
fn description_routes_filters_settings_and_dataset() {
    let d = Roster::describe().into_wit();
    assert_eq!(d.features, vec![NS_INVISIBLE.to_string()], "stream features come from init");
    assert_eq!(d.filters.len(), 5);
    assert!(d.filters.iter().all(|f| f.priority == FILTER_PRIORITY && f.types.len() == 6));
    assert!(d.filters.iter().any(|f| f.to == Address::Elsewhere), "outbound to other servers too");
    let inbound = d.routes.iter().find(|r| r.types.len() == 4).map(|r| r.to);
    assert_eq!(inbound, Some(Address::Bare));
    assert_eq!(d.settings[0].key, "max_items");
    let published: Vec<_> = d.publishes.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(published, ["subscriptions", "groups"]);
    let ready = testing::init::<Roster>(r#"{"max_items": 1000}"#).unwrap();
    let features: Vec<_> = ready.stream_features().iter().map(|f| (f.xml.as_str(), f.stage)).collect();
    assert_eq!(features, [(ROSTERVER_FEATURE, Stage::AfterAuth), (PRE_APPROVAL_FEATURE, Stage::AfterAuth)]);
}

#[test]
fn the_dataset_follows_every_subscription_change() {
    start();
    assert_eq!(alice_sends("subscribe", BOB), Verdict::Drop, "sent on by the plugin itself");
    assert_eq!(entry(BOB).as_deref(), Some("none"));
    assert_eq!(alice_gets("subscribed", "bob@example.org/b").unwrap(), Outcome::Pass);
    assert_eq!(entry(BOB).as_deref(), Some("to"));
    assert_eq!(alice_gets("subscribe", BOB).unwrap(), Outcome::Pass, "shown to alice");
    FakeHost::take_sent();
    assert_eq!(alice_sends("subscribed", BOB), Verdict::Drop);
    assert_eq!(entry(BOB).as_deref(), Some("both"));
    // Bob now sees alice's resource.
    let sent = FakeHost::take_sent();
    assert!(
        sent.iter().any(|p| p.attr("from") == Some("alice@example.org/a") && p.attr("to") == Some(BOB)),
        "{sent:?}"
    );

    assert_eq!(alice_gets("unsubscribe", BOB).unwrap(), Outcome::Pass);
    assert_eq!(entry(BOB).as_deref(), Some("to"));
    let remove = format!("<query xmlns='jabber:iq:roster'><item jid='{BOB}' subscription='remove'/></query>");
    assert_eq!(roster_iq("set", &remove).unwrap(), Outcome::Done);
    assert_eq!(entry(BOB), None, "removed with the item");
}

#[test]
fn a_roster_set_lists_without_a_subscription_and_respects_max_items() {
    start();
    let set = |jid: &str| roster_iq("set", &format!("<query xmlns='jabber:iq:roster'><item jid='{jid}'/></query>"));
    assert_eq!(set("Bob@Example.ORG").unwrap(), Outcome::Done);
    assert_eq!(entry(BOB).as_deref(), Some("none"), "stored as the host prepares it");
    set("carol@example.org").unwrap();
    assert_eq!(set("dave@example.org").unwrap_err().condition, Condition::ResourceConstraint);
    assert_eq!(alice_sends("subscribe", "erin@example.org"), Verdict::Reject(roster_iq::roster_full()));
    assert_eq!(set("a@b@c").unwrap_err().condition, Condition::JidMalformed);
    assert_eq!(set("bob@example.org/r").unwrap_err().condition, Condition::NotAcceptable);
}

#[test]
fn a_deleted_user_takes_its_entries_along() {
    start();
    alice_sends("subscribe", BOB);
    alice_gets("subscribed", BOB).unwrap();
    FakeHost::take_sent();
    Roster::on_event(Event::UserDeleted { jid: ALICE.into() }).unwrap();
    assert!(FakeHost::dataset_entries("roster", "subscriptions").is_empty());
    let sent = FakeHost::take_sent();
    assert_eq!(sent.iter().filter_map(|p| p.attr("type")).collect::<Vec<_>>(), ["unsubscribe"]);
    assert!(FakeHost::kv_entries().iter().all(|(k, _)| !String::from_utf8_lossy(k).contains(ALICE)));
}

#[test]
fn presence_goes_to_subscribers_and_probes_to_sources() {
    start();
    alice_sends("subscribe", BOB);
    alice_gets("subscribed", BOB).unwrap();
    alice_gets("subscribe", BOB).unwrap();
    alice_sends("subscribed", BOB);
    FakeHost::take_sent();
    let presence = "<presence from='alice@example.org/a2'><show>away</show></presence>";
    Roster::on_event(Event::PresenceChanged { jid: "alice@example.org/a2".into(), presence: presence.into() }).unwrap();
    let sent = FakeHost::take_sent();
    let summary: Vec<_> = sent.iter().map(|p| (p.attr("type"), p.attr("from"), p.attr("to"))).collect();
    assert_eq!(
        summary,
        [(None, Some("alice@example.org/a2"), Some(BOB)), (Some("probe"), Some("alice@example.org/a2"), Some(BOB))]
    );
    Roster::on_event(Event::SessionEnded { jid: "alice@example.org/a2".into(), last_presence: None }).unwrap();
    let sent = FakeHost::take_sent();
    assert_eq!(sent.iter().map(|p| p.attr("type")).collect::<Vec<_>>(), [Some("unavailable")]);
}
