//! Routing (RFC 6120 §8, §10; RFC 6121 §8): full and bare JIDs, priorities,
//! the errors a server owes, presence among an account's own resources.

use std::sync::OnceLock;

use waxwing_tests::{Element, Mech, RawClient, Server, shared, stanza_error_condition, stanza_error_type};

const PW: &str = "routing-pw";

/// One account per role, so that tests running in parallel never share one.
const NAMES: &[&str] = &[
    "ann",
    "ben",
    "cat",
    "cat_sender",
    "dan",
    "dan_sender",
    "dora",
    "eve",
    "fay",
    "gus",
    "hal",
    "ivy",
    "jon",
    "kim",
    "lea",
    "max",
];

/// The kernel's own routing rules, as RFC 6120/6121 state them for a server
/// that stores nothing for offline accounts: the default plugins without
/// `offline` (tests/tests/offline.rs and passthrough.rs cover it loaded).
const KERNEL_RULES: &str = "[[vhost]]\ndomain = \"localhost\"\n\
    [[vhost.plugin]]\nname = \"disco\"\n[[vhost.plugin]]\nname = \"ping\"\n\
    [[vhost.plugin]]\nname = \"time\"\n[[vhost.plugin]]\nname = \"version\"\n";

fn server() -> &'static Server {
    static S: OnceLock<Server> = OnceLock::new();
    static USERS: OnceLock<Vec<(String, &'static str)>> = OnceLock::new();
    let users = USERS.get_or_init(|| NAMES.iter().map(|n| (format!("{n}@localhost"), PW)).collect());
    let users: Vec<(&str, &str)> = users.iter().map(|(j, p)| (j.as_str(), *p)).collect();
    shared(&S, KERNEL_RULES, &users)
}

async fn login(s: &Server, user: &str, resource: &str) -> RawClient {
    RawClient::login_with(s, user, PW, Mech::ScramSha256, Some(resource)).await
}

/// The next error stanza of `kind` answering `id`.
async fn error_reply(c: &mut RawClient, kind: &str, id: &str) -> Element {
    c.next_where(&format!("the error answering {kind} {id}"), |e| {
        e.name == kind && e.attr("type") == Some("error") && e.attr("id") == Some(id)
    })
    .await
}

#[tokio::test]
async fn message_full_to_full_both_ways() {
    let s = server();
    let _log = s.log_on_panic();
    let mut ann = login(s, "ann", "a1").await;
    let mut ben = login(s, "ben", "b1").await;
    ann.send("<message to='ben@localhost/b1' type='chat' id='m1'><body>hello ben &amp; co</body></message>").await;
    let m = ben.next_message().await;
    assert_eq!(m.attr("from"), Some("ann@localhost/a1"), "the server must stamp the sender's full JID: {m}");
    assert_eq!(m.attr("to"), Some("ben@localhost/b1"), "{m}");
    assert_eq!(m.attr("id"), Some("m1"), "{m}");
    assert_eq!(m.attr("type"), Some("chat"), "{m}");
    assert_eq!(waxwing_tests::body(&m), "hello ben & co");
    ben.send("<message to='ann@localhost/a1' type='chat' id='m2'><body>hi ann</body></message>").await;
    let m = ann.next_message().await;
    assert_eq!(m.attr("from"), Some("ben@localhost/b1"), "{m}");
    assert_eq!(waxwing_tests::body(&m), "hi ann");
}

#[tokio::test]
async fn message_to_bare_jid_goes_to_the_highest_priority_resource_only() {
    let s = server();
    let _log = s.log_on_panic();
    let mut high = login(s, "cat", "high").await;
    let mut low = login(s, "cat", "low").await;
    high.available(5).await;
    low.available(1).await;
    let mut sender = login(s, "cat_sender", "x").await;
    sender.send("<message to='cat@localhost' type='chat' id='bare1'><body>to the bare JID</body></message>").await;
    // Then a marker straight to the low-priority resource: it must be the
    // first message that resource sees, proving the bare one never reached it.
    sender.send("<message to='cat@localhost/low' type='chat' id='marker'><body>marker</body></message>").await;
    let m = high.next_message().await;
    assert_eq!(m.attr("id"), Some("bare1"), "{m}");
    assert_eq!(m.attr("from"), Some("cat_sender@localhost/x"), "{m}");
    let m = low.next_message().await;
    assert_eq!(m.attr("id"), Some("marker"), "the lower-priority resource got the bare-JID message: {m}");
}

