//! The plugin as the kernel drives it, on the SDK's fake host: presence in,
//! queries out as requests, answers back as `iq-response` events, the
//! verified caps in `kv` and the `caps` dataset.

use waxwing_sdk::testing::{self, FakeHost, SentRequest};
use waxwing_sdk::{caps, mem};

use super::*;

const PC: &str = "alice@example.org/pc";
const PHONE: &str = "alice@example.org/phone";
const NODE: &str = "https://client.example";
const FEATURES: &[&str] = &["http://jabber.org/protocol/disco#info", "urn:xmpp:receipts"];

fn load() {
    testing::init::<Caps>(r#"{"admins": ["admin@example.org"]}"#).unwrap();
}

fn info(features: &[&str]) -> Element {
    let identity = Element::new("identity", ns::DISCO_INFO).with_attr("category", "client").with_attr("type", "pc");
    let mut q = Element::new("query", ns::DISCO_INFO).with_child(identity);
    for f in features {
        q.push_child(Element::new("feature", ns::DISCO_INFO).with_attr("var", *f));
    }
    q
}

fn ver() -> String {
    caps::info_ver(&info(FEATURES)).unwrap()
}

fn advertise(jid: &str, ver: &str) {
    let presence =
        format!("<presence from='{jid}'><c xmlns='{}' hash='sha-1' node='{NODE}' ver='{ver}'/></presence>", caps::NS);
    Caps::on_event(Event::PresenceChanged { jid: jid.into(), presence }).unwrap();
}

fn result(request: &SentRequest, info: &Element) -> Event {
    let to = request.iq.attr("to").unwrap_or_default();
    let xml = format!("<iq type='result' id='x' from='{to}' to='example.org'>{}</iq>", info.to_xml());
    request.answer(IqOutcome::Result(xml))
}

fn published() -> Vec<(String, String)> {
    let entries = FakeHost::dataset_entries("caps", published::DATASET);
    entries.into_iter().map(|(k, v)| (k, String::from_utf8(v).unwrap())).collect()
}

fn lookup(from: &str, jid: &str) -> Handled {
    let xml = format!("<iq type='get' id='l' from='{from}'><caps xmlns='{}' jid='{jid}'/></iq>", lookup::NS);
    Caps::on_iq(Iq(Stanza::from_xml(&xml, Address::Host, "example.org").unwrap()))
}

#[test]
fn declares_the_lookup_the_dataset_and_no_answer_routes() {
    let d = Caps::describe().into_wit();
    assert!(d.features.is_empty(), "recording caps is nothing a client can discover");
    assert_eq!(d.routes.len(), 1, "answers come back as iq-response events");
    assert_eq!(d.publishes.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["caps"]);
    assert_eq!(d.settings[0].key, "admins");
}

#[test]
fn a_new_ver_is_asked_once_verified_and_published_for_every_session_advertising_it() {
    load();
    let ver = ver();
    advertise(PC, &ver);
    advertise(PHONE, &ver);
    advertise(PC, &ver);
    let [request] = <[SentRequest; 1]>::try_from(FakeHost::take_requests()).unwrap();
    assert_eq!(request.iq.attr("to"), Some(PC));
    let node = request.iq.child("query", ns::DISCO_INFO).and_then(|q| q.attr("node"));
    assert_eq!(node, Some(format!("{NODE}#{ver}").as_str()));
    assert!(published().is_empty(), "nothing is verified yet");

    Caps::on_event(result(&request, &info(FEATURES))).unwrap();
    let want = FEATURES.join("\n");
    assert_eq!(published(), [(PC.to_string(), want.clone()), (PHONE.to_string(), want)]);
    assert!(mem::get(&format!("asking/{ver}")).unwrap().is_none(), "the query is settled");

    // A known ver is published at once, with no query.
    advertise("alice@example.org/laptop", &ver);
    assert!(FakeHost::requests().is_empty());
    assert_eq!(published().len(), 3);
    let Ok(Outcome::Reply(reply)) = lookup("alice@example.org/x", "alice@example.org/laptop") else { panic!() };
    assert_eq!(reply.child("caps", lookup::NS).and_then(|c| c.attr("verified")), Some("true"));
}

#[test]
fn ended_and_changed_sessions_leave_the_dataset() {
    load();
    let ver = ver();
    advertise(PC, &ver);
    advertise(PHONE, &ver);
    let request = FakeHost::take_requests().remove(0);
    // The phone moves on to caps nobody knows before the answer comes.
    advertise(PHONE, "other=");
    Caps::on_event(result(&request, &info(FEATURES))).unwrap();
    assert_eq!(published().iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), [PC]);

    // Presence without caps, then the end of the session.
    advertise(PHONE, &ver);
    assert_eq!(published().len(), 2);
    Caps::on_event(Event::PresenceChanged { jid: PHONE.into(), presence: "<presence/>".into() }).unwrap();
    assert_eq!(published().len(), 1);
    Caps::on_event(Event::SessionEnded { jid: PC.into(), last_presence: None }).unwrap();
    assert!(published().is_empty());
    assert_eq!(lookup(PC, PC).unwrap_err().condition, Condition::ItemNotFound);
}

