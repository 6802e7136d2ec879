//! Liveness: whitespace keepalives, the server's XEP-0199 pings, and the
//! timeouts that end silent connections.

use std::sync::OnceLock;
use std::time::Duration;

use waxwing_tests::client::NS_PING;
use waxwing_tests::{Element, RawClient, Server, shared};

const PW: &str = "liveness-pw";

/// Keepalive after 1 s of server silence; a ping after 2 s of client
/// silence, unanswered for 2 s more ends the stream. So a silent client sees
/// whitespace first, then the ping, then `<connection-timeout/>`.
const CONFIG: &str = "[limits]\nkeepalive_secs = 1\nping_interval_secs = 2\nping_timeout_secs = 2\n";

fn server() -> &'static Server {
    static S: OnceLock<Server> = OnceLock::new();
    shared(&S, CONFIG, &[("lena@localhost", PW), ("mo@localhost", PW), ("nils@localhost", PW)])
}

fn is_server_ping(e: &Element, me: &str) -> bool {
    e.name == "iq" && e.attr("type") == Some("get") && e.child("ping", NS_PING).is_some() && e.attr("to") == Some(me)
}

#[tokio::test]
async fn whitespace_keepalive_arrives_when_the_server_is_idle() {
    let s = server();
    let _log = s.log_on_panic();
    let mut c = RawClient::login(s, "lena", PW).await;
    let text = c.read_until(|t| !t.is_empty(), Duration::from_secs(5)).await;
    assert!(
        text.starts_with(|ch: char| ch.is_ascii_whitespace()),
        "the first thing after 1 s of server silence should be whitespace, got {text:?}"
    );
    // Keepalives keep coming and do not disturb the session.
    c.read_until(|t| t.chars().filter(|ch| ch.is_ascii_whitespace()).count() >= 2, Duration::from_secs(5)).await;
}

#[tokio::test]
async fn unanswered_ping_ends_the_stream_with_connection_timeout() {
    let s = server();
    let _log = s.log_on_panic();
    let mut c = RawClient::login(s, "mo", PW).await;
    let me = c.jid.clone().expect("bound");
    let ping = c.next_element_within(Duration::from_secs(8)).await;
    assert!(is_server_ping(&ping, &me), "expected the server's ping first, got {ping}");
    assert_eq!(ping.attr("from"), Some("localhost"), "{ping}");
    assert!(ping.attr("id").is_some_and(|id| !id.is_empty()), "{ping}");
    c.expect_stream_error("connection-timeout").await;
}

#[tokio::test]
async fn answering_pings_keeps_the_session() {
    let s = server();
    let _log = s.log_on_panic();
    let mut c = RawClient::login(s, "nils", PW).await;
    let me = c.jid.clone().expect("bound");
    for round in 1..=2 {
        let ping = c.next_element_within(Duration::from_secs(8)).await;
        assert!(is_server_ping(&ping, &me), "round {round}: expected a ping, got {ping}");
        let id = ping.attr("id").expect("ping id").to_string();
        c.send(&format!("<iq type='result' id='{id}' to='localhost'/>")).await;
    }
    // Past two ping timeouts, the session still works.
    let pong = c.iq("get", Some("localhost"), "<ping xmlns='urn:xmpp:ping'/>").await;
    assert_eq!(pong.attr("type"), Some("result"), "{pong}");
}

#[tokio::test]
async fn silent_connection_gets_connection_timeout_during_negotiation() {
    let s = Server::start("[limits]\nnegotiation_timeout_secs = 1\n");
    // Nothing at all after connecting.
    let mut c = RawClient::connect(&s).await;
    c.expect_stream_error("connection-timeout").await;
    // A stream opened but left there.
    let mut c = RawClient::connect(&s).await;
    c.open_stream("localhost").await;
    c.expect_stream_error("connection-timeout").await;
}
