//! XEP-0280 Message Carbons through the `carbons` plugin
//! (`plugins/carbons`): alice on several resources, bob on one, real
//! sessions over real sockets.

use waxwing_tests::server::vhost_with_plugins;
use waxwing_tests::{Element, Mech, RawClient, Server, body, stanza_error_condition};

const PW: &str = "carbons-pw";
const CARBONS: &str = "urn:xmpp:carbons:2";
const FORWARD: &str = "urn:xmpp:forward:0";
const DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";
const CLIENT: &str = "jabber:client";

/// A server with the built-in disco and the carbons plugin, and alice and bob.
fn start() -> Server {
    start_with(&[("disco", ""), ("carbons", "")])
}

/// Like [`start`], with these plugins instead.
fn start_with(plugins: &[(&str, &str)]) -> Server {
    Server::start_with_localhost_users(&vhost_with_plugins(plugins), &["alice", "bob"], PW)
}

async fn login(s: &Server, user: &str, resource: &str) -> RawClient {
    RawClient::login_with(s, &format!("{user}@localhost"), PW, Mech::ScramSha256, Some(resource)).await
}

async fn set_carbons(c: &mut RawClient, what: &str) {
    let r = c.iq("set", None, &format!("<{what} xmlns='{CARBONS}'/>")).await;
    assert_eq!(r.attr("type"), Some("result"), "{what}: {r}");
}

/// A logged-in, available session, with carbons enabled when `carbons`.
async fn session(s: &Server, user: &str, resource: &str, priority: i8, carbons: bool) -> RawClient {
    let mut c = login(s, user, resource).await;
    if carbons {
        set_carbons(&mut c, "enable").await;
    }
    c.available(priority).await;
    c
}

/// The messages `c` got, once the sender's stanzas are known to be handled:
/// the sender round-trips first (its message and the copies it caused are
/// then queued), then `c` does.
async fn messages_after(sender: &mut RawClient, c: &mut RawClient) -> Vec<Element> {
    sender.drain().await;
    c.drain().await.into_iter().filter(|e| e.name == "message").collect()
}

async fn send(c: &mut RawClient, to: &str, id: &str, inner: &str) {
    c.send(&format!("<message to='{to}' id='{id}' type='chat'>{inner}</message>")).await;
}

/// The forwarded message inside a carbon of `direction`, after checking the
/// wrapper: from the account's bare JID, to this session.
fn unwrap_carbon<'a>(m: &'a Element, direction: &str, account: &str, session: &str) -> &'a Element {
    assert_eq!(m.attr("from"), Some(account), "a carbon must come from the bare JID: {m}");
    assert_eq!(m.attr("to"), Some(session), "{m}");
    m.child(direction, CARBONS)
        .and_then(|d| d.child("forwarded", FORWARD))
        .and_then(|f| f.child("message", CLIENT))
        .unwrap_or_else(|| panic!("not a <{direction}/> carbon: {m}"))
}

fn assert_original(m: &Element, from: &str, to: &str, id: &str, text: &str) {
    assert_eq!((m.attr("from"), m.attr("to"), m.attr("id")), (Some(from), Some(to), Some(id)), "{m}");
    assert_eq!(body(m), text, "{m}");
}

struct Scene {
    _server: Server,
    /// alice/r1, priority 5, carbons on.
    r1: RawClient,
    /// alice/r2, priority 1, carbons on.
    r2: RawClient,
    /// alice/plain, priority 0, never enabled carbons.
    plain: RawClient,
    bob: RawClient,
}

async fn scene() -> Scene {
    let s = start();
    let r1 = session(&s, "alice", "r1", 5, true).await;
    let r2 = session(&s, "alice", "r2", 1, true).await;
    let plain = session(&s, "alice", "plain", 0, false).await;
    let bob = session(&s, "bob", "b1", 0, false).await;
    Scene { _server: s, r1, r2, plain, bob }
}

