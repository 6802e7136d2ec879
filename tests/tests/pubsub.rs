//! Publish-subscribe as the kernel serves it: the `pubsub` plugin on
//! pubsub.localhost and the `pep` plugin on every account, both on the
//! default vhost. Every bad request gets its error while the service keeps
//! serving; a publish to a thousand subscriptions is one plugin call whose
//! notifications all arrive; items outlive a restart. The client-side flows
//! are in tests/python/test_pubsub.py and test_pep.py (slixmpp).

use waxwing_tests::client::{stanza_error_condition, stanza_error_type};
use waxwing_tests::{Element, RawClient, Server};

const NS: &str = "http://jabber.org/protocol/pubsub";
const OWNER: &str = "http://jabber.org/protocol/pubsub#owner";
const EVENT: &str = "http://jabber.org/protocol/pubsub#event";
const ERRORS: &str = "http://jabber.org/protocol/pubsub#errors";
const SERVICE: &str = "pubsub.localhost";
const PW: &str = "pw-1234";
const DEFAULT_VHOST: &str = "[[vhost]]\ndomain = \"localhost\"\n";

async fn login(s: &Server, user: &str) -> RawClient {
    let mut c = RawClient::login(s, &format!("{user}@localhost"), PW).await;
    c.available(0).await;
    c
}

/// Condition, type and the pubsub#errors element, if any.
fn error_of(e: &Element) -> (String, String, String) {
    let app = e
        .child("error", "jabber:client")
        .and_then(|err| err.elements().find(|c| c.ns == ERRORS).map(|c| c.name.clone()))
        .unwrap_or_default();
    (stanza_error_condition(e).unwrap_or_default(), stanza_error_type(e).unwrap_or_default(), app)
}

