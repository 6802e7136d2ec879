//! What another server's bad input gets on Waxwing's server-to-server port,
//! over raw sockets: each stream error RFC 6120 names for it, dialback
//! answers, and the server serving its users throughout.
//!
//! The peer here is "evil.test", played by the test: a raw inbound stream,
//! and a small authoritative server that answers Waxwing's dialback
//! verification (valid or invalid, as the test decides).

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, timeout_at};
use waxwing_tests::{Mech, RawClient, Server, body, check_stream_error};

const PW: &str = "s2s-streams-pw";
const WAIT: Duration = Duration::from_secs(10);

/// A raw server-to-server connection.
struct Peer {
    tcp: TcpStream,
    text: String,
}

impl Peer {
    async fn connect(addr: SocketAddr) -> Peer {
        Peer { tcp: TcpStream::connect(addr).await.expect("connecting to the s2s port"), text: String::new() }
    }

    async fn send(&mut self, data: &str) {
        self.tcp.write_all(data.as_bytes()).await.expect("writing to the s2s port");
    }

    /// Reads until `needle` has arrived; returns everything read so far.
    async fn until(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + WAIT;
        let mut buf = [0u8; 4096];
        while !self.text.contains(needle) {
            match timeout_at(deadline, self.tcp.read(&mut buf)).await {
                Ok(Ok(0)) => panic!("closed before {needle:?}; got {:?}", self.text),
                Ok(Ok(n)) => self.text.push_str(&String::from_utf8_lossy(&buf[..n])),
                Ok(Err(e)) => panic!("reading: {e}; got {:?}", self.text),
                Err(_) => panic!("no {needle:?} within {WAIT:?}; got {:?}", self.text),
            }
        }
        self.text.clone()
    }

    /// Reads to the end of the connection; returns what came after the header and features.
    async fn read_to_close(&mut self) -> String {
        let deadline = Instant::now() + WAIT;
        let mut buf = [0u8; 4096];
        loop {
            match timeout_at(deadline, self.tcp.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => break,
                Ok(Ok(n)) => self.text.push_str(&String::from_utf8_lossy(&buf[..n])),
                Err(_) => panic!("the server did not close within {WAIT:?}; got {:?}", self.text),
            }
        }
        self.text.clone()
    }

    /// Expects the stream to end with `<condition/>` and the closing tag.
    async fn expect_stream_error(&mut self, condition: &str) {
        let text = self.read_to_close().await;
        let after_header = text.find("<stream:error").map(|i| &text[i..]).unwrap_or(&text);
        check_stream_error(after_header, condition).unwrap_or_else(|e| panic!("{e}\nwhole stream: {text}"));
    }
}

fn header(from: Option<&str>, to: Option<&str>, ns: &str, version: bool) -> String {
    let mut h = format!(
        "<?xml version='1.0'?><stream:stream xmlns='{ns}' xmlns:stream='http://etherx.jabber.org/streams' \
         xmlns:db='jabber:server:dialback'"
    );
    if let Some(f) = from {
        h.push_str(&format!(" from='{f}'"));
    }
    if let Some(t) = to {
        h.push_str(&format!(" to='{t}'"));
    }
    if version {
        h.push_str(" version='1.0'");
    }
    h.push('>');
    h
}

/// evil.test's authoritative server: answers every `<db:verify/>` with `answer`.
async fn authoritative(answer: &'static str) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut text = String::new();
                let mut buf = [0u8; 4096];
                let mut greeted = false;
                loop {
                    let Ok(n) = tcp.read(&mut buf).await else { return };
                    if n == 0 {
                        return;
                    }
                    text.push_str(&String::from_utf8_lossy(&buf[..n]));
                    if !greeted
                        && text.contains("<stream:stream")
                        && text[text.find("<stream:stream").unwrap()..].contains('>')
                    {
                        greeted = true;
                        let reply = format!(
                            "{}<stream:features><dialback xmlns='urn:xmpp:features:dialback'/></stream:features>",
                            header(Some("evil.test"), Some("a.test"), "jabber:server", true)
                                .replace(" version=", " id='auth-1' version=")
                        );
                        let _ = tcp.write_all(reply.as_bytes()).await;
                    }
                    if let Some(start) = text.find("<db:verify")
                        && text[start..].contains("</db:verify>")
                    {
                        let id = attr(&text[start..], "id");
                        let reply = format!("<db:verify from='evil.test' to='a.test' id='{id}' type='{answer}'/>");
                        let _ = tcp.write_all(reply.as_bytes()).await;
                        return;
                    }
                }
            });
        }
    });
    addr
}

fn attr(tag: &str, name: &str) -> String {
    let key = format!("{name}='");
    let start = tag.find(&key).map(|i| i + key.len()).unwrap_or_else(|| panic!("no {name} in {tag}"));
    tag[start..].split('\'').next().unwrap_or_default().to_string()
}

