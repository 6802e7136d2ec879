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
    assert!(v.child("query", "jabber:iq:version").is_some_and(|q| q.child("name", "jabber:iq:version").is_some()), "{v}");

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