#[tokio::test]
async fn a_message_to_one_resource_is_copied_to_the_other_enabled_one() {
    let mut sc = scene().await;
    let _log = sc._server.log_on_panic();
    send(&mut sc.bob, "alice@localhost/r1", "f1", "<body>to r1</body>").await;
    let r1 = messages_after(&mut sc.bob, &mut sc.r1).await;
    assert_eq!(r1.len(), 1, "{r1:?}");
    assert_original(&r1[0], "bob@localhost/b1", "alice@localhost/r1", "f1", "to r1");

    let r2 = messages_after(&mut sc.bob, &mut sc.r2).await;
    assert_eq!(r2.len(), 1, "{r2:?}");
    let inner = unwrap_carbon(&r2[0], "received", "alice@localhost", "alice@localhost/r2");
    assert_original(inner, "bob@localhost/b1", "alice@localhost/r1", "f1", "to r1");
    assert_eq!(r2[0].attr("type"), Some("chat"), "{}", r2[0]);

    assert_eq!(messages_after(&mut sc.bob, &mut sc.plain).await, Vec::<Element>::new(), "never enabled");
}

#[tokio::test]
async fn a_message_sent_from_one_resource_is_copied_to_the_others() {
    let mut sc = scene().await;
    let _log = sc._server.log_on_panic();
    send(&mut sc.r1, "bob@localhost", "s1", "<body>from r1</body>").await;
    let bob = messages_after(&mut sc.r1, &mut sc.bob).await;
    assert_eq!(bob.len(), 1, "{bob:?}");
    assert_original(&bob[0], "alice@localhost/r1", "bob@localhost", "s1", "from r1");

    let r2 = messages_after(&mut sc.r1, &mut sc.r2).await;
    assert_eq!(r2.len(), 1, "{r2:?}");
    let inner = unwrap_carbon(&r2[0], "sent", "alice@localhost", "alice@localhost/r2");
    assert_original(inner, "alice@localhost/r1", "bob@localhost", "s1", "from r1");

    // Neither the sender nor the resource that never enabled get a copy.
    let own: Vec<Element> = sc.r1.drain().await.into_iter().filter(|e| e.name == "message").collect();
    assert_eq!(own, Vec::<Element>::new());
    assert_eq!(messages_after(&mut sc.r1, &mut sc.plain).await, Vec::<Element>::new());
}

#[tokio::test]
async fn a_message_to_the_bare_jid_goes_to_the_top_resource_and_is_copied_to_the_rest() {
    let mut sc = scene().await;
    let _log = sc._server.log_on_panic();
    send(&mut sc.bob, "alice@localhost", "b1", "<body>to alice</body>").await;
    let r1 = messages_after(&mut sc.bob, &mut sc.r1).await;
    assert_eq!(r1.len(), 1, "{r1:?}");
    assert_original(&r1[0], "bob@localhost/b1", "alice@localhost", "b1", "to alice");
    let r2 = messages_after(&mut sc.bob, &mut sc.r2).await;
    assert_eq!(r2.len(), 1, "{r2:?}");
    let inner = unwrap_carbon(&r2[0], "received", "alice@localhost", "alice@localhost/r2");
    assert_original(inner, "bob@localhost/b1", "alice@localhost", "b1", "to alice");
    assert_eq!(messages_after(&mut sc.bob, &mut sc.plain).await, Vec::<Element>::new());
}

#[tokio::test]
async fn private_and_no_copy_messages_are_not_copied_and_private_is_stripped() {
    let mut sc = scene().await;
    let _log = sc._server.log_on_panic();
    send(&mut sc.r1, "bob@localhost", "p1", &format!("<body>private</body><private xmlns='{CARBONS}'/>")).await;
    send(&mut sc.r1, "bob@localhost", "p2", "<body>no copy</body><no-copy xmlns='urn:xmpp:hints'/>").await;
    let bob = messages_after(&mut sc.r1, &mut sc.bob).await;
    assert_eq!(bob.iter().map(|m| m.attr("id")).collect::<Vec<_>>(), [Some("p1"), Some("p2")], "{bob:?}");
    assert!(bob[0].child("private", CARBONS).is_none(), "the sender's server strips <private/>: {}", bob[0]);
    assert!(bob[1].child("no-copy", "urn:xmpp:hints").is_some(), "{}", bob[1]);
    // Received with <private/>: delivered as addressed, copied nowhere.
    send(&mut sc.bob, "alice@localhost/r1", "p3", &format!("<body>private in</body><private xmlns='{CARBONS}'/>"))
        .await;
    let r1 = messages_after(&mut sc.bob, &mut sc.r1).await;
    assert_eq!(r1.iter().map(|m| m.attr("id")).collect::<Vec<_>>(), [Some("p3")], "{r1:?}");
    assert_eq!(messages_after(&mut sc.bob, &mut sc.r2).await, Vec::<Element>::new());
}

