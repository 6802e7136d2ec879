//! Server-to-server (RFC 6120, XEP-0220, XEP-0178) between two Waxwing
//! servers on loopback, found through static routes: users of one add,
//! see and message users of the other; what cannot be delivered bounces
//! with the right error.

use std::net::SocketAddr;
use std::time::Duration;

use waxwing_tests::{Element, Mech, RawClient, Server, body, stanza_error_condition};

const PW: &str = "s2s-pw";

/// An address nobody listens on yet, for a server's config before it starts
/// (the peer's route must name it).
pub fn free_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("binding an ephemeral port");
    l.local_addr().expect("its address")
}

/// A server for `domain` with an s2s listener at `own` and a route to each
/// `(peer domain, address)`.
fn federated(domain: &str, own: SocketAddr, peers: &[(&str, SocketAddr)], s2s_extra: &str, extra: &str) -> Server {
    let routes: Vec<String> = peers.iter().map(|(d, a)| format!("\"{d}\" = \"{a}\"")).collect();
    let timeout = if s2s_extra.contains("connect_timeout_secs") { "" } else { "connect_timeout_secs = 5" };
    let mut s = Server::configure_listening(
        &format!("s2s = [\"{own}\"]"),
        &format!(
            "[s2s]\nroutes = {{ {} }}\n{timeout}\n{s2s_extra}\n{extra}\n[[vhost]]\ndomain = \"{domain}\"\n",
            routes.join(", ")
        ),
    );
    s.launch();
    s
}

/// Two federated servers, a.test and b.test, with one user each.
fn pair(s2s_extra_a: &str, s2s_extra_b: &str) -> (Server, Server) {
    let (pa, pb) = (free_addr(), free_addr());
    let a = federated("a.test", pa, &[("b.test", pb)], s2s_extra_a, "");
    let b = federated("b.test", pb, &[("a.test", pa)], s2s_extra_b, "");
    a.add_user("alice@a.test", PW);
    b.add_user("bob@b.test", PW);
    (a, b)
}

async fn login(server: &Server, jid: &str) -> RawClient {
    let domain = jid.split('@').nth(1).expect("a bare JID");
    let mut c = RawClient::connect_to(server.c2s_addr(), &server.cert_of(domain)).await;
    c.authenticate_and_bind(jid, PW, Mech::ScramSha256, Some("t")).await;
    c
}

fn is_presence(e: &Element, ty: Option<&str>, from_bare: &str) -> bool {
    e.name == "presence"
        && e.attr("type") == ty
        && e.attr("from").is_some_and(|f| f.split('/').next() == Some(from_bare))
}

#[tokio::test]
async fn users_of_two_servers_subscribe_see_presence_and_chat() {
    let (a, b) = pair("", "");
    let _la = a.log_on_panic();
    let _lb = b.log_on_panic();
    let mut alice = login(&a, "alice@a.test").await;
    let mut bob = login(&b, "bob@b.test").await;
    alice.available(0).await;
    bob.available(0).await;

    // alice asks; bob's server hands bob the request across s2s.
    alice.send("<presence to='bob@b.test' type='subscribe'/>").await;
    bob.next_where("alice's subscription request", |e| is_presence(e, Some("subscribe"), "alice@a.test")).await;
    bob.send("<presence to='alice@a.test' type='subscribed'/>").await;
    alice.next_where("bob's approval", |e| is_presence(e, Some("subscribed"), "bob@b.test")).await;
    // Approval makes bob's server send his current presence to alice.
    alice.next_where("bob's presence", |e| is_presence(e, None, "bob@b.test")).await;

    // And the other way round.
    bob.send("<presence to='alice@a.test' type='subscribe'/>").await;
    alice.next_where("bob's subscription request", |e| is_presence(e, Some("subscribe"), "bob@b.test")).await;
    alice.send("<presence to='bob@b.test' type='subscribed'/>").await;
    bob.next_where("alice's presence", |e| is_presence(e, None, "alice@a.test")).await;

    // A presence change reaches the contact on the other server.
    alice.send("<presence><show>away</show></presence>").await;
    let away = bob
        .next_where("alice away", |e| {
            is_presence(e, None, "alice@a.test") && e.child("show", "jabber:client").is_some_and(|s| s.text() == "away")
        })
        .await;
    assert!(away.attr("from").is_some_and(|f| f.starts_with("alice@a.test/")));

    alice.send("<message to='bob@b.test' type='chat' id='m1'><body>hello from a</body></message>").await;
    let m = bob.next_message().await;
    assert_eq!(body(&m), "hello from a");
    assert_eq!(m.attr("from"), Some("alice@a.test/t"));
    bob.send("<message to='alice@a.test/t' type='chat' id='m2'><body>hello from b</body></message>").await;
    let m = alice.next_message().await;
    assert_eq!(body(&m), "hello from b");

    // An iq to the other server itself: its version plugin answers.
    let v = alice.iq("get", Some("b.test"), "<query xmlns='jabber:iq:version'/>").await;
    assert_eq!(v.attr("type"), Some("result"), "{v}");
    assert!(
        v.child("query", "jabber:iq:version").is_some_and(|q| q.child("name", "jabber:iq:version").is_some()),
        "{v}"
    );

    // Errors come back across servers too.
    let e = alice.iq("get", Some("nobody@b.test"), "<query xmlns='jabber:iq:version'/>").await;
    assert_eq!(e.attr("type"), Some("error"), "{e}");
    assert_eq!(stanza_error_condition(&e).as_deref(), Some("service-unavailable"));
}

