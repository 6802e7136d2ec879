//! The plugin as the kernel drives it, on the SDK's fake host: the declared
//! scope, the watched accounts following enabled sessions, the copies.

use waxwing_sdk::testing::FakeHost;

use super::*;

const R1: &str = "alice@example.org/r1";
const R2: &str = "alice@example.org/r2";

fn set(from: &str, what: &str) -> Handled {
    let xml = format!("<iq type='set' id='c1' from='{from}' to='alice@example.org'><{what} xmlns='{CARBONS}'/></iq>");
    Carbons::on_iq(Iq(Stanza::from_xml(&xml, Address::Bare, "example.org").unwrap()))
}

fn ended(jid: &str) -> Event {
    Event::SessionEnded { jid: jid.into(), last_presence: None }
}

fn message(from: &str, to: &str, addressed: Address) -> Stanza {
    let xml = format!("<message from='{from}' to='{to}' id='m1' type='chat'><body>hi</body></message>");
    Stanza::from_xml(&xml, addressed, "example.org").unwrap()
}

#[test]
fn describes_feature_routes_filters_and_scope() {
    let d = Carbons::describe().into_wit();
    assert_eq!(d.features, vec![CARBONS.to_string()]);
    assert_eq!(d.routes.len(), 2);
    assert!(d.routes.iter().all(|r| r.types == [StanzaType::Set] && r.to == Address::Bare));
    let to: Vec<Address> = d.filters.iter().map(|f| f.to).collect();
    assert_eq!(to, [Address::Bare, Address::Full, Address::Elsewhere]);
    assert!(d.filters.iter().all(|f| f.kind == Kind::Message && f.priority == FILTER_PRIORITY));
    assert!(d.filters.iter().all(|f| f.types == [StanzaType::Chat, StanzaType::Normal]));
    assert_eq!(d.filter_scope, FilterScope::WatchedAccounts);
    assert_eq!(d.events, vec![EventKind::SessionEnded]);
}

#[test]
fn an_account_is_watched_while_one_of_its_sessions_has_carbons_on() {
    assert!(matches!(set(R1, "enable"), Ok(Outcome::Reply(_))));
    set(R2, "enable").unwrap();
    assert_eq!(FakeHost::watched(), ["alice@example.org"]);
    set(R1, "disable").unwrap();
    set(R1, "disable").unwrap();
    assert_eq!(FakeHost::watched(), ["alice@example.org"], "r2 still has carbons on");
    Carbons::on_event(ended(R2)).unwrap();
    assert!(FakeHost::watched().is_empty());
    Carbons::on_event(ended(R1)).unwrap();
    assert!(FakeHost::watched().is_empty());
}

#[test]
fn sent_and_received_messages_are_copied_to_the_other_enabled_sessions() {
    for (jid, priority) in [(R1, 5), (R2, 1)] {
        FakeHost::add_session(jid, Some(&format!("<presence><priority>{priority}</priority></presence>")));
        set(jid, "enable").unwrap();
    }
    FakeHost::add_session("alice@example.org/plain", Some("<presence/>"));

    // Sent by r1 to another domain: r2 gets a <sent/> copy.
    let out = message(R1, "bob@example.net/x", Address::Elsewhere);
    assert_eq!(Carbons::filter(out), Verdict::Pass);
    let copies = FakeHost::take_sent();
    assert_eq!(copies.len(), 1);
    assert_eq!((copies[0].attr("from"), copies[0].attr("to")), (Some("alice@example.org"), Some(R2)));
    assert!(copies[0].child("sent", CARBONS).is_some());

    // Received on the bare JID: r1 (top priority) gets it directly, r2 a copy.
    assert_eq!(Carbons::filter(message("bob@example.net/x", "alice@example.org", Address::Bare)), Verdict::Pass);
    let copies = FakeHost::take_sent();
    assert_eq!(copies.iter().map(|c| c.attr("to")).collect::<Vec<_>>(), [Some(R2)]);
    assert!(copies[0].child("received", CARBONS).is_some());

    // Accounts without an enabled session are left alone.
    assert_eq!(Carbons::filter(message("carol@example.org/c", "bob@example.net", Address::Elsewhere)), Verdict::Pass);
    assert!(FakeHost::sent().is_empty());
}

#[test]
fn private_messages_are_not_copied_and_lose_the_marker() {
    FakeHost::add_session(R1, Some("<presence/>"));
    FakeHost::add_session(R2, Some("<presence/>"));
    set(R2, "enable").unwrap();
    let xml = format!(
        "<message from='{R1}' to='bob@example.net' type='chat'><body>psst</body><private xmlns='{CARBONS}'/></message>"
    );
    let Verdict::Rewrite(rewritten) =
        Carbons::filter(Stanza::from_xml(&xml, Address::Elsewhere, "example.org").unwrap())
    else {
        panic!("expected the <private/> to be stripped")
    };
    assert!(rewritten.child("private", CARBONS).is_none());
    assert!(FakeHost::sent().is_empty());
}
