//! The `roster` plugin's presence side end to end: the subscription
//! handshake (RFC 6121 §3) online and offline, pre-approval, presence
//! broadcast, probes and their answers (§4), directed presence, the
//! unavailable that follows a session however it ends, XEP-0186
//! invisibility, XEP-0256 pass-through, and what bad input gets.

use waxwing_tests::server::vhost_with_plugins;
use waxwing_tests::{Element, Mech, RawClient, Server, stanza_error_condition};

const PW: &str = "presence-pw";
const NS_ROSTER: &str = "jabber:iq:roster";
const NS_INVISIBLE: &str = "urn:xmpp:invisible:0";

fn start(users: &[&str]) -> Server {
    Server::start_with_localhost_users(&vhost_with_plugins(&[("roster", "")]), users, PW)
}

async fn login(s: &Server, user: &str, resource: &str) -> RawClient {
    RawClient::login_with(s, &format!("{user}@localhost"), PW, Mech::ScramSha256, Some(resource)).await
}

/// Logs in, asks for the roster (so pushes come) and sends initial presence.
async fn online(s: &Server, user: &str, resource: &str) -> RawClient {
    let mut c = login(s, user, resource).await;
    let r = c.iq("get", None, &format!("<query xmlns='{NS_ROSTER}'/>")).await;
    assert_eq!(r.attr("type"), Some("result"), "{r}");
    c.available(0).await;
    c
}

fn is_presence(e: &Element, from: &str, ty: Option<&str>) -> bool {
    e.name == "presence" && e.attr("from") == Some(from) && e.attr("type") == ty
}

async fn next_presence(c: &mut RawClient, from: &str, ty: Option<&str>) -> Element {
    c.next_where(&format!("presence {ty:?} from {from}"), |e| is_presence(e, from, ty)).await
}

/// The next roster push's item, as (jid, subscription, ask, approved).
async fn next_push_item(c: &mut RawClient) -> (String, String, Option<String>, Option<String>) {
    let push = c
        .next_where("a roster push", |e| {
            e.name == "iq" && e.attr("type") == Some("set") && e.child("query", NS_ROSTER).is_some()
        })
        .await;
    let item = push
        .child("query", NS_ROSTER)
        .and_then(|q| q.child("item", NS_ROSTER))
        .unwrap_or_else(|| panic!("a push without an item: {push}"));
    (
        item.attr("jid").unwrap_or_default().to_string(),
        item.attr("subscription").unwrap_or_default().to_string(),
        item.attr("ask").map(str::to_string),
        item.attr("approved").map(str::to_string),
    )
}

fn push_item(jid: &str, sub: &str, ask: Option<&str>) -> (String, String, Option<String>, Option<String>) {
    (jid.to_string(), sub.to_string(), ask.map(str::to_string), None)
}

/// `a` subscribes to `b`, `b` approves; both online. Leaves both drained.
async fn subscribe(a: &mut RawClient, a_bare: &str, b: &mut RawClient, b_bare: &str) {
    a.send(&format!("<presence type='subscribe' to='{b_bare}'/>")).await;
    next_presence(b, a_bare, Some("subscribe")).await;
    b.send(&format!("<presence type='subscribed' to='{a_bare}'/>")).await;
    next_presence(a, b_bare, Some("subscribed")).await;
    b.drain().await;
    a.drain().await;
}

const ALICE: &str = "alice@localhost";
const BOB: &str = "bob@localhost";

