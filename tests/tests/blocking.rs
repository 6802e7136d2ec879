//! XEP-0191 Blocking Command end to end: the `blocking` plugin's iq
//! handlers and pushes, and its filter between real client sessions of
//! alice, bob and carol over real sockets.

use waxwing_tests::server::vhost_with_plugins;
use waxwing_tests::{Element, Mech, RawClient, Server, body, stanza_error_condition, stanza_error_type};

const NS: &str = "urn:xmpp:blocking";
const NS_ERRORS: &str = "urn:xmpp:blocking:errors";
const PW: &str = "blocking-pw";
const USERS: &[&str] = &["alice", "bob", "carol"];

/// A server with these plugins and the three users.
fn start_with(plugins: &[(&str, &str)]) -> Server {
    Server::start_with_localhost_users(&vhost_with_plugins(plugins), USERS, PW)
}

/// The blocking plugin with the built-in ping, and disco to see the feature
/// advertised.
fn start() -> Server {
    start_with(&[("ping", ""), ("disco", ""), ("blocking", "")])
}

/// Logged in and available at `priority`.
async fn online(s: &Server, user: &str, resource: &str, priority: i8) -> RawClient {
    let mut c = RawClient::login_with(s, &format!("{user}@localhost"), PW, Mech::ScramSha256, Some(resource)).await;
    c.available(priority).await;
    c
}

fn items(jids: &[&str]) -> String {
    jids.iter().map(|j| format!("<item jid='{j}'/>")).collect()
}

async fn block(c: &mut RawClient, jids: &[&str]) -> Element {
    c.iq("set", None, &format!("<block xmlns='{NS}'>{}</block>", items(jids))).await
}

async fn unblock(c: &mut RawClient, jids: &[&str]) -> Element {
    c.iq("set", None, &format!("<unblock xmlns='{NS}'>{}</unblock>", items(jids))).await
}

/// The list's JIDs; asking also subscribes this resource to pushes.
async fn blocklist(c: &mut RawClient) -> Vec<String> {
    let r = c.iq("get", None, &format!("<blocklist xmlns='{NS}'/>")).await;
    assert_eq!(r.attr("type"), Some("result"), "{r}");
    let list = r.child("blocklist", NS).unwrap_or_else(|| panic!("no <blocklist/>: {r}"));
    list.elements().filter(|e| e.is("item", NS)).map(|e| e.attr("jid").unwrap_or_default().to_string()).collect()
}

fn assert_result(r: &Element) {
    assert_eq!(r.attr("type"), Some("result"), "{r}");
}

fn assert_error(r: &Element, condition: &str) {
    assert_eq!(r.attr("type"), Some("error"), "{r}");
    assert_eq!(stanza_error_condition(r).as_deref(), Some(condition), "{r}");
}

/// XEP-0191 §3.3: what the user gets for a stanza to someone they blocked.
fn assert_blocked(r: &Element) {
    assert_error(r, "not-acceptable");
    assert_eq!(stanza_error_type(r).as_deref(), Some("cancel"), "{r}");
    let error = r.child("error", "jabber:client").unwrap_or_else(|| panic!("no <error/>: {r}"));
    assert!(error.child("blocked", NS_ERRORS).is_some(), "no <blocked/> application condition: {r}");
}

fn is_push(e: &Element, action: &str) -> bool {
    e.name == "iq" && e.attr("type") == Some("set") && e.child(action, NS).is_some()
}

/// Waits for a push of `action` and checks it came from the account with
/// exactly `jids`, then acknowledges it as a client must.
async fn expect_push(c: &mut RawClient, action: &str, jids: &[&str]) {
    let push = c.next_where(&format!("a <{action}/> push"), |e| is_push(e, action)).await;
    let me = c.jid.clone().unwrap_or_default();
    assert_eq!(push.attr("from"), Some(me.split('/').next().unwrap_or_default()), "{push}");
    assert_eq!(push.attr("to"), Some(me.as_str()), "{push}");
    let got: Vec<&str> =
        push.child(action, NS).into_iter().flat_map(|a| a.elements()).filter_map(|i| i.attr("jid")).collect();
    assert_eq!(got, jids, "{push}");
    let id = push.attr("id").unwrap_or_default();
    c.send(&format!("<iq type='result' id='{id}'/>")).await;
}

