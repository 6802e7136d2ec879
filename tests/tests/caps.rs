//! XEP-0115 end to end: the host's caps in stream features and its
//! `node#ver` disco#info (the `disco` plugin), and the `caps` plugin asking
//! clients about the caps in their presence, keeping only answers that hash
//! to the advertised `ver`.

use tokio::time::Instant;
use waxwing_tests::server::vhost_with_plugins;
use waxwing_tests::{Element, Mech, RawClient, Server, TIMEOUT, stanza_error_condition};
use waxwing_xml::caps;

const PW: &str = "caps-pw";
const NS_CAPS: &str = "http://jabber.org/protocol/caps";
const DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";
const RECORD: &str = "urn:waxwing:caps:0";
const CLIENT_NODE: &str = "https://client.example";

/// A server with `disco` and `caps`.
fn start(users: &[&str]) -> Server {
    Server::start_with_localhost_users(&vhost_with_plugins(&[("disco", ""), ("caps", "")]), users, PW)
}

async fn login(s: &Server, user: &str, resource: &str) -> RawClient {
    RawClient::login_with(s, &format!("{user}@localhost"), PW, Mech::ScramSha256, Some(resource)).await
}

/// A client's disco#info: one identity and these features.
fn client_info(features: &[&str]) -> Element {
    let mut q = Element::new("query", DISCO_INFO)
        .with_child(Element::new("identity", DISCO_INFO).with_attr("category", "client").with_attr("type", "pc"));
    for f in features {
        q.push_child(Element::new("feature", DISCO_INFO).with_attr("var", *f));
    }
    q
}

const HONEST: &[&str] = &[DISCO_INFO, NS_CAPS, "urn:xmpp:receipts"];

fn honest_ver() -> String {
    caps::info_ver(&client_info(HONEST)).expect("well-formed")
}

async fn send_presence_with_caps(c: &mut RawClient, ver: &str) {
    c.send(&format!("<presence><c xmlns='{NS_CAPS}' hash='sha-1' node='{CLIENT_NODE}' ver='{ver}'/></presence>")).await;
}

fn is_caps_query(e: &Element) -> bool {
    e.name == "iq"
        && e.attr("type") == Some("get")
        && e.child("query", DISCO_INFO).is_some_and(|q| q.attr("node").is_some())
}

/// Waits for the server's disco#info query about `ver` and checks its shape.
async fn expect_query(c: &mut RawClient, ver: &str) -> Element {
    let q = c.next_where("the server's caps query", is_caps_query).await;
    assert_eq!(q.attr("from"), Some("localhost"), "{q}");
    let node = q.child("query", DISCO_INFO).and_then(|q| q.attr("node"));
    assert_eq!(node, Some(format!("{CLIENT_NODE}#{ver}").as_str()), "{q}");
    q
}

async fn answer(c: &mut RawClient, query: &Element, info: &Element) {
    let id = query.attr("id").expect("the query has an id");
    c.send(&format!("<iq type='result' id='{id}' to='localhost'>{}</iq>", info.to_xml())).await;
}

/// The caps the plugin recorded for `jid`, as `<caps/>`, or the error reply.
async fn lookup(c: &mut RawClient, jid: &str) -> Element {
    c.iq("get", Some("localhost"), &format!("<caps xmlns='{RECORD}' jid='{jid}'/>")).await
}

fn recorded_features(r: &Element) -> Vec<String> {
    let rec = r.child("caps", RECORD).unwrap_or_else(|| panic!("no <caps/>: {r}"));
    let Some(info) = rec.child("query", DISCO_INFO) else { return Vec::new() };
    info.elements().filter(|e| e.name == "feature").filter_map(|e| e.attr("var").map(str::to_owned)).collect()
}

fn verified(r: &Element) -> Option<&str> {
    r.child("caps", RECORD).and_then(|c| c.attr("verified"))
}

