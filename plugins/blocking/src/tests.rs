//! The plugin as the kernel drives it, on the SDK's fake host, with the
//! roster's dataset seeded as the roster plugin would publish it.

use waxwing_sdk::testing::{self, FakeHost};

use super::*;

const ALICE: &str = "alice@example.org";
const BOB: &str = "bob@example.org";

/// Alice online on two resources (one not yet available), bob on one.
fn start() {
    testing::init::<Blocking>("{}").unwrap();
    FakeHost::add_session("alice@example.org/a", Some("<presence><status>reading</status></presence>"));
    FakeHost::add_session("alice@example.org/quiet", None);
    FakeHost::add_session("bob@example.org/b", Some("<presence/>"));
}

/// The roster says alice's subscription with `contact` is `state`.
fn subscription(contact: &str, state: &str) {
    FakeHost::set_dataset("roster", "subscriptions", &format!("{ALICE} {contact}"), state.as_bytes());
}

fn request(ty: &str, payload: &str) -> Handled {
    let xml = format!("<iq from='alice@example.org/a' to='{ALICE}' type='{ty}' id='b1'>{payload}</iq>");
    Blocking::on_iq(Iq(Stanza::from_xml(&xml, Address::Bare, "example.org").unwrap()))
}

fn items(jids: &[&str]) -> String {
    jids.iter().map(|j| format!("<item jid='{j}'/>")).collect()
}

fn block(jids: &[&str]) {
    let r = request("set", &format!("<block xmlns='urn:xmpp:blocking'>{}</block>", items(jids)));
    assert_eq!(r.unwrap(), Outcome::Done);
}

fn unblock(jids: &[&str]) {
    let r = request("set", &format!("<unblock xmlns='urn:xmpp:blocking'>{}</unblock>", items(jids)));
    assert_eq!(r.unwrap(), Outcome::Done);
}

/// The presence stanzas sent since last asked, as (from, to, type, status).
fn presences() -> Vec<(String, String, Option<String>, Option<String>)> {
    FakeHost::take_sent()
        .into_iter()
        .filter(|s| s.name == "presence")
        .map(|p| {
            let status = p.child("status", ns::CLIENT).map(Element::text);
            let attr = |a: &str| p.attr(a).map(str::to_string);
            (attr("from").unwrap_or_default(), attr("to").unwrap_or_default(), attr("type"), status)
        })
        .collect()
}

fn unavailable(to: &str) -> (String, String, Option<String>, Option<String>) {
    ("alice@example.org/a".into(), to.into(), Some("unavailable".into()), None)
}

fn available(to: &str) -> (String, String, Option<String>, Option<String>) {
    ("alice@example.org/a".into(), to.into(), None, Some("reading".into()))
}

#[test]
fn description_filters_everything_for_watched_accounts_and_reads_the_roster() {
    let d = Blocking::describe().into_wit();
    assert_eq!(d.features, vec![command::NS.to_string()]);
    assert_eq!(d.filters.len(), 15);
    assert!(d.filters.iter().all(|f| f.priority == FILTER_PRIORITY && f.types.is_empty() && f.payload_ns.is_empty()));
    assert!(d.routes.iter().all(|r| r.payload_ns == command::NS && r.to == Address::Bare));
    assert_eq!(d.filter_scope, FilterScope::WatchedAccounts);
    assert_eq!((d.reads[0].plugin.as_str(), d.reads[0].dataset.as_str()), ("roster", "subscriptions"));
    assert!(d.capabilities.contains(&Capability::Datasets));
}

#[test]
fn a_subscribed_contact_sees_the_user_leave_and_come_back() {
    start();
    subscription(BOB, "both");
    block(&[BOB]);
    assert_eq!(presences(), [unavailable(BOB)], "from the available resource only");
    assert_eq!(FakeHost::watched(), [ALICE]);
    unblock(&[BOB]);
    assert_eq!(presences(), [available(BOB)], "its current presence, addressed to bob");
    assert!(FakeHost::watched().is_empty());
}

#[test]
fn only_contacts_that_receive_the_users_presence_hear_of_it() {
    start();
    subscription(BOB, "to");
    subscription("carol@example.org", "from");
    subscription("dave@example.net", "both");
    subscription("erin@example.net", "none");
    block(&[BOB, "carol@example.org/phone", "frank@example.org"]);
    assert_eq!(presences(), [unavailable("carol@example.org/phone")], "a full JID blocks that resource only");
    // A domain covers every subscribed contact there, once.
    block(&["example.net", "example.net/bot"]);
    assert_eq!(presences(), [unavailable("dave@example.net")]);
    block(&["dave@example.net"]);
    assert_eq!(presences(), [], "already hidden by the domain");
    unblock(&["dave@example.net"]);
    assert_eq!(presences(), [], "still hidden by the domain");
    let all = request("set", "<unblock xmlns='urn:xmpp:blocking'/>").unwrap();
    assert_eq!(all, Outcome::Done);
    assert_eq!(presences(), [available("carol@example.org/phone"), available("dave@example.net")]);
}

#[test]
fn without_the_roster_dataset_a_block_still_holds() {
    start();
    subscription(BOB, "both");
    FakeHost::revoke(Capability::Datasets);
    block(&[BOB]);
    assert!(presences().is_empty());
    assert!(FakeHost::logs().iter().any(|(_, m)| m.contains("finding whom a block hides")), "{:?}", FakeHost::logs());
    let to_bob = "<message from='alice@example.org/a' to='bob@example.org' type='chat'><body>hi</body></message>";
    let verdict = Blocking::filter(Stanza::from_xml(to_bob, Address::Bare, "example.org").unwrap());
    assert!(matches!(verdict, Verdict::Reject(e) if e.condition == Condition::NotAcceptable));
}

#[test]
fn pushes_go_to_interested_resources_and_a_deleted_account_loses_its_list() {
    start();
    assert_eq!(request("get", "<blocklist xmlns='urn:xmpp:blocking'/>").unwrap(), blocklist_reply(&[]));
    FakeHost::take_sent();
    block(&["Bob@Example.ORG"]);
    let sent = FakeHost::take_sent();
    let pushed: Vec<_> = sent.iter().filter(|s| s.attr("id").is_some_and(|i| i.starts_with("block-push-"))).collect();
    assert_eq!(pushed.len(), 1, "to alice/a, which asked; not to alice/quiet: {sent:?}");
    assert_eq!(pushed[0].attr("to"), Some("alice@example.org/a"));
    assert_eq!(storage::list(ALICE).unwrap(), [BOB]);
    Blocking::on_event(Event::UserDeleted { jid: ALICE.into() }).unwrap();
    assert!(storage::list(ALICE).unwrap().is_empty());
    assert!(FakeHost::watched().is_empty());
}

fn blocklist_reply(jids: &[&str]) -> Outcome {
    let list = command::blocklist_payload(&jids.iter().map(|j| j.to_string()).collect::<Vec<_>>());
    let iq = Stanza::from_xml(
        &format!("<iq from='alice@example.org/a' to='{ALICE}' type='get' id='b1'/>"),
        Address::Bare,
        "example.org",
    )
    .unwrap();
    Outcome::Reply(iq.reply(StanzaType::Result).with_child(list))
}