async fn message(from: &mut RawClient, to: &str, id: &str, text: &str) {
    from.send(&format!("<message to='{to}' type='chat' id='{id}'><body>{text}</body></message>")).await;
}

/// The answer `from` gets to message `id`, when one comes back.
async fn message_error(from: &mut RawClient, id: &str) -> Element {
    from.next_where(&format!("the error for message {id}"), |e| e.name == "message" && e.attr("id") == Some(id)).await
}

/// Carol sends `to` a marker message; returns everything `to` received up
/// to it. What the blocked side sent was decided before its sender got its
/// answer, so anything that got through is queued ahead of the marker.
async fn up_to_marker(carol: &mut RawClient, to: &mut RawClient, marker: &str) -> Vec<Element> {
    let jid = to.jid.clone().unwrap_or_default();
    message(carol, &jid, marker, marker).await;
    to.until(&format!("marker {marker}"), |e| e.name == "message" && body(e) == marker).await
}

fn from_user(seen: &[Element], user: &str) -> Vec<String> {
    let prefix = format!("{user}@localhost");
    seen.iter().filter(|e| e.attr("from").is_some_and(|f| f.starts_with(&prefix))).map(Element::to_string).collect()
}

#[tokio::test]
async fn blocking_a_contact_stops_traffic_both_ways_until_unblocked() {
    let s = start();
    let mut alice = online(&s, "alice", "a1", 5).await;
    let mut alice2 = online(&s, "alice", "a2", 0).await;
    let mut alice3 = online(&s, "alice", "a3", 0).await;
    let mut bob = online(&s, "bob", "b1", 0).await;
    let mut carol = online(&s, "carol", "c1", 0).await;

    // §3.1: the server says it supports the protocol.
    let info = alice.iq("get", Some("localhost"), "<query xmlns='http://jabber.org/protocol/disco#info'/>").await;
    let features: Vec<&str> = info
        .child("query", "http://jabber.org/protocol/disco#info")
        .into_iter()
        .flat_map(|q| q.elements())
        .filter_map(|f| f.attr("var"))
        .collect();
    assert!(features.contains(&NS), "{info}");

    // a1 and a2 ask for the list (and so for pushes); a3 does not.
    assert!(blocklist(&mut alice).await.is_empty());
    assert!(blocklist(&mut alice2).await.is_empty());

    assert_result(&block(&mut alice, &["Bob@LocalHost"]).await);
    expect_push(&mut alice, "block", &["bob@localhost"]).await;
    expect_push(&mut alice2, "block", &["bob@localhost"]).await;
    assert_eq!(blocklist(&mut alice).await, ["bob@localhost"]);
    // Any push to a3 would have been queued before the answer to this.
    alice3.send(&format!("<iq type='get' id='a3-list'><blocklist xmlns='{NS}'/></iq>")).await;
    let seen = alice3.until("a3's list", |e| e.attr("id") == Some("a3-list")).await;
    assert!(seen.iter().all(|e| !is_push(e, "block")), "a3 got a push it never asked for: {seen:?}");

    // Bob's chat to alice bounces as if she were not there, and never arrives.
    message(&mut bob, "alice@localhost", "b-m1", "let me in").await;
    assert_error(&message_error(&mut bob, "b-m1").await, "service-unavailable");
    // Headlines and directed presence are dropped without a word; the chat
    // message after them is answered only once they were dealt with.
    bob.send("<message to='alice@localhost/a1' type='headline' id='b-h1'><body>headline</body></message>").await;
    bob.send("<presence to='alice@localhost'/>").await;
    bob.send("<presence to='alice@localhost' type='subscribe'/>").await;
    // Answers from him are dropped too, not bounced back to him.
    bob.send("<iq to='alice@localhost/a1' type='result' id='b-r1'/>").await;
    bob.send("<message to='alice@localhost/a1' type='error' id='b-e1'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>").await;
    message(&mut bob, "alice@localhost/a1", "b-m2", "full").await;
    assert_error(&message_error(&mut bob, "b-m2").await, "service-unavailable");
    // An iq to one of her resources is refused for her.
    let r = bob.iq("get", Some("alice@localhost/a1"), "<ping xmlns='urn:xmpp:ping'/>").await;
    assert_error(&r, "service-unavailable");
    let seen = up_to_marker(&mut carol, &mut alice, "m-carol-1").await;
    assert!(from_user(&seen, "bob").is_empty(), "bob's stanzas reached alice: {:?}", from_user(&seen, "bob"));
    assert!(seen.iter().any(|e| e.attr("id") == Some("m-carol-1")), "carol is not blocked");

    // Alice's own stanzas to bob are refused with the reason.
    message(&mut alice, "bob@localhost", "a-m1", "you won't see this").await;
    assert_blocked(&message_error(&mut alice, "a-m1").await);
    assert_blocked(&alice.iq("get", Some("bob@localhost/b1"), "<ping xmlns='urn:xmpp:ping'/>").await);
    alice.send("<presence to='bob@localhost'/>").await;
    // Her stanzas are handled in order: once this is answered, so was that.
    assert_result(&alice.iq("get", Some("localhost"), "<ping xmlns='urn:xmpp:ping'/>").await);
    let seen = up_to_marker(&mut carol, &mut bob, "m-carol-2").await;
    assert!(from_user(&seen, "alice").is_empty(), "alice's stanzas reached bob: {:?}", from_user(&seen, "alice"));

    // Her own resources still reach each other, bob and carol each other.
    message(&mut alice2, "alice@localhost/a1", "a2-m1", "to myself").await;
    assert_eq!(body(&alice.next_message().await), "to myself");
    message(&mut bob, "carol@localhost", "b-c1", "hi carol").await;
    assert_eq!(body(&carol.next_message().await), "hi carol");

    // Unblocking is pushed the same way and lets bob through again.
    assert_result(&unblock(&mut alice2, &["bob@localhost"]).await);
    expect_push(&mut alice, "unblock", &["bob@localhost"]).await;
    expect_push(&mut alice2, "unblock", &["bob@localhost"]).await;
    assert!(blocklist(&mut alice).await.is_empty());
    message(&mut bob, "alice@localhost", "b-m3", "friends again").await;
    assert_eq!(body(&alice.next_message().await), "friends again");
    message(&mut alice, "bob@localhost", "a-m2", "welcome back").await;
    assert_eq!(body(&bob.next_message().await), "welcome back");
}