/// a.test with an s2s port that does not insist on TLS (so the raw peer
/// can speak plainly) unless `require_tls`, and evil.test routed to `auth`.
fn server(require_tls: bool, auth: Option<SocketAddr>) -> Server {
    let route = auth.map(|a| format!("routes = {{ \"evil.test\" = \"{a}\" }}\n")).unwrap_or_default();
    let mut s = Server::configure_listening(
        "s2s = [\"127.0.0.1:0\"]",
        &format!(
            "[limits]\nmax_stanza_bytes = 4096\n[s2s]\nrequire_tls = {require_tls}\nconnect_timeout_secs = 5\n{route}\n\
             [[vhost]]\ndomain = \"a.test\"\n"
        ),
    );
    s.launch();
    s.add_user("alice@a.test", PW);
    s
}

async fn alice(s: &Server) -> RawClient {
    let mut c = RawClient::connect_to(s.c2s_addr(), &s.cert_of("a.test")).await;
    c.authenticate_and_bind("alice@a.test", PW, Mech::ScramSha256, Some("r")).await;
    c.available(0).await;
    c
}

async fn still_serving(c: &mut RawClient) {
    let pong = c.iq("get", Some("a.test"), "<ping xmlns='urn:xmpp:ping'/>").await;
    assert_eq!(pong.attr("type"), Some("result"), "{pong}");
}

/// A stream from evil.test, authenticated by dialback.
async fn authenticated(s: &Server) -> Peer {
    let mut p = Peer::connect(s.s2s_addr()).await;
    p.send(&header(Some("evil.test"), Some("a.test"), "jabber:server", true)).await;
    let features = p.until("</stream:features>").await;
    assert!(features.contains("urn:xmpp:features:dialback"), "{features}");
    p.send("<db:result from='evil.test' to='a.test'>some-key</db:result>").await;
    let answer = p.until("type='valid'").await;
    assert!(answer.contains("<db:result from='a.test' to='evil.test' type='valid'/>"), "{answer}");
    p
}

#[tokio::test]
async fn bad_headers_get_their_stream_errors() {
    let s = server(true, None);
    let _log = s.log_on_panic();
    let mut a = alice(&s).await;
    let cases = [
        (header(Some("evil.test"), Some("unknown.test"), "jabber:server", true), "host-unknown"),
        (header(Some("evil.test"), None, "jabber:server", true), "improper-addressing"),
        (header(Some("evil.test"), Some("a.test"), "jabber:client", true), "invalid-namespace"),
        (header(Some("evil.test"), Some("a.test"), "jabber:server", false), "unsupported-version"),
        (header(Some("a.test"), Some("a.test"), "jabber:server", true), "invalid-from"),
        ("<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:server' to='a.test' version='1.0'><a><b></a>".to_string(), "not-well-formed"),
    ];
    for (h, condition) in cases {
        let mut p = Peer::connect(s.s2s_addr()).await;
        p.send(&h).await;
        p.expect_stream_error(condition).await;
        still_serving(&mut a).await;
    }
}

#[tokio::test]
async fn before_tls_the_server_offers_only_starttls_and_refuses_the_rest() {
    let s = server(true, None);
    let _log = s.log_on_panic();
    let mut a = alice(&s).await;
    let mut p = Peer::connect(s.s2s_addr()).await;
    p.send(&header(Some("evil.test"), Some("a.test"), "jabber:server", true)).await;
    let features = p.until("</stream:features>").await;
    assert!(
        features.contains("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>"),
        "{features}"
    );
    assert!(!features.contains("urn:xmpp:features:dialback") && !features.contains("EXTERNAL"), "{features}");
    p.send("<db:result from='evil.test' to='a.test'>k</db:result>").await;
    p.expect_stream_error("policy-violation").await;

    let mut p = Peer::connect(s.s2s_addr()).await;
    p.send(&header(Some("evil.test"), Some("a.test"), "jabber:server", true)).await;
    p.until("</stream:features>").await;
    p.send("<message from='x@evil.test' to='alice@a.test'><body>early</body></message>").await;
    p.expect_stream_error("not-authorized").await;
    still_serving(&mut a).await;
}