#[tokio::test]
async fn messages_to_an_offline_remote_user_are_stored_and_delivered_later() {
    let (a, b) = pair("", "");
    let _la = a.log_on_panic();
    let _lb = b.log_on_panic();
    let mut alice = login(&a, "alice@a.test").await;
    alice.available(0).await;
    alice.send("<message to='bob@b.test' type='chat'><body>while you were out</body></message>").await;
    // Give the message time to cross before bob logs in.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut bob = login(&b, "bob@b.test").await;
    bob.available(0).await;
    let m = bob.next_where("the stored message", |e| e.name == "message").await;
    assert_eq!(body(&m), "while you were out");
    assert_eq!(m.attr("from").map(|f| f.split('/').next().unwrap_or(f)), Some("alice@a.test"));
}

#[tokio::test]
async fn an_unreachable_domain_bounces_with_remote_server_not_found() {
    let closed = free_addr();
    let a = federated("a.test", free_addr(), &[("gone.test", closed)], "", "");
    a.add_user("alice@a.test", PW);
    let mut alice = login(&a, "alice@a.test").await;
    alice.send("<message to='x@gone.test' id='lost' type='chat'><body>anyone?</body></message>").await;
    let err = alice.next_where("the bounce", |e| e.name == "message" && e.attr("type") == Some("error")).await;
    assert_eq!(err.attr("id"), Some("lost"));
    assert_eq!(err.attr("from"), Some("x@gone.test"));
    assert_eq!(stanza_error_condition(&err).as_deref(), Some("remote-server-not-found"), "{err}");
    // The server still serves its users.
    let pong = alice.iq("get", Some("a.test"), "<ping xmlns='urn:xmpp:ping'/>").await;
    assert_eq!(pong.attr("type"), Some("result"));
}

#[tokio::test]
async fn a_peer_that_never_answers_times_out_and_every_waiting_stanza_bounces() {
    // Accepts and then says nothing.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_addr = silent.local_addr().unwrap();
    let a = federated("a.test", free_addr(), &[("silent.test", silent_addr)], "connect_timeout_secs = 2", "");
    a.add_user("alice@a.test", PW);
    let mut alice = login(&a, "alice@a.test").await;
    for i in 0..3 {
        alice.send(&format!("<message to='x@silent.test' id='w{i}' type='chat'><body>{i}</body></message>")).await;
    }
    for _ in 0..3 {
        let err = alice.next_where("a bounce", |e| e.name == "message" && e.attr("type") == Some("error")).await;
        assert_eq!(stanza_error_condition(&err).as_deref(), Some("remote-server-timeout"), "{err}");
    }
    drop(silent);
}

const MUC: &str = "http://jabber.org/protocol/muc";
const MUC_USER: &str = "http://jabber.org/protocol/muc#user";
const MUC_OWNER: &str = "http://jabber.org/protocol/muc#owner";