#[tokio::test]
async fn message_to_bare_jid_goes_to_every_resource_of_equal_top_priority() {
    let s = server();
    let _log = s.log_on_panic();
    let mut one = login(s, "dan", "one").await;
    let mut two = login(s, "dan", "two").await;
    let mut three = login(s, "dan", "three").await;
    one.available(3).await;
    two.available(3).await;
    three.available(0).await;
    let mut sender = login(s, "dan_sender", "x").await;
    sender.send("<message to='dan@localhost' type='chat' id='both'><body>both of you</body></message>").await;
    sender.send("<message to='dan@localhost/three' type='chat' id='marker'><body>marker</body></message>").await;
    assert_eq!(one.next_message().await.attr("id"), Some("both"));
    assert_eq!(two.next_message().await.attr("id"), Some("both"));
    assert_eq!(three.next_message().await.attr("id"), Some("marker"));
}

#[tokio::test]
async fn message_to_an_unknown_user_is_service_unavailable() {
    let s = server();
    let _log = s.log_on_panic();
    let mut c = login(s, "eve", "e").await;
    c.send("<message to='nobody@localhost' type='chat' id='u1'><body>anyone?</body></message>").await;
    let e = error_reply(&mut c, "message", "u1").await;
    assert_eq!(stanza_error_condition(&e).as_deref(), Some("service-unavailable"), "{e}");
    assert_eq!(stanza_error_type(&e).as_deref(), Some("cancel"), "{e}");
    assert_eq!(e.attr("from"), Some("nobody@localhost"), "{e}");
    assert_eq!(e.attr("to"), Some("eve@localhost/e"), "{e}");
}

#[tokio::test]
async fn message_to_an_offline_known_user_is_service_unavailable() {
    let s = server();
    let _log = s.log_on_panic();
    let mut c = login(s, "eve", "e2").await;
    c.send("<message to='dora@localhost' type='chat' id='o1'><body>are you there?</body></message>").await;
    let e = error_reply(&mut c, "message", "o1").await;
    assert_eq!(stanza_error_condition(&e).as_deref(), Some("service-unavailable"), "{e}");
    // To an offline full JID of a known user, too.
    c.send("<message to='dora@localhost/gone' type='chat' id='o2'><body>hello?</body></message>").await;
    let e = error_reply(&mut c, "message", "o2").await;
    assert_eq!(stanza_error_condition(&e).as_deref(), Some("service-unavailable"), "{e}");
}

#[tokio::test]
async fn iq_get_with_zero_or_two_children_is_bad_request() {
    let s = server();
    let _log = s.log_on_panic();
    let mut c = login(s, "fay", "f").await;
    let e = c.iq("get", Some("localhost"), "").await;
    assert_eq!(e.attr("type"), Some("error"), "{e}");
    assert_eq!(stanza_error_condition(&e).as_deref(), Some("bad-request"), "{e}");
    let e = c.iq("get", Some("localhost"), "<ping xmlns='urn:xmpp:ping'/><ping xmlns='urn:xmpp:ping'/>").await;
    assert_eq!(e.attr("type"), Some("error"), "{e}");
    assert_eq!(stanza_error_condition(&e).as_deref(), Some("bad-request"), "{e}");
    assert_eq!(stanza_error_type(&e).as_deref(), Some("modify"), "{e}");
}