#[tokio::test]
async fn an_authenticated_peer_delivers_and_may_speak_only_for_its_own_domain() {
    let auth = authoritative("valid").await;
    let s = server(false, Some(auth));
    let _log = s.log_on_panic();
    let mut a = alice(&s).await;

    let mut p = authenticated(&s).await;
    p.send("<message from='mallory@evil.test/x' to='alice@a.test' type='chat'><body>from evil</body></message>").await;
    let m = a.next_message().await;
    assert_eq!(body(&m), "from evil");
    assert_eq!(m.attr("from"), Some("mallory@evil.test/x"));

    let forged = [
        ("<message from='boss@other.test' to='alice@a.test'><body>forged</body></message>", "invalid-from"),
        ("<message from='m@evil.test' to='x@unknown.test'><body>?</body></message>", "host-unknown"),
        ("<message to='alice@a.test'><body>who?</body></message>", "improper-addressing"),
        ("<message from='m@evil.test' to='a@@a.test'><body>?</body></message>", "improper-addressing"),
        ("<foo xmlns='urn:example'/>", "unsupported-stanza-type"),
    ];
    for (stanza, condition) in forged {
        let mut p = authenticated(&s).await;
        p.send(stanza).await;
        p.expect_stream_error(condition).await;
        still_serving(&mut a).await;
    }
    let mut p = authenticated(&s).await;
    let big = "x".repeat(5000);
    p.send(&format!("<message from='m@evil.test' to='alice@a.test'><body>{big}</body></message>")).await;
    p.expect_stream_error("policy-violation").await;
    still_serving(&mut a).await;
    assert!(a.drain().await.iter().all(|e| body(e) != "forged"), "a forged stanza was delivered");
}

#[tokio::test]
async fn a_key_its_authoritative_server_disowns_is_invalid() {
    let auth = authoritative("invalid").await;
    let s = server(false, Some(auth));
    let _log = s.log_on_panic();
    let mut p = Peer::connect(s.s2s_addr()).await;
    p.send(&header(Some("evil.test"), Some("a.test"), "jabber:server", true)).await;
    p.until("</stream:features>").await;
    p.send("<db:result from='evil.test' to='a.test'>stolen-key</db:result>").await;
    let answer = p.until("type='invalid'").await;
    assert!(answer.contains("<db:result from='a.test' to='evil.test' type='invalid'/>"), "{answer}");
    // Still not authenticated: a stanza now is refused.
    p.send("<message from='x@evil.test' to='alice@a.test'><body>let me in</body></message>").await;
    p.expect_stream_error("not-authorized").await;
}

#[tokio::test]
async fn a_db_verify_for_a_key_this_server_did_not_make_is_invalid() {
    let s = server(false, None);
    let _log = s.log_on_panic();
    let mut p = Peer::connect(s.s2s_addr()).await;
    p.send(&header(Some("evil.test"), Some("a.test"), "jabber:server", true)).await;
    p.until("</stream:features>").await;
    p.send("<db:verify from='evil.test' to='a.test' id='abc'>0123456789abcdef</db:verify>").await;
    let answer = p.until("type=").await;
    assert!(answer.contains("<db:verify from='a.test' to='evil.test' id='abc' type='invalid'/>"), "{answer}");
    p.send("<db:verify from='evil.test' to='a.test'>no id</db:verify>").await;
    p.expect_stream_error("improper-addressing").await;
}

#[tokio::test]
async fn dialback_for_a_domain_not_served_here_is_host_unknown() {
    let auth = authoritative("valid").await;
    let s = server(false, Some(auth));
    let _log = s.log_on_panic();
    let mut p = Peer::connect(s.s2s_addr()).await;
    p.send(&header(Some("evil.test"), Some("a.test"), "jabber:server", true)).await;
    p.until("</stream:features>").await;
    p.send("<db:result from='evil.test' to='elsewhere.test'>k</db:result>").await;
    p.expect_stream_error("host-unknown").await;
}

#[tokio::test]
async fn a_stream_may_not_start_dialback_verifications_without_bound() {
    // evil.test's "authoritative server" accepts and never answers, so every
    // verification stays in flight.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let s = server(false, Some(silent.local_addr().unwrap()));
    let _log = s.log_on_panic();
    let mut a = alice(&s).await;
    let mut p = Peer::connect(s.s2s_addr()).await;
    p.send(&header(Some("evil.test"), Some("a.test"), "jabber:server", true)).await;
    p.until("</stream:features>").await;
    for i in 0..17 {
        p.send(&format!("<db:result from='evil.test' to='a.test'>key-{i}</db:result>")).await;
    }
    p.expect_stream_error("policy-violation").await;
    still_serving(&mut a).await;
    drop(silent);
}

#[tokio::test]
async fn a_peer_closing_with_a_stream_error_is_not_answered_with_one() {
    let auth = authoritative("valid").await;
    let s = server(false, Some(auth));
    let _log = s.log_on_panic();
    let mut p = authenticated(&s).await;
    let seen = p.text.len();
    p.send(
        "<stream:error><system-shutdown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>",
    )
    .await;
    let text = p.read_to_close().await;
    let after = &text[seen..];
    assert!(after.contains("</stream:stream>"), "{after}");
    assert!(!after.contains("<stream:error"), "answered a stream error with another: {after}");
}