#[tokio::test]
async fn stream_features_carry_the_ver_that_disco_answers() {
    let s = start(&["alice"]);
    let mut c = login(&s, "alice", "pc").await;
    let features = c.features.clone().expect("features after authentication");
    let adv = features.child("c", NS_CAPS).unwrap_or_else(|| panic!("no caps in stream features: {features}"));
    assert_eq!(adv.attr("hash"), Some("sha-1"), "{adv}");
    assert_eq!(adv.attr("node"), Some(caps::SERVER_NODE), "{adv}");
    let ver = adv.attr("ver").expect("a ver").to_owned();

    let plain = c.iq("get", Some("localhost"), &format!("<query xmlns='{DISCO_INFO}'/>")).await;
    let plain_q = plain.child("query", DISCO_INFO).unwrap_or_else(|| panic!("{plain}"));
    assert_eq!(caps::info_ver(plain_q).as_deref(), Ok(ver.as_str()), "the node-less answer: {plain}");

    let node = format!("{}#{ver}", caps::SERVER_NODE);
    let r = c.iq("get", Some("localhost"), &format!("<query xmlns='{DISCO_INFO}' node='{node}'/>")).await;
    assert_eq!(r.attr("type"), Some("result"), "{r}");
    let q = r.child("query", DISCO_INFO).unwrap_or_else(|| panic!("{r}"));
    assert_eq!(q.attr("node"), Some(node.as_str()), "the node is echoed: {r}");
    assert_eq!(caps::info_ver(q).as_deref(), Ok(ver.as_str()), "what a client verifies: {r}");

    for stale in [format!("{}#AAAAAAAAAAAAAAAAAAAAAAAAAAA=", caps::SERVER_NODE), "urn:unknown".to_owned()] {
        let r = c.iq("get", Some("localhost"), &format!("<query xmlns='{DISCO_INFO}' node='{stale}'/>")).await;
        assert_eq!(stanza_error_condition(&r).as_deref(), Some("item-not-found"), "{r}");
    }
}

#[tokio::test]
async fn client_caps_are_asked_once_verified_and_recorded() {
    let s = start(&["alice", "bob"]);
    let mut alice = login(&s, "alice", "pc").await;
    let ver = honest_ver();
    send_presence_with_caps(&mut alice, &ver).await;
    let query = expect_query(&mut alice, &ver).await;
    answer(&mut alice, &query, &client_info(HONEST)).await;

    let r = lookup(&mut alice, "alice@localhost/pc").await;
    assert_eq!(verified(&r), Some("true"), "{r}");
    let rec = r.child("caps", RECORD).expect("record");
    assert_eq!(
        (rec.attr("node"), rec.attr("ver"), rec.attr("hash")),
        (Some(CLIENT_NODE), Some(ver.as_str()), Some("sha-1"))
    );
    let mut features = recorded_features(&r);
    features.sort();
    let mut want: Vec<String> = HONEST.iter().map(|f| f.to_string()).collect();
    want.sort();
    assert_eq!(features, want, "{r}");

    // Another client of the same release is not asked again: its record is
    // verified at once, and no query reached it before the answer.
    let mut alice2 = login(&s, "alice", "phone").await;
    send_presence_with_caps(&mut alice2, &ver).await;
    let id = alice2.new_id("lookup");
    alice2
        .send(&format!(
            "<iq type='get' id='{id}' to='localhost'><caps xmlns='{RECORD}' jid='alice@localhost/phone'/></iq>"
        ))
        .await;
    let seen = alice2.until("the lookup answer", |e| e.attr("id") == Some(id.as_str())).await;
    let r = seen.last().expect("until ends with the answer");
    assert_eq!(verified(r), Some("true"), "{r}");
    assert!(!seen.iter().any(is_caps_query), "a known ver was asked about again: {seen:?}");

    // Only the account itself reads its sessions' caps.
    let mut bob = login(&s, "bob", "r").await;
    let r = lookup(&mut bob, "alice@localhost/pc").await;
    assert_eq!(stanza_error_condition(&r).as_deref(), Some("forbidden"), "{r}");

    // Presence without caps forgets them.
    alice.send("<presence/>").await;
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let r = lookup(&mut alice, "alice@localhost/pc").await;
        if stanza_error_condition(&r).as_deref() == Some("item-not-found") {
            break;
        }
        assert!(Instant::now() < deadline, "caps still recorded after presence without them: {r}");
    }
}