#[tokio::test]
async fn handshake_with_both_online() {
    let s = start(&["alice", "bob"]);
    let mut a = online(&s, "alice", "a").await;
    let mut b = online(&s, "bob", "b").await;

    a.send(&format!("<presence type='subscribe' to='{BOB}'><status>hi, it is alice</status></presence>")).await;
    assert_eq!(next_push_item(&mut a).await, push_item(BOB, "none", Some("subscribe")));
    // Stamped with alice's bare JID, the status kept.
    let req = next_presence(&mut b, ALICE, Some("subscribe")).await;
    assert_eq!(req.child("status", "jabber:client").map(Element::text).as_deref(), Some("hi, it is alice"));
    // A request alone does not list alice in bob's roster.
    let r = b.iq("get", None, &format!("<query xmlns='{NS_ROSTER}'/>")).await;
    assert_eq!(r.child("query", NS_ROSTER).map(|q| q.elements().count()), Some(0), "{r}");

    b.send(&format!("<presence type='subscribed' to='{ALICE}'/>")).await;
    assert_eq!(next_push_item(&mut b).await, push_item(ALICE, "from", None));
    let seen_by_a = a.drain().await;
    let pos = |pred: &dyn Fn(&Element) -> bool| seen_by_a.iter().position(pred);
    let approved = pos(&|e| is_presence(e, BOB, Some("subscribed"))).expect("the approval");
    let bob_presence = pos(&|e| is_presence(e, "bob@localhost/b", None)).expect("bob's presence");
    assert!(approved < bob_presence, "the approval before the presence it allows: {seen_by_a:?}");
    assert!(
        seen_by_a.iter().any(|e| e.child("query", NS_ROSTER).and_then(|q| q.child("item", NS_ROSTER)).is_some_and(
            |i| i.attr("jid") == Some(BOB) && i.attr("subscription") == Some("to") && i.attr("ask").is_none()
        )),
        "alice's push of 'to': {seen_by_a:?}"
    );

    // Now the other way: both.
    subscribe(&mut b, BOB, &mut a, ALICE).await;
    let r = a.iq("get", None, &format!("<query xmlns='{NS_ROSTER}'/>")).await;
    let item = r.child("query", NS_ROSTER).and_then(|q| q.child("item", NS_ROSTER)).cloned();
    assert_eq!(item.and_then(|i| i.attr("subscription").map(str::to_string)).as_deref(), Some("both"), "{r}");

    // Presence changes reach the contact; a duplicate approval does not.
    a.send("<presence><show>away</show></presence>").await;
    let p = next_presence(&mut b, "alice@localhost/a", None).await;
    assert_eq!(p.child("show", "jabber:client").map(Element::text).as_deref(), Some("away"));
    b.send(&format!("<presence type='subscribed' to='{ALICE}'/>")).await;
    b.drain().await;
    let seen = a.drain().await;
    assert!(!seen.iter().any(|e| is_presence(e, BOB, Some("subscribed"))), "{seen:?}");
    s.assert_no_plugin_failures();
}

#[tokio::test]
async fn handshake_with_the_contact_offline() {
    let s = start(&["alice", "bob"]);
    let mut a = online(&s, "alice", "a").await;
    a.send(&format!("<presence type='subscribe' to='{BOB}'/>")).await;
    assert_eq!(next_push_item(&mut a).await, push_item(BOB, "none", Some("subscribe")));

    // Bob comes online later: the request waited for his initial presence.
    let mut b = login(&s, "bob", "b").await;
    b.send("<presence/>").await;
    next_presence(&mut b, ALICE, Some("subscribe")).await;
    b.send(&format!("<presence type='subscribed' to='{ALICE}'/>")).await;
    next_presence(&mut a, BOB, Some("subscribed")).await;
    next_presence(&mut a, "bob@localhost/b", None).await;

    // Answered: bob's next session is not asked again.
    b.close().await;
    let mut b2 = login(&s, "bob", "b2").await;
    b2.available(0).await;
    let seen = b2.drain().await;
    assert!(!seen.iter().any(|e| is_presence(e, ALICE, Some("subscribe"))), "{seen:?}");
}

#[tokio::test]
async fn probes_on_login_bring_contacts_presence() {
    let s = start(&["alice", "bob"]);
    let mut a = online(&s, "alice", "a").await;
    let mut b = online(&s, "bob", "b").await;
    subscribe(&mut a, ALICE, &mut b, BOB).await;
    subscribe(&mut b, BOB, &mut a, ALICE).await;
    b.send("<presence><status>at work</status></presence>").await;
    b.drain().await;

    let mut a2 = login(&s, "alice", "a2").await;
    a2.send("<presence/>").await;
    let p = next_presence(&mut a2, "bob@localhost/b", None).await;
    assert_eq!(p.child("status", "jabber:client").map(Element::text).as_deref(), Some("at work"));
    // And bob sees alice's new resource arrive.
    next_presence(&mut b, "alice@localhost/a2", None).await;
}

