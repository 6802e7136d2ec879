//! XEP-0160 offline messages through the `offline` plugin
//! (`plugins/offline`): what is kept for an account with no available
//! resource, how and when it is handed over, the quota, durability across a
//! restart, and what is refused.

use waxwing_tests::server::vhost_with_plugins;
use waxwing_tests::{Element, Mech, RawClient, Server, body, stanza_error_condition, stanza_error_type};

const PW: &str = "offline-pw";
const DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";
const DELAY: &str = "urn:xmpp:delay";

/// A server with the built-in disco and the offline plugin (with `config`,
/// TOML lines for its config table), and alice and bob.
fn start(config: &str) -> Server {
    Server::start_with_localhost_users(
        &vhost_with_plugins(&[("disco", ""), ("offline", config)]),
        &["alice", "bob"],
        PW,
    )
}

async fn login(s: &Server, user: &str, resource: &str) -> RawClient {
    RawClient::login_with(s, &format!("{user}@localhost"), PW, Mech::ScramSha256, Some(resource)).await
}

fn messages(elements: Vec<Element>) -> Vec<Element> {
    elements.into_iter().filter(|e| e.name == "message").collect()
}

async fn chat(c: &mut RawClient, to: &str, id: &str, inner: &str) {
    c.send(&format!("<message to='{to}' id='{id}' type='chat'>{inner}</message>")).await;
}

/// Asserts `m` is a stored message handed over: from its original sender,
/// to the session, with an XEP-0203 stamp from the host.
fn assert_redelivered(m: &Element, from: &str, to: &str, id: &str, text: &str) {
    assert_eq!(m.attr("from"), Some(from), "{m}");
    assert_eq!(m.attr("to"), Some(to), "{m}");
    assert_eq!(m.attr("id"), Some(id), "{m}");
    assert_eq!(body(m), text, "{m}");
    let delay = m.child("delay", DELAY).unwrap_or_else(|| panic!("no <delay/>: {m}"));
    assert_eq!(delay.attr("from"), Some("localhost"), "{m}");
    let stamp = delay.attr("stamp").unwrap_or_else(|| panic!("no stamp: {m}"));
    // XEP-0082 DateTime in UTC: 2024-01-02T03:04:05.678Z.
    assert!(stamp.len() == 24 && stamp.ends_with('Z') && stamp.as_bytes()[10] == b'T', "stamp {stamp:?} in {m}");
}

#[tokio::test]
async fn stored_messages_reach_the_first_available_resource_once_and_in_order() {
    let s = start("");
    let _log = s.log_on_panic();
    let mut alice = login(&s, "alice", "a1").await;
    let from = "alice@localhost/a1";
    chat(&mut alice, "bob@localhost", "m1", "<body>one</body>").await;
    chat(&mut alice, "bob@localhost", "m2", "<body>two</body><request xmlns='urn:xmpp:receipts'/>").await;
    chat(&mut alice, "bob@localhost", "m3", "<composing xmlns='http://jabber.org/protocol/chatstates'/>").await;
    // Nothing came back to alice: all three were taken, none refused.
    assert_eq!(messages(alice.drain().await), Vec::<Element>::new());

    let mut bob = login(&s, "bob", "phone").await;
    // Bound but not yet available: nothing yet.
    assert_eq!(messages(bob.drain().await), Vec::<Element>::new());
    bob.available(0).await;
    let got = messages(bob.drain().await);
    assert_eq!(got.len(), 2, "exactly the two storable messages: {got:?}");
    assert_redelivered(&got[0], from, "bob@localhost/phone", "m1", "one");
    assert_redelivered(&got[1], from, "bob@localhost/phone", "m2", "two");
    assert!(got[1].child("request", "urn:xmpp:receipts").is_some(), "the receipt request is kept: {}", got[1]);

    // A second resource later: the backlog is gone.
    let mut laptop = login(&s, "bob", "laptop").await;
    laptop.available(0).await;
    assert_eq!(messages(laptop.drain().await), Vec::<Element>::new());
    // And a presence update of the first session does not replay anything.
    bob.available(2).await;
    assert_eq!(messages(bob.drain().await), Vec::<Element>::new());
}