#[tokio::test]
async fn unblock_all_and_domain_wide_blocks() {
    let s = start();
    let mut alice = online(&s, "alice", "a1", 0).await;
    let mut alice2 = online(&s, "alice", "a2", -1).await;
    let mut bob = online(&s, "bob", "b1", 0).await;
    let mut carol = online(&s, "carol", "c1", 0).await;
    assert!(blocklist(&mut alice).await.is_empty());

    // A remote domain: anything to it is refused before it is routed (this
    // server has no s2s, so it would otherwise be remote-server-not-found).
    assert_result(&block(&mut alice, &["evil.example", "carol@localhost"]).await);
    expect_push(&mut alice, "block", &["evil.example", "carol@localhost"]).await;
    message(&mut alice, "mallory@evil.example/x", "a-e1", "hello").await;
    assert_blocked(&message_error(&mut alice, "a-e1").await);
    assert_blocked(&alice.iq("get", Some("evil.example"), "<ping xmlns='urn:xmpp:ping'/>").await);
    message(&mut carol, "alice@localhost", "c-m1", "blocked").await;
    assert_error(&message_error(&mut carol, "c-m1").await, "service-unavailable");

    // §3.5: an empty <unblock/> empties the list.
    assert_result(&alice.iq("set", None, &format!("<unblock xmlns='{NS}'/>")).await);
    expect_push(&mut alice, "unblock", &[]).await;
    assert!(blocklist(&mut alice).await.is_empty());
    message(&mut alice, "mallory@evil.example", "a-e2", "hello").await;
    assert_error(&message_error(&mut alice, "a-e2").await, "remote-server-not-found");
    message(&mut carol, "alice@localhost", "c-m2", "unblocked").await;
    assert_eq!(body(&alice.next_message().await), "unblocked");

    // Her own domain: every other account on it is blocked, while her own
    // resources and the server itself stay reachable.
    assert_result(&block(&mut alice, &["localhost"]).await);
    expect_push(&mut alice, "block", &["localhost"]).await;
    for (c, id) in [(&mut bob, "b-d1"), (&mut carol, "c-d1")] {
        message(c, "alice@localhost", id, "domain").await;
        assert_error(&message_error(c, id).await, "service-unavailable");
    }
    message(&mut alice, "bob@localhost", "a-d1", "domain").await;
    assert_blocked(&message_error(&mut alice, "a-d1").await);
    assert_result(&alice.iq("get", Some("localhost"), "<ping xmlns='urn:xmpp:ping'/>").await);
    message(&mut alice2, "alice@localhost/a1", "a2-d1", "still me").await;
    assert_eq!(body(&alice.next_message().await), "still me");
    assert_eq!(blocklist(&mut alice2).await, ["localhost"]);
}