/// A bad request: what it is, its iq type, `to`, payload, and the error it
/// must get (condition, type, pubsub#errors element or "").
type Case<'a> = (&'a str, &'a str, Option<&'a str>, String, (&'a str, &'a str, &'a str));

fn publish(node: &str, id: &str, text: &str) -> String {
    format!(
        "<pubsub xmlns='{NS}'><publish node='{node}'><item id='{id}'><entry xmlns='urn:example'>{text}</entry></item></publish></pubsub>"
    )
}

#[tokio::test]
async fn bad_requests_get_their_errors_and_the_service_keeps_serving() {
    let s = Server::start_with_localhost_users(DEFAULT_VHOST, &["alice", "bob"], PW);
    let _log = s.log_on_panic();
    let mut a = login(&s, "alice").await;
    let mut b = login(&s, "bob").await;
    let r = a.iq("set", Some(SERVICE), &format!("<pubsub xmlns='{NS}'><create node='news'/></pubsub>")).await;
    assert_eq!(r.attr("type"), Some("result"), "{r}");
    let form = |field: &str, value: &str| {
        format!("<x xmlns='jabber:x:data' type='submit'><field var='{field}'><value>{value}</value></field></x>")
    };
    let cases: Vec<Case> = vec![
        ("an empty pubsub", "set", Some(SERVICE), format!("<pubsub xmlns='{NS}'/>"), ("bad-request", "modify", "")),
        (
            "an unknown request",
            "set",
            Some(SERVICE),
            format!("<pubsub xmlns='{NS}'><frob/></pubsub>"),
            ("feature-not-implemented", "cancel", ""),
        ),
        ("a publish as a get", "get", Some(SERVICE), publish("news", "x", "y"), ("bad-request", "modify", "")),
        (
            "items without a node",
            "get",
            Some(SERVICE),
            format!("<pubsub xmlns='{NS}'><items/></pubsub>"),
            ("bad-request", "modify", "nodeid-required"),
        ),
        (
            "a subscription for a JID that is not one",
            "set",
            Some(SERVICE),
            format!("<pubsub xmlns='{NS}'><subscribe node='news' jid='@@'/></pubsub>"),
            ("bad-request", "modify", "invalid-jid"),
        ),
        (
            "a subscription for someone else",
            "set",
            Some(SERVICE),
            format!("<pubsub xmlns='{NS}'><subscribe node='news' jid='alice@localhost'/></pubsub>"),
            ("bad-request", "modify", "invalid-jid"),
        ),
        (
            "a node that is not there",
            "get",
            Some(SERVICE),
            format!("<pubsub xmlns='{NS}'><items node='none'/></pubsub>"),
            ("item-not-found", "cancel", ""),
        ),
        ("a publish to another's node", "set", Some(SERVICE), publish("news", "x", "y"), ("forbidden", "auth", "")),
        (
            "a config form with a bad value",
            "set",
            Some(SERVICE),
            format!(
                "<pubsub xmlns='{NS}'><create node='other'/><configure>{}</configure></pubsub>",
                form("pubsub#max_items", "lots")
            ),
            ("not-acceptable", "modify", ""),
        ),
        (
            "a config form that is no form",
            "set",
            Some(SERVICE),
            format!(
                "<pubsub xmlns='{NS}'><create node='other'/><configure><x xmlns='jabber:x:data' type='bogus'/></configure></pubsub>"
            ),
            ("bad-request", "modify", ""),
        ),
        (
            "a non-owner's configure",
            "get",
            Some(SERVICE),
            format!("<pubsub xmlns='{OWNER}'><configure node='news'/></pubsub>"),
            ("forbidden", "auth", ""),
        ),
        (
            "an iq to a user of the service",
            "get",
            Some("x@pubsub.localhost"),
            format!("<pubsub xmlns='{NS}'><items node='news'/></pubsub>"),
            ("service-unavailable", "cancel", ""),
        ),
        (
            "an unknown namespace",
            "get",
            Some(SERVICE),
            "<query xmlns='urn:example:none'/>".into(),
            ("service-unavailable", "cancel", ""),
        ),
        (
            "a publish to another account's PEP",
            "set",
            Some("alice@localhost"),
            publish("urn:example", "x", "y"),
            ("forbidden", "auth", ""),
        ),
        (
            "PEP of an account that does not exist",
            "get",
            Some("nobody@localhost"),
            format!("<pubsub xmlns='{NS}'><items node='n'/></pubsub>"),
            ("service-unavailable", "cancel", ""),
        ),
    ];
    for (what, ty, to, payload, want) in &cases {
        let reply = b.iq(ty, *to, payload).await;
        assert_eq!(reply.attr("type"), Some("error"), "{what}: {reply}");
        assert_eq!(error_of(&reply), (want.0.to_string(), want.1.to_string(), want.2.to_string()), "{what}: {reply}");
    }
    // A message to the service that answers nothing it asked.
    b.send(&format!("<message to='{SERVICE}' id='m1'><body>hello?</body></message>")).await;
    let reply = b.next_where("the message's bounce", |e| e.attr("id") == Some("m1")).await;
    assert_eq!(error_of(&reply).0, "service-unavailable", "{reply}");
    // And it still serves: bob subscribes and hears of alice's publish.
    let r = b
        .iq(
            "set",
            Some(SERVICE),
            &format!("<pubsub xmlns='{NS}'><subscribe node='news' jid='bob@localhost'/></pubsub>"),
        )
        .await;
    assert_eq!(r.attr("type"), Some("result"), "{r}");
    let r = a.iq("set", Some(SERVICE), &publish("news", "i1", "still here")).await;
    assert_eq!(r.attr("type"), Some("result"), "{r}");
    let m = b.next_where("the notification", |e| e.name == "message").await;
    let item = m.child("event", EVENT).and_then(|e| e.child("items", EVENT)).and_then(|i| i.child("item", EVENT));
    assert_eq!(item.and_then(|i| i.attr("id")), Some("i1"), "{m}");
    s.assert_no_plugin_failures();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_to_a_thousand_subscriptions_reaches_every_one() {
    let s = Server::start_with_localhost_users(DEFAULT_VHOST, &["alice", "bob"], PW);
    let _log = s.log_on_panic();
    let mut a = login(&s, "alice").await;
    let mut b = login(&s, "bob").await;
    let r = a.iq("set", Some(SERVICE), &format!("<pubsub xmlns='{NS}'><create node='wide'/></pubsub>")).await;
    assert_eq!(r.attr("type"), Some("result"), "{r}");
    // A thousand subscriptions of bob's, each for a resource of its own: a
    // headline to a resource that is not online goes to his online ones
    // (RFC 6121 §8.5.3.2.1), so his one session hears each of them.
    for i in 0..1000 {
        b.send(&format!(
            "<iq type='set' id='s{i}' to='{SERVICE}'><pubsub xmlns='{NS}'><subscribe node='wide' jid='bob@localhost/r{i}'/></pubsub></iq>"
        ))
        .await;
    }
    let answers = b.until("the thousandth subscription", |e| e.attr("id") == Some("s999")).await;
    let failed: Vec<_> = answers.iter().filter(|e| e.attr("type") == Some("error")).collect();
    assert!(failed.is_empty(), "{failed:?}");
    let r = a.iq("set", Some(SERVICE), &publish("wide", "big", "to all")).await;
    assert_eq!(r.attr("type"), Some("result"), "{r}");
    let mut to = std::collections::BTreeSet::new();
    while to.len() < 1000 {
        let m = b.next_where("a notification", |e| e.name == "message").await;
        to.insert(m.attr("to").unwrap_or_default().to_string());
    }
    assert!(to.contains("bob@localhost/r0") && to.contains("bob@localhost/r999"), "{to:?}");
    s.assert_no_plugin_failures();
}

#[tokio::test]
async fn items_and_subscriptions_outlive_a_restart() {
    let mut s = Server::start_with_localhost_users(DEFAULT_VHOST, &["alice", "bob"], PW);
    {
        let _log = s.log_on_panic();
        let mut a = login(&s, "alice").await;
        let mut b = login(&s, "bob").await;
        a.iq("set", Some(SERVICE), &format!("<pubsub xmlns='{NS}'><create node='kept'/></pubsub>")).await;
        b.iq(
            "set",
            Some(SERVICE),
            &format!("<pubsub xmlns='{NS}'><subscribe node='kept' jid='bob@localhost'/></pubsub>"),
        )
        .await;
        let r = a.iq("set", Some(SERVICE), &publish("kept", "one", "before")).await;
        assert_eq!(r.attr("type"), Some("result"), "{r}");
        let r = a.iq("set", None, &publish("urn:example:status", "s", "mine")).await;
        assert_eq!(r.attr("type"), Some("result"), "PEP auto-creates: {r}");
    }
    s.terminate();
    s.launch();
    let _log = s.log_on_panic();
    let mut a = login(&s, "alice").await;
    let mut b = login(&s, "bob").await;
    let items = b.iq("get", Some(SERVICE), &format!("<pubsub xmlns='{NS}'><items node='kept'/></pubsub>")).await;
    assert!(items.to_string().contains("before"), "{items}");
    let mine = a.iq("get", None, &format!("<pubsub xmlns='{NS}'><items node='urn:example:status'/></pubsub>")).await;
    assert!(mine.to_string().contains("mine"), "{mine}");
    a.iq("set", Some(SERVICE), &publish("kept", "two", "after")).await;
    let m = b.next_where("the notification after the restart", |e| e.name == "message").await;
    assert!(m.to_string().contains("after"), "the subscription was kept: {m}");
}