#[tokio::test]
async fn unavailable_when_a_session_closes_or_its_socket_dies() {
    let s = start(&["alice", "bob"]);
    let mut a = online(&s, "alice", "a").await;
    let mut b = online(&s, "bob", "b").await;
    subscribe(&mut b, BOB, &mut a, ALICE).await;

    a.close().await;
    next_presence(&mut b, "alice@localhost/a", Some("unavailable")).await;

    let mut a2 = login(&s, "alice", "a2").await;
    a2.available(0).await;
    next_presence(&mut b, "alice@localhost/a2", None).await;
    drop(a2);
    next_presence(&mut b, "alice@localhost/a2", Some("unavailable")).await;
    s.assert_no_plugin_failures();
}

#[tokio::test]
async fn directed_presence_is_followed_by_unavailable() {
    let s = start(&["alice", "carol"]);
    let mut a = online(&s, "alice", "a").await;
    let mut c = online(&s, "carol", "c").await;
    a.send("<presence to='carol@localhost/c'><status>psst</status></presence>").await;
    let p = next_presence(&mut c, "alice@localhost/a", None).await;
    assert_eq!(p.child("status", "jabber:client").map(Element::text).as_deref(), Some("psst"));
    // Not a contact: alice's broadcasts do not reach carol...
    a.send("<presence><show>dnd</show></presence>").await;
    a.drain().await;
    assert!(!c.drain().await.iter().any(|e| is_presence(e, "alice@localhost/a", None)));
    // ...but her going away does.
    a.close().await;
    next_presence(&mut c, "alice@localhost/a", Some("unavailable")).await;
}

#[tokio::test]
async fn probe_of_an_offline_contact_is_answered_with_delay() {
    let s = start(&["alice", "bob"]);
    let mut a = online(&s, "alice", "a").await;
    let mut b = online(&s, "bob", "b").await;
    subscribe(&mut a, ALICE, &mut b, BOB).await;
    b.send("<presence type='unavailable'><status>gone fishing</status></presence>").await;
    b.drain().await;
    b.close().await;
    a.close().await;

    let mut a2 = login(&s, "alice", "a2").await;
    a2.send("<presence/>").await;
    let p = next_presence(&mut a2, BOB, Some("unavailable")).await;
    assert_eq!(p.child("status", "jabber:client").map(Element::text).as_deref(), Some("gone fishing"), "{p}");
    let delay = p.child("delay", "urn:xmpp:delay").unwrap_or_else(|| panic!("no delay: {p}"));
    assert!(delay.attr("stamp").is_some_and(|s| s.ends_with('Z')), "{p}");
}

#[tokio::test]
async fn invisibility_hides_broadcast_but_not_directed_presence() {
    let s = start(&["alice", "bob", "carol"]);
    let mut a = online(&s, "alice", "a").await;
    let mut b = online(&s, "bob", "b").await;
    let mut c = online(&s, "carol", "c").await;
    subscribe(&mut b, BOB, &mut a, ALICE).await;

    let r = a.iq("set", None, &format!("<invisible xmlns='{NS_INVISIBLE}'/>")).await;
    assert_eq!(r.attr("type"), Some("result"), "{r}");
    next_presence(&mut b, "alice@localhost/a", Some("unavailable")).await;

    a.send("<presence><show>chat</show></presence>").await;
    a.send("<presence to='carol@localhost/c'/>").await;
    next_presence(&mut c, "alice@localhost/a", None).await;
    a.drain().await;
    assert!(!b.drain().await.iter().any(|e| is_presence(e, "alice@localhost/a", None)), "invisible to bob");

    // Bob's new session probes alice and sees no available resource.
    let mut b2 = login(&s, "bob", "b2").await;
    b2.send("<presence/>").await;
    next_presence(&mut b2, ALICE, Some("unavailable")).await;
    assert!(!b2.drain().await.iter().any(|e| is_presence(e, "alice@localhost/a", None)));

    let r = a.iq("set", None, &format!("<visible xmlns='{NS_INVISIBLE}'/>")).await;
    assert_eq!(r.attr("type"), Some("result"), "{r}");
    let p = next_presence(&mut b, "alice@localhost/a", None).await;
    assert_eq!(p.child("show", "jabber:client").map(Element::text).as_deref(), Some("chat"));
    next_presence(&mut b2, "alice@localhost/a", None).await;
    s.assert_no_plugin_failures();
}