#[tokio::test]
async fn a_full_jid_block_covers_only_that_resource() {
    let s = start();
    let mut alice = online(&s, "alice", "a1", 0).await;
    let mut phone = online(&s, "bob", "phone", 0).await;
    let mut laptop = online(&s, "bob", "laptop", 0).await;

    assert_result(&block(&mut alice, &["bob@localhost/phone"]).await);
    message(&mut phone, "alice@localhost", "p1", "from the phone").await;
    assert_error(&message_error(&mut phone, "p1").await, "service-unavailable");
    message(&mut laptop, "alice@localhost", "l1", "from the laptop").await;
    assert_eq!(body(&alice.next_message().await), "from the laptop");

    message(&mut alice, "bob@localhost/phone", "a1", "to the phone").await;
    assert_blocked(&message_error(&mut alice, "a1").await);
    message(&mut alice, "bob@localhost/laptop", "a2", "to the laptop").await;
    assert_eq!(body(&laptop.next_message().await), "to the laptop");
}

#[tokio::test]
async fn bad_requests_are_refused_and_change_nothing() {
    let s = start();
    let mut alice = online(&s, "alice", "a1", 0).await;
    let mut bob = online(&s, "bob", "b1", 0).await;
    assert_result(&block(&mut alice, &["carol@localhost"]).await);

    // §3.3: a block needs at least one item.
    assert_error(&block(&mut alice, &[]).await, "bad-request");
    // One unreadable JID refuses the whole request.
    for bad in ["bob@localhost@x", "@localhost", "bob@", "bob@localhost/", "bo b@localhost", ""] {
        let r = block(&mut alice, &["bob@localhost", bad]).await;
        assert_error(&r, "jid-malformed");
        assert_error(&unblock(&mut alice, &[bad]).await, "jid-malformed");
    }
    let r = alice.iq("set", None, &format!("<block xmlns='{NS}'><item/></block>")).await;
    assert_error(&r, "jid-malformed");
    // Requests of the wrong type or element.
    assert_error(&alice.iq("set", None, &format!("<blocklist xmlns='{NS}'/>")).await, "bad-request");
    assert_error(
        &alice.iq("get", None, &format!("<block xmlns='{NS}'>{}</block>", items(&["x@y"]))).await,
        "bad-request",
    );
    assert_error(&alice.iq("get", None, &format!("<nonsense xmlns='{NS}'/>")).await, "bad-request");

    // Nobody reads or edits another account's list.
    let r = bob.iq("set", Some("alice@localhost"), &format!("<unblock xmlns='{NS}'/>")).await;
    assert_error(&r, "forbidden");
    let r = bob.iq("get", Some("alice@localhost"), &format!("<blocklist xmlns='{NS}'/>")).await;
    assert_error(&r, "forbidden");

    // Nothing above changed the list, and the server still serves.
    assert_eq!(blocklist(&mut alice).await, ["carol@localhost"]);
    assert!(blocklist(&mut bob).await.is_empty());
    assert_result(&bob.iq("get", Some("localhost"), "<ping xmlns='urn:xmpp:ping'/>").await);
}