#[tokio::test]
async fn ineligible_messages_are_not_copied() {
    let mut sc = scene().await;
    let _log = sc._server.log_on_panic();
    // A headline, a bodiless normal message, a copy-looking forgery, and a
    // MUC private message (received side).
    sc.bob.send("<message to='alice@localhost/r1' id='i1' type='headline'><body>news</body></message>").await;
    sc.bob.send("<message to='alice@localhost/r1' id='i2'><subject>nothing</subject></message>").await;
    send(&mut sc.bob, "alice@localhost/r1", "i3", &format!("<received xmlns='{CARBONS}'/>")).await;
    send(&mut sc.bob, "alice@localhost/r1", "i4", "<body>pm</body><x xmlns='http://jabber.org/protocol/muc#user'/>")
        .await;
    let r1 = messages_after(&mut sc.bob, &mut sc.r1).await;
    assert_eq!(r1.len(), 4, "all delivered as addressed: {r1:?}");
    assert_eq!(messages_after(&mut sc.bob, &mut sc.r2).await, Vec::<Element>::new());
    // A normal message with a body is eligible.
    sc.bob.send("<message to='alice@localhost/r1' id='i5'><body>normal</body></message>").await;
    let r2 = messages_after(&mut sc.bob, &mut sc.r2).await;
    assert_eq!(r2.len(), 1, "{r2:?}");
    let inner = unwrap_carbon(&r2[0], "received", "alice@localhost", "alice@localhost/r2");
    assert_eq!(inner.attr("id"), Some("i5"), "{inner}");
}

#[tokio::test]
async fn disabling_stops_the_copies_and_enabling_twice_is_harmless() {
    let mut sc = scene().await;
    let _log = sc._server.log_on_panic();
    set_carbons(&mut sc.r2, "enable").await;
    set_carbons(&mut sc.r2, "disable").await;
    send(&mut sc.bob, "alice@localhost/r1", "d1", "<body>after disable</body>").await;
    send(&mut sc.r1, "bob@localhost", "d2", "<body>also after</body>").await;
    sc.r1.drain().await;
    assert_eq!(messages_after(&mut sc.bob, &mut sc.r2).await, Vec::<Element>::new());
    // Disabling twice is harmless too; enabling again brings copies back.
    set_carbons(&mut sc.r2, "disable").await;
    set_carbons(&mut sc.r2, "enable").await;
    send(&mut sc.bob, "alice@localhost/r1", "d3", "<body>back</body>").await;
    let r2 = messages_after(&mut sc.bob, &mut sc.r2).await;
    assert_eq!(r2.len(), 1, "{r2:?}");
}

#[tokio::test]
async fn a_closed_session_gets_no_copies_and_its_successor_starts_disabled() {
    let s = start();
    let _log = s.log_on_panic();
    let r1 = session(&s, "alice", "r1", 5, true).await;
    let mut bob = session(&s, "bob", "b1", 0, false).await;
    r1.close().await;
    // A new session with the same resource did not enable anything.
    let mut again = session(&s, "alice", "r1", 5, false).await;
    let mut other = session(&s, "alice", "r2", 1, false).await;
    send(&mut bob, "alice@localhost/r2", "c1", "<body>hi</body>").await;
    assert_eq!(messages_after(&mut bob, &mut again).await, Vec::<Element>::new());
    assert_eq!(messages_after(&mut bob, &mut other).await.len(), 1);
}