#[tokio::test]
async fn the_quota_refuses_with_resource_constraint_from_the_recipient() {
    let s = start("max_messages_per_user = 2");
    let _log = s.log_on_panic();
    let mut alice = login(&s, "alice", "a1").await;
    for (id, text) in [("q1", "one"), ("q2", "two"), ("q3", "three")] {
        chat(&mut alice, "bob@localhost", id, &format!("<body>{text}</body>")).await;
    }
    let back = messages(alice.drain().await);
    assert_eq!(back.len(), 1, "one refusal: {back:?}");
    let err = &back[0];
    assert_eq!(err.attr("type"), Some("error"), "{err}");
    assert_eq!(err.attr("id"), Some("q3"), "{err}");
    assert_eq!(err.attr("from"), Some("bob@localhost"), "{err}");
    assert_eq!(stanza_error_condition(err).as_deref(), Some("resource-constraint"), "{err}");
    assert_eq!(stanza_error_type(err).as_deref(), Some("wait"), "{err}");

    let mut bob = login(&s, "bob", "b1").await;
    bob.available(0).await;
    let got = messages(bob.drain().await);
    assert_eq!(got.iter().map(body).collect::<Vec<_>>(), ["one", "two"], "{got:?}");

    // Delivery emptied the store, so the quota starts over.
    bob.send("<presence type='unavailable'/>").await;
    bob.drain().await;
    chat(&mut alice, "bob@localhost", "q4", "<body>four</body>").await;
    assert_eq!(messages(alice.drain().await), Vec::<Element>::new());
}

#[tokio::test]
async fn stored_messages_survive_a_restart() {
    let mut s = start("");
    let log = s.log_on_panic();
    let mut alice = login(&s, "alice", "a1").await;
    chat(&mut alice, "bob@localhost", "r1", "<body>before</body>").await;
    chat(&mut alice, "bob@localhost", "r2", "<body>the restart</body>").await;
    assert_eq!(messages(alice.drain().await), Vec::<Element>::new());
    drop(log);
    assert!(s.terminate().success(), "{}", s.log_tail(40));

    s.launch();
    let _log = s.log_on_panic();
    let mut bob = login(&s, "bob", "b1").await;
    bob.available(0).await;
    let got = messages(bob.drain().await);
    assert_eq!(got.len(), 2, "{got:?}");
    assert_redelivered(&got[0], "alice@localhost/a1", "bob@localhost/b1", "r1", "before");
    assert_redelivered(&got[1], "alice@localhost/a1", "bob@localhost/b1", "r2", "the restart");
}

#[tokio::test]
async fn negative_priority_keeps_messages_stored_until_the_priority_rises() {
    let s = start("");
    let _log = s.log_on_panic();
    let mut bob = login(&s, "bob", "b1").await;
    bob.available(-1).await;
    let mut alice = login(&s, "alice", "a1").await;
    // With only a negative-priority resource the message is stored, not delivered.
    chat(&mut alice, "bob@localhost", "n1", "<body>later</body>").await;
    assert_eq!(messages(alice.drain().await), Vec::<Element>::new());
    assert_eq!(messages(bob.drain().await), Vec::<Element>::new());
    bob.available(-5).await;
    assert_eq!(messages(bob.drain().await), Vec::<Element>::new());

    bob.available(1).await;
    let got = messages(bob.drain().await);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_redelivered(&got[0], "alice@localhost/a1", "bob@localhost/b1", "n1", "later");
}