#[tokio::test]
async fn pre_approval_answers_the_later_request() {
    let s = start(&["alice", "bob"]);
    let mut a = online(&s, "alice", "a").await;
    let mut b = online(&s, "bob", "b").await;

    b.send(&format!("<presence type='subscribed' to='{ALICE}'/>")).await;
    let (jid, sub, _, approved) = next_push_item(&mut b).await;
    assert_eq!((jid.as_str(), sub.as_str(), approved.as_deref()), (ALICE, "none", Some("true")));
    // Not routed: alice hears nothing of it.
    b.drain().await;
    assert!(!a.drain().await.iter().any(|e| e.name == "presence" && e.attr("from") == Some(BOB)));

    a.send(&format!("<presence type='subscribe' to='{BOB}'/>")).await;
    next_presence(&mut a, BOB, Some("subscribed")).await;
    next_presence(&mut a, "bob@localhost/b", None).await;
    assert_eq!(next_push_item(&mut b).await, push_item(ALICE, "from", None));
    let seen = b.drain().await;
    assert!(!seen.iter().any(|e| is_presence(e, ALICE, Some("subscribe"))), "answered for bob: {seen:?}");
}

#[tokio::test]
async fn last_activity_in_presence_passes_through() {
    let s = start(&["alice", "bob"]);
    let mut a = online(&s, "alice", "a").await;
    let mut b = online(&s, "bob", "b").await;
    subscribe(&mut b, BOB, &mut a, ALICE).await;
    a.send("<presence><show>xa</show><query xmlns='jabber:iq:last' seconds='600'/></presence>").await;
    let p = next_presence(&mut b, "alice@localhost/a", None).await;
    assert_eq!(p.child("query", "jabber:iq:last").and_then(|q| q.attr("seconds")), Some("600"), "{p}");
}

#[tokio::test]
async fn bad_subscription_input_and_unsubscribed_probes() {
    let s = start(&["alice", "carol"]);
    let mut a = online(&s, "alice", "a").await;
    let mut c = online(&s, "carol", "c").await;

    for to in ["a@b@c", "@localhost", "x@"] {
        c.send(&format!("<presence type='subscribe' to='{to}'/>")).await;
        let e = c.next_where("an error", |e| e.name == "presence" && e.attr("type") == Some("error")).await;
        assert_eq!(stanza_error_condition(&e).as_deref(), Some("jid-malformed"), "{e}");
    }
    // Invisibility is a session's own business.
    let r = c.iq("set", Some(ALICE), &format!("<invisible xmlns='{NS_INVISIBLE}'/>")).await;
    assert_eq!(stanza_error_condition(&r).as_deref(), Some("forbidden"), "{r}");
    // Subscribing to oneself changes nothing.
    c.send("<presence type='subscribe' to='carol@localhost'/>").await;
    let r = c.iq("get", None, &format!("<query xmlns='{NS_ROSTER}'/>")).await;
    assert_eq!(r.child("query", NS_ROSTER).map(|q| q.elements().count()), Some(0), "{r}");

    // Carol probes alice without a subscription: no presence of alice's leaks.
    c.send(&format!("<presence type='probe' to='{ALICE}'/>")).await;
    let seen = c.drain().await;
    assert!(
        !seen.iter().any(|e| e.name == "presence"
            && e.attr("from").is_some_and(|f| f.starts_with("alice@"))
            && e.attr("type") != Some("unsubscribed")),
        "{seen:?}"
    );
    // Alice never sees the probe, and the server still serves both.
    assert!(!a.drain().await.iter().any(|e| e.attr("type") == Some("probe")));
    a.send("<presence><status>still here</status></presence>").await;
    a.drain().await;
    s.assert_no_plugin_failures();
}