#[tokio::test]
async fn the_blocklist_survives_a_restart() {
    let mut s = start();
    {
        let mut alice = online(&s, "alice", "a1", 0).await;
        assert_result(&block(&mut alice, &["bob@localhost", "example.net"]).await);
    }
    s.terminate();
    s.launch();
    let mut alice = online(&s, "alice", "a1", 0).await;
    let mut bob = online(&s, "bob", "b1", 0).await;
    // The first stanza after the restart is filtered: nothing in memory
    // survived, the stored list decides.
    message(&mut bob, "alice@localhost", "b-r1", "after restart").await;
    assert_error(&message_error(&mut bob, "b-r1").await, "service-unavailable");
    let mut list = blocklist(&mut alice).await;
    list.sort();
    assert_eq!(list, ["bob@localhost", "example.net"]);
}

#[tokio::test]
async fn a_deleted_account_takes_its_blocklist_along() {
    let s = start();
    let mut alice = online(&s, "alice", "a1", 0).await;
    assert_result(&block(&mut alice, &["bob@localhost"]).await);
    alice.close().await;
    let out = s.cli(&["user", "del", "alice@localhost"]);
    assert!(out.status.success(), "user del: {}", String::from_utf8_lossy(&out.stderr));
    s.add_user("alice@localhost", PW);

    // The event that clears the list comes from another task of the server:
    // wait for it, as long as the harness waits for anything.
    let mut alice = online(&s, "alice", "a1", 0).await;
    let deadline = tokio::time::Instant::now() + waxwing_tests::TIMEOUT;
    while !blocklist(&mut alice).await.is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "the new alice inherited the old one's blocklist");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let mut bob = online(&s, "bob", "b1", 0).await;
    message(&mut bob, "alice@localhost", "b-n1", "hello, new alice").await;
    assert_eq!(body(&alice.next_message().await), "hello, new alice");
}

/// Logged in on `resource`, with the roster asked for (RFC 6121 §2.2: the
/// resources that did are the ones that take part in subscriptions) and
/// available.
async fn with_roster(s: &Server, user: &str, resource: &str) -> RawClient {
    let mut c = RawClient::login_with(s, &format!("{user}@localhost"), PW, Mech::ScramSha256, Some(resource)).await;
    assert_result(&c.iq("get", None, "<query xmlns='jabber:iq:roster'/>").await);
    c.available(0).await;
    c
}

/// `from` asks for `to`'s presence and `to` approves.
async fn subscribe(from: &mut RawClient, from_user: &str, to: &mut RawClient, to_user: &str) {
    from.send(&format!("<presence type='subscribe' to='{to_user}@localhost'/>")).await;
    to.next_where("a subscription request", |e| e.attr("type") == Some("subscribe")).await;
    to.send(&format!("<presence type='subscribed' to='{from_user}@localhost'/>")).await;
    from.next_where("the approval", |e| e.name == "presence" && e.attr("type") == Some("subscribed")).await;
}

fn status(e: &Element) -> Option<String> {
    e.child("status", "jabber:client").map(Element::text)
}