#[test]
fn lies_errors_and_silence_record_nothing_and_free_the_ver() {
    load();
    let ver = ver();
    let outcomes: [fn(&SentRequest) -> Event; 3] = [
        |r| result(r, &info(&["urn:xmpp:jingle:1"])),
        |r| r.answer(IqOutcome::Error("<iq type='error' id='x'/>".into())),
        |r| r.answer(IqOutcome::Timeout),
    ];
    for outcome in outcomes {
        advertise(PC, &ver);
        let [request] = <[SentRequest; 1]>::try_from(FakeHost::take_requests()).unwrap();
        Caps::on_event(outcome(&request)).unwrap();
        assert!(published().is_empty());
        assert!(verified::load(&ver).unwrap().is_none());
        // The next presence asks again.
        Caps::on_event(Event::SessionEnded { jid: PC.into(), last_presence: None }).unwrap();
    }
}

#[test]
fn an_abandoned_query_stops_blocking_its_ver() {
    load();
    advertise(PC, "lost=");
    assert_eq!(FakeHost::take_requests().len(), 1);
    advertise(PHONE, "lost=");
    assert!(FakeHost::requests().is_empty(), "a query for the ver is out");
    FakeHost::advance(120_000);
    advertise("alice@example.org/laptop", "lost=");
    assert_eq!(FakeHost::take_requests().len(), 1);
}

#[test]
fn only_the_account_and_admins_read_a_session() {
    load();
    advertise(PC, "v=");
    assert!(matches!(lookup("alice@example.org/other", PC), Ok(Outcome::Reply(_))));
    assert!(matches!(lookup("admin@example.org/x", PC), Ok(Outcome::Reply(_))));
    assert_eq!(lookup("bob@example.org/x", PC).unwrap_err().condition, Condition::Forbidden);
}

// ------------------------------------------------------------ remote contacts

const BOB: &str = "bob@remote.example/desktop";

/// Presence from `from` to `to`, as the kernel hands it to the filter.
fn remote_presence(from: &str, to: &str, body: &str) -> Stanza {
    let addressed = if to.contains('/') { Address::Full } else { Address::Bare };
    let xml = format!("<presence xmlns='jabber:client' from='{from}' to='{to}'{body}");
    Stanza::from_xml(&xml, addressed, "example.org").unwrap()
}

fn remote_caps(from: &str, to: &str, ver: &str) -> Verdict {
    let c = format!("><c xmlns='{}' hash='sha-1' node='{NODE}' ver='{ver}'/></presence>", caps::NS);
    Caps::filter(remote_presence(from, to, &c))
}

fn remote_unavailable(from: &str, to: &str) -> Verdict {
    Caps::filter(remote_presence(from, to, " type='unavailable'/>"))
}

/// The plugin, with bob and the user*@remote.example in the rosters of
/// alice and carol.
fn remote_load() {
    load();
    for account in ["alice", "carol"] {
        let contact = |c: &str| format!("{account}@example.org {c}");
        FakeHost::set_dataset("roster", "subscriptions", &contact("bob@remote.example"), b"both");
        for i in 0..=remote::MAX_PER_ACCOUNT {
            FakeHost::set_dataset("roster", "subscriptions", &contact(&format!("user{i}@remote.example")), b"to");
        }
    }
}

fn recorded(full: &str) -> bool {
    mem::get(&advertised::session_key(full)).unwrap().is_some()
}