#[tokio::test]
async fn iq_in_an_unknown_namespace_to_the_server_is_service_unavailable() {
    let s = server();
    let _log = s.log_on_panic();
    let mut c = login(s, "fay", "f2").await;
    let e = c.iq("get", Some("localhost"), "<query xmlns='urn:example:nothing-here'/>").await;
    assert_eq!(e.attr("type"), Some("error"), "{e}");
    assert_eq!(stanza_error_condition(&e).as_deref(), Some("service-unavailable"), "{e}");
    assert_eq!(e.attr("from"), Some("localhost"), "{e}");
    let e = c.iq("set", Some("localhost"), "<query xmlns='urn:example:nothing-here'/>").await;
    assert_eq!(stanza_error_condition(&e).as_deref(), Some("service-unavailable"), "{e}");
}

#[tokio::test]
async fn iq_without_id_is_bad_request() {
    let s = server();
    let _log = s.log_on_panic();
    let mut c = login(s, "gus", "g").await;
    c.send("<iq type='get' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>").await;
    let e = c.next_where("an iq error", |e| e.name == "iq" && e.attr("type") == Some("error")).await;
    assert_eq!(stanza_error_condition(&e).as_deref(), Some("bad-request"), "{e}");
    // And an iq of an unknown type.
    let e = c.iq("fetch", Some("localhost"), "<ping xmlns='urn:xmpp:ping'/>").await;
    assert_eq!(stanza_error_condition(&e).as_deref(), Some("bad-request"), "{e}");
}

#[tokio::test]
async fn malformed_to_is_jid_malformed() {
    let s = server();
    let _log = s.log_on_panic();
    let mut c = login(s, "gus", "g2").await;
    c.send("<message to='@@bad' type='chat' id='jm1'><body>x</body></message>").await;
    let e = error_reply(&mut c, "message", "jm1").await;
    assert_eq!(stanza_error_condition(&e).as_deref(), Some("jid-malformed"), "{e}");
    let e = c.iq("get", Some("@@bad"), "<ping xmlns='urn:xmpp:ping'/>").await;
    assert_eq!(stanza_error_condition(&e).as_deref(), Some("jid-malformed"), "{e}");
}

#[tokio::test]
async fn remote_domain_is_remote_server_not_found() {
    let s = server();
    let _log = s.log_on_panic();
    let mut c = login(s, "hal", "h").await;
    c.send("<message to='someone@remote.example' type='chat' id='r1'><body>far away</body></message>").await;
    let e = error_reply(&mut c, "message", "r1").await;
    assert_eq!(stanza_error_condition(&e).as_deref(), Some("remote-server-not-found"), "{e}");
    let e = c.iq("get", Some("remote.example"), "<ping xmlns='urn:xmpp:ping'/>").await;
    assert_eq!(stanza_error_condition(&e).as_deref(), Some("remote-server-not-found"), "{e}");
}

#[tokio::test]
async fn iq_to_another_users_bare_jid_is_service_unavailable() {
    let s = server();
    let _log = s.log_on_panic();
    let mut c = login(s, "ivy", "i").await;
    // Whether or not that user is online, the server answers for the bare JID.
    let _jon = login(s, "jon", "j").await;
    let e = c.iq("get", Some("jon@localhost"), "<query xmlns='urn:example:nothing-here'/>").await;
    assert_eq!(e.attr("type"), Some("error"), "{e}");
    assert_eq!(stanza_error_condition(&e).as_deref(), Some("service-unavailable"), "{e}");
    let e = c.iq("get", Some("dora@localhost"), "<query xmlns='urn:example:nothing-here'/>").await;
    assert_eq!(stanza_error_condition(&e).as_deref(), Some("service-unavailable"), "{e}");
}

#[tokio::test]
async fn iq_between_full_jids_is_delivered_and_answered() {
    let s = server();
    let _log = s.log_on_panic();
    let mut ivy = login(s, "ivy", "i2").await;
    let mut jon = login(s, "jon", "j2").await;
    ivy.send("<iq type='get' id='q1' to='jon@localhost/j2'><query xmlns='urn:example:custom'/></iq>").await;
    let q = jon.next_where("the iq", |e| e.name == "iq").await;
    assert_eq!(q.attr("from"), Some("ivy@localhost/i2"), "{q}");
    jon.send("<iq type='result' id='q1' to='ivy@localhost/i2'/>").await;
    let r = ivy.next_where("the result", |e| e.name == "iq" && e.attr("id") == Some("q1")).await;
    assert_eq!(r.attr("type"), Some("result"), "{r}");
    assert_eq!(r.attr("from"), Some("jon@localhost/j2"), "{r}");
}