/// With the roster plugin loaded too, its presence broadcast (a plugin's
/// send, not a client's) passes this filter like anything else.
#[tokio::test]
async fn a_blocked_subscriber_gets_no_presence_broadcast() {
    let s = start_with(&[("ping", ""), ("roster", ""), ("blocking", "")]);
    let mut alice = with_roster(&s, "alice", "a").await;
    let mut bob = with_roster(&s, "bob", "b").await;
    let mut carol = with_roster(&s, "carol", "c").await;
    subscribe(&mut bob, "bob", &mut alice, "alice").await;
    subscribe(&mut carol, "carol", &mut alice, "alice").await;
    up_to_marker(&mut carol, &mut bob, "before").await;

    assert_result(&block(&mut alice, &["bob@localhost"]).await);
    alice.send("<presence><status>blocked bob</status></presence>").await;
    bob.send("<presence type='probe' to='alice@localhost'/>").await;
    // Each session's stanzas are handled in order: once these pings are
    // answered, the broadcast and the probe above were dealt with.
    assert_result(&alice.iq("get", Some("localhost"), "<ping xmlns='urn:xmpp:ping'/>").await);
    bob.send("<iq type='get' id='bob-sync' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>").await;
    let mut seen = bob.until("bob's ping", |e| e.attr("id") == Some("bob-sync")).await;
    let got = carol.until("alice's new presence", |e| status(e).as_deref() == Some("blocked bob")).await;
    assert_eq!(got.last().and_then(|e| e.attr("from")), Some("alice@localhost/a"));
    seen.extend(up_to_marker(&mut carol, &mut bob, "after").await);
    // All bob heard of her is that she went away (XEP-0191 §3.3).
    let from_alice = from_user(&seen, "alice");
    assert_eq!(from_alice.len(), 1, "alice's presence reached bob: {from_alice:?}");
    assert!(seen.iter().any(|e| e.attr("from") == Some("alice@localhost/a") && e.attr("type") == Some("unavailable")));

    // Unblocked, he gets her current presence back, then her next one.
    assert_result(&unblock(&mut alice, &["bob@localhost"]).await);
    alice.send("<presence><status>unblocked bob</status></presence>").await;
    for expected in ["blocked bob", "unblocked bob"] {
        let p = bob
            .next_where("alice's presence", |e| e.name == "presence" && e.attr("from") == Some("alice@localhost/a"))
            .await;
        assert_eq!(status(&p).as_deref(), Some(expected), "{p}");
    }
}

/// XEP-0191 §3.3 and §3.4: a contact subscribed to the user's presence sees
/// the user go offline when blocked and come back when unblocked, from the
/// blocking plugin itself (the roster's dataset says who is subscribed).
#[tokio::test]
async fn blocking_a_subscribed_contact_sends_unavailable_and_unblocking_restores_presence() {
    let s = start_with(&[("ping", ""), ("roster", ""), ("blocking", "")]);
    let mut alice = with_roster(&s, "alice", "a").await;
    let mut bob = with_roster(&s, "bob", "b").await;
    subscribe(&mut alice, "alice", &mut bob, "bob").await;
    subscribe(&mut bob, "bob", &mut alice, "alice").await;
    alice.send("<presence><show>away</show><status>reading</status></presence>").await;
    bob.next_where("alice's presence", |e| status(e).as_deref() == Some("reading")).await;
    alice.drain().await;

    assert_result(&block(&mut alice, &["bob@localhost"]).await);
    let p = bob
        .next_where("alice's presence after the block", |e| {
            e.name == "presence" && e.attr("from") == Some("alice@localhost/a")
        })
        .await;
    assert_eq!(p.attr("type"), Some("unavailable"), "{p}");

    assert_result(&unblock(&mut alice, &["bob@localhost"]).await);
    let p = bob
        .next_where("alice's presence after the unblock", |e| {
            e.name == "presence" && e.attr("from") == Some("alice@localhost/a")
        })
        .await;
    assert_eq!(p.attr("type"), None, "available again: {p}");
    assert_eq!(p.child("show", "jabber:client").map(Element::text).as_deref(), Some("away"), "{p}");
    assert_eq!(status(&p).as_deref(), Some("reading"), "{p}");
    s.assert_no_plugin_failures();
}