#[test]
fn the_filter_sees_other_servers_only() {
    remote_load();
    assert!(FakeHost::watches_remote(), "init asks for remote senders");
    assert!(FakeHost::watched().is_empty(), "and watches no account");
    let d = Caps::describe().into_wit();
    assert_eq!(d.filter_scope, FilterScope::WatchedAccounts);
    let to: Vec<_> = d.filters.iter().map(|f| f.to).collect();
    assert_eq!(to, [Address::Bare, Address::Full], "presence to accounts and their sessions");
}

#[test]
fn a_remote_contacts_caps_are_asked_by_the_account_verified_and_published() {
    remote_load();
    let ver = ver();
    assert!(matches!(remote_caps(BOB, "alice@example.org", &ver), Verdict::Pass));
    let [request] = <[SentRequest; 1]>::try_from(FakeHost::take_requests()).unwrap();
    assert_eq!(request.iq.attr("to"), Some(BOB));
    assert_eq!(request.iq.attr("from"), Some("alice@example.org"), "asked as the contact it told");
    Caps::on_event(result(&request, &info(FEATURES))).unwrap();
    assert_eq!(published(), [(BOB.to_string(), FEATURES.join("\n"))]);
    let Ok(Outcome::Reply(r)) = lookup("admin@example.org/x", BOB) else { panic!() };
    assert_eq!(r.child("caps", lookup::NS).and_then(|c| c.attr("verified")), Some("true"));

    // Unavailable forgets them; the ver stays verified, so the next
    // presence publishes at once.
    assert!(matches!(remote_unavailable(BOB, "alice@example.org"), Verdict::Pass));
    assert!(published().is_empty());
    assert!(!recorded(BOB));
    remote_caps(BOB, "alice@example.org/pc", &ver);
    assert!(FakeHost::requests().is_empty());
    assert_eq!(published().len(), 1);
    // Presence without caps lets go too.
    Caps::filter(remote_presence(BOB, "alice@example.org", "/>"));
    assert!(published().is_empty());
}

#[test]
fn caps_stay_while_an_account_still_sees_the_contact() {
    remote_load();
    let ver = ver();
    remote_caps(BOB, "alice@example.org", &ver);
    remote_caps(BOB, "carol@example.org", &ver);
    remote_caps(BOB, "carol@example.org/phone", &ver);
    let [request] = <[SentRequest; 1]>::try_from(FakeHost::take_requests()).unwrap();
    Caps::on_event(result(&request, &info(FEATURES))).unwrap();
    remote_unavailable(BOB, "alice@example.org");
    assert_eq!(published().len(), 1, "carol still sees bob");
    // An error from bob to carol: carol no longer sees him either.
    Caps::filter(remote_presence(BOB, "carol@example.org", " type='error'/>"));
    assert!(published().is_empty());
    assert!(mem::get("holders/bob@remote.example/desktop").unwrap().is_none());
}

#[test]
fn an_account_holds_a_bounded_number_of_remote_jids_oldest_out_first() {
    remote_load();
    let jid = |i: usize| format!("user{i}@remote.example/r");
    for i in 0..=remote::MAX_PER_ACCOUNT {
        remote_caps(&jid(i), "alice@example.org", "v=");
    }
    let held = remote::held("alice@example.org").unwrap();
    assert_eq!(held.len(), remote::MAX_PER_ACCOUNT);
    assert_eq!(held.first(), Some(&jid(1)));
    assert!(!recorded(&jid(0)), "the oldest is let go");
    assert!(recorded(&jid(remote::MAX_PER_ACCOUNT)));
    // A deleted account lets go of all of them.
    Caps::on_event(Event::UserDeleted { jid: "alice@example.org".into() }).unwrap();
    assert!(remote::held("alice@example.org").unwrap().is_empty());
    assert!(!recorded(&jid(1)));
    assert!(FakeHost::mem_entries().iter().all(|(k, _)| k.starts_with("asking/")), "{:?}", FakeHost::mem_entries());
}

#[test]
fn local_senders_bare_senders_and_strangers_are_not_remote_contacts() {
    remote_load();
    remote_caps("bob@example.org/pc", "alice@example.org", "v=");
    remote_caps("remote.example", "alice@example.org", "v=");
    remote_caps(BOB, "nobody@example.org", "v=");
    remote_caps("stranger@remote.example/x", "alice@example.org", "v=");
    assert!(FakeHost::requests().is_empty());
    assert!(FakeHost::mem_entries().is_empty());
}