#[tokio::test]
async fn errors_headlines_groupchat_and_no_store_hints_are_not_stored() {
    let s = start("");
    let _log = s.log_on_panic();
    let mut alice = login(&s, "alice", "a1").await;
    alice.send("<message to='bob@localhost' id='e1' type='error'><body>x</body></message>").await;
    alice.send("<message to='bob@localhost' id='h1' type='headline'><body>news</body></message>").await;
    alice.send("<message to='bob@localhost' id='g1' type='groupchat'><body>room</body></message>").await;
    chat(&mut alice, "bob@localhost", "s1", "<body>secret</body><no-store xmlns='urn:xmpp:hints'/>").await;
    chat(&mut alice, "bob@localhost", "s2", "<body>secret</body><no-permanent-store xmlns='urn:xmpp:hints'/>").await;
    let back = messages(alice.drain().await);
    let refused: Vec<(Option<&str>, Option<String>)> =
        back.iter().map(|m| (m.attr("id"), stanza_error_condition(m))).collect();
    // groupchat to an account is refused by the kernel; the hinted ones by
    // the plugin, as a server without storage would.
    assert_eq!(
        refused,
        [
            (Some("g1"), Some("service-unavailable".into())),
            (Some("s1"), Some("service-unavailable".into())),
            (Some("s2"), Some("service-unavailable".into())),
        ],
        "{back:?}"
    );

    let mut bob = login(&s, "bob", "b1").await;
    bob.available(0).await;
    assert_eq!(messages(bob.drain().await), Vec::<Element>::new());
}

#[tokio::test]
async fn a_message_to_a_missing_account_is_still_refused() {
    let s = start("");
    let _log = s.log_on_panic();
    let mut alice = login(&s, "alice", "a1").await;
    chat(&mut alice, "nobody@localhost", "x1", "<body>hello?</body>").await;
    let back = messages(alice.drain().await);
    assert_eq!(back.len(), 1, "{back:?}");
    assert_eq!(back[0].attr("id"), Some("x1"));
    assert_eq!(stanza_error_condition(&back[0]).as_deref(), Some("service-unavailable"), "{}", back[0]);
}

#[tokio::test]
async fn deleting_an_account_deletes_its_messages() {
    let s = start("");
    let _log = s.log_on_panic();
    let mut alice = login(&s, "alice", "a1").await;
    chat(&mut alice, "bob@localhost", "d1", "<body>for the old bob</body>").await;
    assert_eq!(messages(alice.drain().await), Vec::<Element>::new());
    let out = s.cli(&["user", "del", "bob@localhost"]);
    assert!(out.status.success(), "user del: {}", String::from_utf8_lossy(&out.stderr));
    let out = s.cli(&["user", "add", "bob@localhost", PW]);
    assert!(out.status.success(), "user add: {}", String::from_utf8_lossy(&out.stderr));

    let mut bob = login(&s, "bob", "b1").await;
    bob.available(0).await;
    assert_eq!(messages(bob.drain().await), Vec::<Element>::new());
}

#[tokio::test]
async fn disco_advertises_msgoffline_and_the_plugin_reports_no_failures() {
    let s = start("");
    let _log = s.log_on_panic();
    let mut alice = login(&s, "alice", "a1").await;
    let r = alice.iq("get", Some("localhost"), &format!("<query xmlns='{DISCO_INFO}'/>")).await;
    let features: Vec<&str> = r
        .child("query", DISCO_INFO)
        .into_iter()
        .flat_map(|q| q.elements())
        .filter(|e| e.name == "feature")
        .filter_map(|e| e.attr("var"))
        .collect();
    assert!(features.contains(&"msgoffline"), "{r}");

    // A stored round trip, then the log holds no plugin failure.
    chat(&mut alice, "bob@localhost", "ok1", "<body>fine</body>").await;
    alice.drain().await;
    let mut bob = login(&s, "bob", "b1").await;
    bob.available(0).await;
    assert_eq!(messages(bob.drain().await).len(), 1);
    s.assert_no_plugin_failures();
}

#[test]
fn a_bad_quota_refuses_the_load() {
    let mut s = Server::configure(&vhost_with_plugins(&[("offline", "max_messages_per_user = \"lots\"")]));
    let started = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| s.launch()));
    // Whether a refused plugin stops the server or only itself is the
    // kernel's call; either way the log must say why.
    if started.is_ok() {
        let _ = s.terminate();
    }
    assert!(s.log_text().contains("max_messages_per_user"), "{}", s.log_tail(40));
}