#[tokio::test]
async fn presence_is_reflected_and_disconnect_sends_unavailable() {
    let s = server();
    let _log = s.log_on_panic();
    let mut stays = login(s, "kim", "stays").await;
    stays.available(0).await;
    let mut leaves = login(s, "kim", "leaves").await;
    leaves.send("<presence><show>away</show></presence>").await;
    // The sender sees its own presence ...
    let own = leaves.next_where("own presence", |e| e.name == "presence").await;
    assert_eq!(own.attr("from"), Some("kim@localhost/leaves"), "{own}");
    // ... and so does the account's other available resource.
    let seen = stays.next_where("the other resource's presence", |e| e.name == "presence").await;
    assert_eq!(seen.attr("from"), Some("kim@localhost/leaves"), "{seen}");
    assert_eq!(seen.attr("to"), Some("kim@localhost/stays"), "{seen}");
    assert_eq!(seen.child("show", "jabber:client").map(|s| s.text()).as_deref(), Some("away"), "{seen}");
    // Closing the stream makes the server announce the resource unavailable.
    leaves.close().await;
    let gone = stays.next_where("unavailable presence", |e| e.name == "presence").await;
    assert_eq!(gone.attr("type"), Some("unavailable"), "{gone}");
    assert_eq!(gone.attr("from"), Some("kim@localhost/leaves"), "{gone}");
}

#[tokio::test]
async fn groupchat_message_to_a_bare_jid_is_service_unavailable() {
    let s = server();
    let _log = s.log_on_panic();
    let mut c = login(s, "hal", "h2").await;
    c.send("<message to='dora@localhost' type='groupchat' id='gc1'><body>room?</body></message>").await;
    let e = error_reply(&mut c, "message", "gc1").await;
    assert_eq!(stanza_error_condition(&e).as_deref(), Some("service-unavailable"), "{e}");
}

#[tokio::test]
async fn addresses_are_prepared_and_text_survives_intact() {
    let s = server();
    let _log = s.log_on_panic();
    let mut ann = login(s, "ann", "prep").await;
    let mut ben = login(s, "ben", "prep").await;
    // Localpart and domain are case-insensitive; the resource is not.
    let text = "ünïcödé ✓ 𝄞 😀 <&> \"quotes\" 'apos'";
    let escaped = waxwing_xml::escape_text(text);
    ann.send(&format!("<message to='BEN@LocalHost/prep' type='chat' id='p1'><body>{escaped}</body></message>")).await;
    let m = ben.next_message().await;
    assert_eq!(m.attr("id"), Some("p1"), "{m}");
    assert_eq!(waxwing_tests::body(&m), text);
    // A resource differing in case is another resource: offline, so the message errors... or goes to the bare JID.
    ann.send("<message to='ben@localhost/PREP' type='chat' id='p2'><body>x</body></message>").await;
    // ben has sent no presence, so the bare-JID fallback finds no available resource.
    let e = error_reply(&mut ann, "message", "p2").await;
    assert_eq!(stanza_error_condition(&e).as_deref(), Some("service-unavailable"), "{e}");
}

#[tokio::test]
async fn from_set_to_own_bare_jid_is_stamped_with_the_full_jid() {
    let s = server();
    let _log = s.log_on_panic();
    let mut ann = login(s, "ann", "own").await;
    let mut ben = login(s, "ben", "own").await;
    ann.send("<message from='ann@localhost' to='ben@localhost/own' type='chat' id='f1'><body>x</body></message>").await;
    let m = ben.next_message().await;
    assert_eq!(m.attr("from"), Some("ann@localhost/own"), "{m}");
}