#[tokio::test]
async fn bad_requests_get_the_right_errors_and_the_session_goes_on() {
    let s = start();
    let _log = s.log_on_panic();
    let mut alice = session(&s, "alice", "r1", 0, false).await;
    let _bob = session(&s, "bob", "b1", 0, false).await;

    let r = alice.iq("set", None, &format!("<enable xmlns='{CARBONS}'><junk/></enable>")).await;
    assert_eq!(stanza_error_condition(&r).as_deref(), Some("bad-request"), "{r}");
    let r = alice.iq("set", None, &format!("<disable xmlns='{CARBONS}'>text</disable>")).await;
    assert_eq!(stanza_error_condition(&r).as_deref(), Some("bad-request"), "{r}");
    // For another account: not a request this server answers for bob.
    let r = alice.iq("set", Some("bob@localhost"), &format!("<enable xmlns='{CARBONS}'/>")).await;
    assert_eq!(stanza_error_condition(&r).as_deref(), Some("service-unavailable"), "{r}");
    // A get, or the wrong version of the namespace: nobody serves those.
    let r = alice.iq("get", None, &format!("<enable xmlns='{CARBONS}'/>")).await;
    assert_eq!(r.attr("type"), Some("error"), "{r}");
    let r = alice.iq("set", None, "<enable xmlns='urn:xmpp:carbons:1'/>").await;
    assert_eq!(stanza_error_condition(&r).as_deref(), Some("service-unavailable"), "{r}");

    // Still serving, and disco says what it serves.
    set_carbons(&mut alice, "enable").await;
    let r = alice.iq("get", Some("localhost"), &format!("<query xmlns='{DISCO_INFO}'/>")).await;
    let has = r
        .child("query", DISCO_INFO)
        .into_iter()
        .flat_map(|q| q.elements())
        .any(|e| e.name == "feature" && e.attr("var") == Some(CARBONS));
    assert!(has, "{r}");
    s.assert_no_plugin_failures();
}

/// With the offline plugin too: what it hands over later passes this
/// plugin's filter (it is a plugin's send), and must not be copied again.
#[tokio::test]
async fn offline_redeliveries_are_not_copied_again() {
    let s = start_with(&[("disco", ""), ("offline", ""), ("carbons", "")]);
    let _log = s.log_on_panic();
    let mut a1 = session(&s, "alice", "a1", 0, true).await;
    let mut a2 = session(&s, "alice", "a2", 0, true).await;
    // bob's only session has a negative priority: messages to him are stored,
    // and it is copied on them as a carbons-enabled resource.
    let mut quiet = session(&s, "bob", "quiet", -1, true).await;

    send(&mut a1, "bob@localhost", "o1", "<body>while you were out</body>").await;
    let a2_now = messages_after(&mut a1, &mut a2).await;
    assert_eq!(a2_now.len(), 1, "the sent copy, once: {a2_now:?}");
    unwrap_carbon(&a2_now[0], "sent", "alice@localhost", "alice@localhost/a2");
    let quiet_now = messages_after(&mut a1, &mut quiet).await;
    assert_eq!(quiet_now.len(), 1, "the received copy, once: {quiet_now:?}");
    unwrap_carbon(&quiet_now[0], "received", "bob@localhost", "bob@localhost/quiet");

    let mut phone = session(&s, "bob", "phone", 0, true).await;
    let got = messages_after(&mut a1, &mut phone).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].attr("from"), Some("alice@localhost/a1"), "{}", got[0]);
    assert!(got[0].child("delay", "urn:xmpp:delay").is_some(), "{}", got[0]);
    // The hand-over copied nowhere.
    assert_eq!(messages_after(&mut phone, &mut quiet).await, Vec::<Element>::new());
    assert_eq!(messages_after(&mut phone, &mut a2).await, Vec::<Element>::new());
    assert_eq!(messages_after(&mut phone, &mut a1).await, Vec::<Element>::new());
}