#[tokio::test]
async fn lying_clients_and_strangers_are_not_believed() {
    let s = start(&["alice", "mallory"]);
    let mut alice = login(&s, "alice", "pc").await;
    let mut mallory = login(&s, "mallory", "r").await;
    let ver = honest_ver();
    send_presence_with_caps(&mut alice, &ver).await;
    let query = expect_query(&mut alice, &ver).await;

    // Someone else answering the query with its id is ignored...
    let forged = client_info(HONEST);
    let id = query.attr("id").expect("id");
    mallory.send(&format!("<iq type='result' id='{id}' to='localhost'>{}</iq>", forged.to_xml())).await;
    // ...by the time this round trip completes, mallory's result was handled.
    let r = mallory.iq("get", Some("localhost"), "<ping xmlns='urn:xmpp:ping'/>").await;
    assert_eq!(r.attr("type"), Some("result"), "{r}");
    let r = lookup(&mut alice, "alice@localhost/pc").await;
    assert_eq!(verified(&r), Some("false"), "a stranger's answer was believed: {r}");

    // ...and an answer that does not hash to the ver is not recorded.
    answer(&mut alice, &query, &client_info(&[DISCO_INFO, "urn:xmpp:jingle:1"])).await;
    let r = lookup(&mut alice, "alice@localhost/pc").await;
    assert_eq!(verified(&r), Some("false"), "{r}");
    assert!(recorded_features(&r).is_empty(), "{r}");

    // The ver was not poisoned: the next client advertising it is asked, and
    // an honest answer is kept.
    let mut alice2 = login(&s, "alice", "phone").await;
    send_presence_with_caps(&mut alice2, &ver).await;
    let query = expect_query(&mut alice2, &ver).await;
    answer(&mut alice2, &query, &client_info(HONEST)).await;
    let r = lookup(&mut alice2, "alice@localhost/phone").await;
    assert_eq!(verified(&r), Some("true"), "{r}");
    // alice/pc advertised the same ver: one verified answer serves both.
    let r = lookup(&mut alice2, "alice@localhost/pc").await;
    assert_eq!(verified(&r), Some("true"), "{r}");
}

#[tokio::test]
async fn error_answers_and_ill_formed_answers_are_not_recorded() {
    let s = start(&["alice"]);
    let mut alice = login(&s, "alice", "pc").await;
    send_presence_with_caps(&mut alice, "refused=").await;
    let query = expect_query(&mut alice, "refused=").await;
    let id = query.attr("id").expect("id");
    alice
        .send(&format!(
            "<iq type='error' id='{id}' to='localhost'><error type='cancel'>\
             <service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
        ))
        .await;
    let r = lookup(&mut alice, "alice@localhost/pc").await;
    assert_eq!(verified(&r), Some("false"), "{r}");

    // Duplicate features make an answer ill-formed whatever it hashes to.
    let dup = client_info(&["urn:a", "urn:a"]);
    let mut alice2 = login(&s, "alice", "dup").await;
    send_presence_with_caps(&mut alice2, "dup=").await;
    let query = expect_query(&mut alice2, "dup=").await;
    answer(&mut alice2, &query, &dup).await;
    let r = lookup(&mut alice2, "alice@localhost/dup").await;
    assert_eq!(verified(&r), Some("false"), "{r}");

    // The server is still answering, and the session's answer did not get a reply.
    let r = alice.iq("get", Some("localhost"), "<ping xmlns='urn:xmpp:ping'/>").await;
    assert_eq!(r.attr("type"), Some("result"), "{r}");
}

#[tokio::test]
async fn bad_lookups_get_errors_and_ended_sessions_are_forgotten() {
    let s = start(&["alice"]);
    let mut alice = login(&s, "alice", "pc").await;
    for (payload, want) in [
        (format!("<caps xmlns='{RECORD}'/>"), "bad-request"),
        (format!("<caps xmlns='{RECORD}' jid='alice@localhost'/>"), "jid-malformed"),
        (format!("<caps xmlns='{RECORD}' jid='alice@localhost/nobody'/>"), "item-not-found"),
    ] {
        let r = alice.iq("get", Some("localhost"), &payload).await;
        assert_eq!(stanza_error_condition(&r).as_deref(), Some(want), "{payload}: {r}");
    }

    let mut phone = login(&s, "alice", "phone").await;
    send_presence_with_caps(&mut phone, "unanswered=").await;
    expect_query(&mut phone, "unanswered=").await;
    let r = lookup(&mut alice, "alice@localhost/phone").await;
    assert_eq!(verified(&r), Some("false"), "{r}");
    phone.close().await;
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let r = lookup(&mut alice, "alice@localhost/phone").await;
        if stanza_error_condition(&r).as_deref() == Some("item-not-found") {
            break;
        }
        assert!(Instant::now() < deadline, "caps of an ended session still recorded: {r}");
    }
}