#[tokio::test]
async fn many_pipelined_messages_arrive_complete_and_in_order() {
    let s = server();
    let _log = s.log_on_panic();
    let mut ann = login(s, "ann", "burst").await;
    let mut ben = login(s, "ben", "burst").await;
    const N: usize = 500;
    let burst: String = (0..N)
        .map(|i| {
            format!("<message to='ben@localhost/burst' type='chat' id='b{i}'><body>message number {i}</body></message>")
        })
        .collect();
    ann.send(&burst).await;
    for i in 0..N {
        let m = ben.next_message().await;
        assert_eq!(m.attr("id"), Some(format!("b{i}").as_str()), "{m}");
        assert_eq!(waxwing_tests::body(&m), format!("message number {i}"));
    }
}

#[tokio::test]
async fn results_and_errors_are_never_answered() {
    // RFC 6120 §8.3.1: no error in reply to an error; an unsolicited result is ignored.
    let s = server();
    let _log = s.log_on_panic();
    let mut c = login(s, "gus", "quiet").await;
    c.send("<iq type='result' id='unsolicited' to='localhost'/>").await;
    c.send("<iq type='error' id='err1' to='localhost'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>").await;
    c.send("<message type='error' id='err2' to='nobody@localhost'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>").await;
    c.send("<message type='error' id='err3' to='someone@remote.example'/>").await;
    // The next thing the server says must be the answer to this ping.
    c.send("<iq type='get' id='marker' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>").await;
    let first = c.next_element().await;
    assert_eq!(first.attr("id"), Some("marker"), "the server answered a result or an error: {first}");
}

#[tokio::test]
async fn a_dropped_connection_announces_unavailable() {
    let s = server();
    let _log = s.log_on_panic();
    let mut stays = login(s, "kim", "stays2").await;
    stays.available(0).await;
    let mut drops = login(s, "kim", "drops").await;
    drops.available(0).await;
    let seen = stays.next_where("the other's presence", |e| e.name == "presence").await;
    assert_eq!(seen.attr("from"), Some("kim@localhost/drops"), "{seen}");
    // No </stream:stream>: the TCP connection just goes away.
    drop(drops);
    let gone = stays.next_where("unavailable presence", |e| e.name == "presence").await;
    assert_eq!(gone.attr("type"), Some("unavailable"), "{gone}");
    assert_eq!(gone.attr("from"), Some("kim@localhost/drops"), "{gone}");
}

#[tokio::test]
async fn iq_to_an_offline_full_jid_is_service_unavailable() {
    let s = server();
    let _log = s.log_on_panic();
    let mut c = login(s, "jon", "asks").await;
    let e = c.iq("get", Some("dora@localhost/nowhere"), "<query xmlns='urn:example:custom'/>").await;
    assert_eq!(stanza_error_condition(&e).as_deref(), Some("service-unavailable"), "{e}");
}

#[tokio::test]
async fn ping_without_to_is_answered_for_the_account() {
    // RFC 6120 §10.3.3: no 'to' means the server answers on the account's behalf;
    // XEP-0199 pings that way are common.
    let s = server();
    let _log = s.log_on_panic();
    let mut c = login(s, "jon", "pings").await;
    let r = c.iq("get", None, "<ping xmlns='urn:xmpp:ping'/>").await;
    assert_eq!(r.attr("type"), Some("result"), "{r}");
}

#[tokio::test]
async fn presence_probes_never_reach_clients() {
    let s = server();
    let _log = s.log_on_panic();
    let mut lea = login(s, "lea", "l1").await;
    lea.available(0).await;
    let mut max = login(s, "max", "m1").await;
    max.send("<presence to='lea@localhost' type='probe' id='probe-bare'/>").await;
    max.send("<presence to='lea@localhost/l1' type='probe' id='probe-full'/>").await;
    // Directed presence does arrive; if a probe had been delivered it would come first.
    max.send("<presence to='lea@localhost/l1' id='marker'/>").await;
    let p = lea.next_where("the marker presence", |e| e.name == "presence").await;
    assert_eq!(p.attr("id"), Some("marker"), "a probe reached the client: {p}");
}