fn status_codes(p: &Element) -> Vec<String> {
    p.child("x", MUC_USER)
        .map(|x| {
            x.elements().filter(|e| e.name == "status").filter_map(|e| e.attr("code").map(str::to_string)).collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_remote_user_joins_a_room_and_talks_in_it() {
    // b.test reaches a.test's MUC service through the same s2s port.
    let (pa, pb) = (free_addr(), free_addr());
    let a = federated("a.test", pa, &[("b.test", pb)], "", "");
    let b = federated("b.test", pb, &[("a.test", pa), ("conference.a.test", pa)], "", "");
    let (_la, _lb) = (a.log_on_panic(), b.log_on_panic());
    a.add_user("alice@a.test", PW);
    b.add_user("bob@b.test", PW);
    let mut alice = login(&a, "alice@a.test").await;
    let mut bob = login(&b, "bob@b.test").await;
    alice.available(0).await;
    bob.available(0).await;

    alice.send(&format!("<presence to='lounge@conference.a.test/alice'><x xmlns='{MUC}'/></presence>")).await;
    let me = alice
        .next_where("alice in the room", |e| e.name == "presence" && status_codes(e).contains(&"110".into()))
        .await;
    assert!(status_codes(&me).contains(&"201".into()), "a new room: {me}");
    let r = alice
        .iq(
            "set",
            Some("lounge@conference.a.test"),
            &format!("<query xmlns='{MUC_OWNER}'><x xmlns='jabber:x:data' type='submit'/></query>"),
        )
        .await;
    assert_eq!(r.attr("type"), Some("result"), "{r}");

    bob.send(&format!(
        "<presence to='lounge@conference.a.test/bob'><x xmlns='{MUC}'><history maxstanzas='0'/></x></presence>"
    ))
    .await;
    bob.next_where("bob's own presence in the room", |e| {
        e.name == "presence" && status_codes(e).contains(&"110".into())
    })
    .await;
    alice
        .next_where("bob joining", |e| e.name == "presence" && e.attr("from") == Some("lounge@conference.a.test/bob"))
        .await;

    bob.send("<message to='lounge@conference.a.test' type='groupchat'><body>hi room</body></message>").await;
    for c in [&mut alice, &mut bob] {
        let m = c
            .next_where("bob's groupchat message", |e| {
                e.name == "message" && e.attr("type") == Some("groupchat") && e.child("body", "jabber:client").is_some()
            })
            .await;
        assert_eq!(body(&m), "hi room");
        assert_eq!(m.attr("from"), Some("lounge@conference.a.test/bob"));
    }
    alice.send("<message to='lounge@conference.a.test' type='groupchat'><body>welcome</body></message>").await;
    let m = bob.next_where("alice's reply", |e| e.name == "message" && body(e) == "welcome").await;
    assert_eq!(m.attr("from"), Some("lounge@conference.a.test/alice"));
}

#[tokio::test]
async fn servers_connect_over_direct_tls() {
    let (pa, pa_tls, pb) = (free_addr(), free_addr(), free_addr());
    let mut a = Server::configure_listening(
        &format!("s2s = [\"{pa}\"]\ns2s_direct_tls = [\"{pa_tls}\"]"),
        &format!("[s2s]\nroutes = {{ \"b.test\" = \"{pb}\" }}\n[[vhost]]\ndomain = \"a.test\"\n"),
    );
    a.launch();
    // b.test dials a.test with TLS from the first byte (XEP-0368).
    let mut b = Server::configure_listening(
        &format!("s2s = [\"{pb}\"]"),
        &format!("[s2s]\nroutes = {{ \"a.test\" = \"tls:{pa_tls}\" }}\n[[vhost]]\ndomain = \"b.test\"\n"),
    );
    b.launch();
    let (_la, _lb) = (a.log_on_panic(), b.log_on_panic());
    a.add_user("alice@a.test", PW);
    b.add_user("bob@b.test", PW);
    let mut alice = login(&a, "alice@a.test").await;
    alice.available(0).await;
    let mut bob = login(&b, "bob@b.test").await;
    bob.send("<message to='alice@a.test' type='chat'><body>over direct TLS</body></message>").await;
    assert_eq!(body(&alice.next_message().await), "over direct TLS");
}

#[tokio::test]
async fn blocking_a_remote_contact_stops_their_messages() {
    let (a, b) = pair("", "");
    let (_la, _lb) = (a.log_on_panic(), b.log_on_panic());
    let mut alice = login(&a, "alice@a.test").await;
    alice.available(0).await;
    let mut bob = login(&b, "bob@b.test").await;
    let r = alice.iq("set", None, "<block xmlns='urn:xmpp:blocking'><item jid='bob@b.test'/></block>").await;
    assert_eq!(r.attr("type"), Some("result"), "{r}");
    bob.send("<message to='alice@a.test' type='chat' id='blocked'><body>let me in</body></message>").await;
    // XEP-0191 §3.3: the blocked sender learns it with service-unavailable.
    let err = bob.next_where("the refusal", |e| e.name == "message" && e.attr("type") == Some("error")).await;
    assert_eq!(err.attr("id"), Some("blocked"));
    assert_eq!(stanza_error_condition(&err).as_deref(), Some("service-unavailable"), "{err}");
    alice.send("<message to='bob@b.test' type='chat'><body>and you cannot hear me</body></message>").await;
    let err = alice.next_where("blocked outbound", |e| e.name == "message" && e.attr("type") == Some("error")).await;
    assert_eq!(stanza_error_condition(&err).as_deref(), Some("not-acceptable"), "{err}");
    let unblock = alice.iq("set", None, "<unblock xmlns='urn:xmpp:blocking'><item jid='bob@b.test'/></unblock>").await;
    assert_eq!(unblock.attr("type"), Some("result"));
    bob.send("<message to='alice@a.test' type='chat'><body>better</body></message>").await;
    let m = alice.next_where("the message after unblocking", |e| e.name == "message" && body(e) == "better").await;
    assert_eq!(m.attr("from"), Some("bob@b.test/t"));
}

#[tokio::test]
async fn a_contact_logging_in_learns_remote_presence_by_probe() {
    let (a, b) = pair("", "");
    let (_la, _lb) = (a.log_on_panic(), b.log_on_panic());
    let mut alice = login(&a, "alice@a.test").await;
    let mut bob = login(&b, "bob@b.test").await;
    alice.available(0).await;
    bob.available(0).await;
    alice.send("<presence to='bob@b.test' type='subscribe'/>").await;
    bob.next_where("the request", |e| is_presence(e, Some("subscribe"), "alice@a.test")).await;
    bob.send("<presence to='alice@a.test' type='subscribed'/>").await;
    alice.next_where("bob's presence", |e| is_presence(e, None, "bob@b.test")).await;
    alice.close().await;
    // alice's new session: her server probes bob's, which answers with bob's presence.
    let mut alice = login(&a, "alice@a.test").await;
    alice.send("<presence/>").await;
    alice.next_where("bob's presence after the probe", |e| is_presence(e, None, "bob@b.test")).await;
}

#[tokio::test]
async fn idle_connections_close_and_the_next_stanza_opens_a_new_one() {
    let (a, b) = pair("idle_timeout_secs = 1", "idle_timeout_secs = 1");
    let (_la, _lb) = (a.log_on_panic(), b.log_on_panic());
    let mut alice = login(&a, "alice@a.test").await;
    let mut bob = login(&b, "bob@b.test").await;
    bob.available(0).await;
    alice.send("<message to='bob@b.test' type='chat'><body>one</body></message>").await;
    assert_eq!(body(&bob.next_message().await), "one");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(a.log_text().contains("server-to-server connection closed"), "{}", a.log_tail(30));
    alice.send("<message to='bob@b.test' type='chat'><body>two</body></message>").await;
    assert_eq!(body(&bob.next_message().await), "two");
}

#[tokio::test]
async fn a_restarted_peer_is_reached_again() {
    let (a, mut b) = pair("", "");
    let _la = a.log_on_panic();
    let mut alice = login(&a, "alice@a.test").await;
    {
        let mut bob = login(&b, "bob@b.test").await;
        bob.available(0).await;
        alice.send("<message to='bob@b.test' type='chat'><body>before</body></message>").await;
        assert_eq!(body(&bob.next_message().await), "before");
    }
    b.terminate();
    b.launch();
    let _lb = b.log_on_panic();
    let mut bob = login(&b, "bob@b.test").await;
    bob.available(0).await;
    // The old connection broke with the restart; the next stanzas get a new one.
    alice.send("<message to='bob@b.test' type='chat'><body>after</body></message>").await;
    let m = bob.next_where("the message after the restart", |e| e.name == "message" && body(e) == "after").await;
    assert_eq!(m.attr("from"), Some("alice@a.test/t"));
}
