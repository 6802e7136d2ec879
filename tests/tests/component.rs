//! External components (XEP-0114) on raw sockets: the handshake and every
//! stream error a component can cause, then stanzas both ways between a
//! logged-in client and a component. Each test has a component domain of
//! its own on one shared server; after each bad input a client shows the
//! server still serving.

use std::sync::OnceLock;

use ring::digest;
use waxwing_tests::{
    Element, Frame, RawClient, Server, TIMEOUT, body, shared_listening, stanza_error_condition, stanza_error_type,
};

const PW: &str = "component-pw-1";
const NS_COMPONENT: &str = "jabber:component:accept";
const NS_STREAMS: &str = "http://etherx.jabber.org/streams";
const NS_DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";
const MAX_STANZA: usize = 4096;

/// The configured components: one domain per test, so that tests sharing
/// the server never take each other's domain.
const DOMAINS: &[&str] = &[
    "handshake.localhost",
    "wrongsecret.localhost",
    "early.localhost",
    "conflict.localhost",
    "badfrom.localhost",
    "badto.localhost",
    "notastanza.localhost",
    "big.localhost",
    "route.localhost",
    "offline.localhost",
    "again.localhost",
];

const USERS: &[&str] = &["watcher", "romeo", "juliet", "nurse", "tybalt"];

/// Each domain's own secret: another domain's does not open it.
fn secret_of(domain: &str) -> String {
    format!("secret-of-{domain}")
}

fn server() -> &'static Server {
    static S: OnceLock<Server> = OnceLock::new();
    let mut toml = format!("[limits]\nmax_stanza_bytes = {MAX_STANZA}\n\n");
    for d in DOMAINS {
        toml.push_str(&format!("[[component]]\ndomain = \"{d}\"\nsecret = \"{}\"\n\n", secret_of(d)));
    }
    let jids: Vec<String> = USERS.iter().map(|u| format!("{u}@localhost")).collect();
    let users: Vec<(&str, &str)> = jids.iter().map(|j| (j.as_str(), PW)).collect();
    shared_listening(&S, "component = [\"127.0.0.1:0\"]", &toml, &users)
}

/// XEP-0114 §3: the hex SHA-1 of the stream id followed by the secret.
fn handshake(stream_id: &str, secret: &str) -> String {
    let d = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, format!("{stream_id}{secret}").as_bytes());
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn the_handshake_digest_is_sha1_hex() {
    // `printf 3BF96D32secret | sha1sum`, as in the kernel's own unit test.
    assert_eq!(handshake("3BF96D32", "secret"), "b09ea9b3b7f586be8a08d0a3dd7466f110aeb136");
}

/// A component's stream header with these attributes (besides the stream prefix).
fn header(attrs: &str) -> String {
    format!("<?xml version='1.0'?><stream:stream xmlns:stream='{NS_STREAMS}' {attrs}>")
}

fn header_to(domain: &str) -> String {
    header(&format!("xmlns='{NS_COMPONENT}' to='{domain}'"))
}

/// One stanza as it comes in a `jabber:component:accept` stream.
fn parse_component_stanza(raw: &str) -> Element {
    let wrapped = format!("<w xmlns='{NS_COMPONENT}' xmlns:stream='{NS_STREAMS}'>{raw}</w>");
    let root = Element::parse(&wrapped).unwrap_or_else(|e| panic!("cannot parse {raw:?}: {e}"));
    root.elements().next().cloned().unwrap_or_else(|| panic!("no element in {raw:?}"))
}

/// A component connection: a raw socket to the component port.
struct Component {
    c: RawClient,
    domain: String,
}

impl Component {
    async fn tcp(s: &Server) -> RawClient {
        RawClient::connect_to(s.component_addr(), &s.cert_path()).await
    }

    /// Sends the header for `domain` and reads the server's; returns the stream id.
    async fn open(c: &mut RawClient, domain: &str) -> String {
        c.send(&header_to(domain)).await;
        let h = loop {
            match c.next_frame(TIMEOUT).await {
                Frame::Decl(_) => continue,
                Frame::Header(h) => break h,
                other => panic!("expected the server's stream header, got {other:?}\nreceived: {}", c.transcript()),
            }
        };
        // The header and an element in its default namespace, parsed together.
        let el = Element::parse(&format!("{h}<probe/></stream:stream>"))
            .unwrap_or_else(|e| panic!("the server's header does not parse: {e}: {h}"));
        assert!(el.is("stream", NS_STREAMS), "{h}");
        let probe = el.first_element().expect("the probe");
        assert_eq!(probe.ns, NS_COMPONENT, "the stream's content namespace: {h}");
        assert_eq!(el.attr("from"), Some(domain), "the header's from: {h}");
        assert!(el.attr("version").is_none(), "XEP-0114 streams have no version: {h}");
        let id = el.attr("id").unwrap_or_else(|| panic!("no stream id: {h}"));
        assert!(!id.is_empty(), "{h}");
        id.to_string()
    }

    /// Connects and authenticates as `domain`; panics unless `<handshake/>` comes.
    async fn connect(s: &Server, domain: &str) -> Component {
        let mut c = Self::tcp(s).await;
        let id = Self::open(&mut c, domain).await;
        c.send(&format!("<handshake>{}</handshake>", handshake(&id, &secret_of(domain)))).await;
        let mut comp = Component { c, domain: domain.to_string() };
        let el = comp.next().await;
        assert!(el.is("handshake", NS_COMPONENT), "expected <handshake/>, got {el}");
        assert!(el.children.is_empty(), "{el}");
        comp
    }

    async fn send(&mut self, xml: &str) {
        self.c.send(xml).await;
    }

    /// The next stanza, in the component namespace unless it says otherwise.
    async fn next(&mut self) -> Element {
        match self.c.next_frame(TIMEOUT).await {
            Frame::Element(raw) => parse_component_stanza(&raw),
            other => panic!("{}: expected a stanza, got {other:?}\nreceived: {}", self.domain, self.c.transcript()),
        }
    }

    /// Sends an iq from the component's domain and waits for its answer.
    async fn iq(&mut self, ty: &str, to: &str, id: &str, payload: &str) -> Element {
        let from = self.domain.clone();
        self.send(&format!("<iq type='{ty}' id='{id}' from='{from}' to='{to}'>{payload}</iq>")).await;
        let el = self.next().await;
        assert!(el.is("iq", NS_COMPONENT) && el.attr("id") == Some(id), "expected the answer to {id}, got {el}");
        el
    }

    /// Ends the stream and waits for the server's `</stream:stream>` and close.
    async fn close(mut self) {
        self.c.send("</stream:stream>").await;
        let text = self.c.read_to_close(TIMEOUT).await;
        assert!(text.contains("</stream:stream>"), "the server did not close the stream: {text:?}");
    }
}

async fn login(s: &Server, user: &str) -> RawClient {
    RawClient::login(s, &format!("{user}@localhost"), PW).await
}

/// The server still serves: a client logs in and its ping is answered.
async fn still_serving(s: &Server) {
    let mut c = login(s, "watcher").await;
    let pong = c.iq("get", Some("localhost"), "<ping xmlns='urn:xmpp:ping'/>").await;
    assert_eq!(pong.attr("type"), Some("result"), "{pong}");
    c.close().await;
}

/// A fresh component connection that sends `input` (raw) and must end with `condition`.
async fn raw_input_gives(input: &str, condition: &str) {
    let s = server();
    let _log = s.log_on_panic();
    let mut c = Component::tcp(s).await;
    // The server may close before reading everything; what it answers is what counts.
    let _ = c.try_send(input.as_bytes()).await;
    c.expect_stream_error(condition).await;
    still_serving(s).await;
}

/// An authenticated component for `domain` that sends `input` and must end with `condition`.
async fn after_handshake_gives(domain: &str, input: &str, condition: &str) {
    let s = server();
    let _log = s.log_on_panic();
    let mut comp = Component::connect(s, domain).await;
    let _ = comp.c.try_send(input.as_bytes()).await;
    comp.c.expect_stream_error(condition).await;
    still_serving(s).await;
}

// ------------------------------------------------------------ the handshake

#[tokio::test]
async fn a_good_handshake_is_answered_with_an_empty_handshake() {
    let s = server();
    let _log = s.log_on_panic();
    Component::connect(s, "handshake.localhost").await.close().await;
    // Upper-case hex is the same digest.
    let mut c = Component::tcp(s).await;
    let id = Component::open(&mut c, "handshake.localhost").await;
    let digest = handshake(&id, &secret_of("handshake.localhost")).to_uppercase();
    c.send(&format!("<handshake>{digest}</handshake>")).await;
    let el = c.next_element().await;
    assert_eq!(el.name, "handshake", "{el}");
    c.send("</stream:stream>").await;
    assert!(c.read_to_close(TIMEOUT).await.contains("</stream:stream>"));
    assert!(s.log_text().contains("component connected"), "{}", s.log_tail(20));
    still_serving(s).await;
}

#[tokio::test]
async fn a_wrong_handshake_is_not_authorized() {
    let s = server();
    let _log = s.log_on_panic();
    let domain = "wrongsecret.localhost";
    // A digest of the wrong secret, another domain's secret, a digest of
    // another stream id, and no digest at all.
    for secret_or_id in ["wrong", "other-id", "other-domain", "empty"] {
        let mut c = Component::tcp(s).await;
        let id = Component::open(&mut c, domain).await;
        let text = match secret_or_id {
            "wrong" => handshake(&id, "not-the-secret"),
            "other-id" => handshake("some-other-id", &secret_of(domain)),
            "other-domain" => handshake(&id, &secret_of("handshake.localhost")),
            _ => String::new(),
        };
        let _ = c.try_send(format!("<handshake>{text}</handshake>").as_bytes()).await;
        c.expect_stream_error("not-authorized").await;
        still_serving(s).await;
    }
    // The domain was never taken: the right secret still opens it.
    Component::connect(s, domain).await.close().await;
}

#[tokio::test]
async fn a_stanza_before_the_handshake_is_not_authorized() {
    let s = server();
    let _log = s.log_on_panic();
    let mut c = Component::tcp(s).await;
    Component::open(&mut c, "early.localhost").await;
    let _ = c.try_send(b"<message from='early.localhost' to='romeo@localhost'><body>x</body></message>").await;
    c.expect_stream_error("not-authorized").await;
    still_serving(s).await;
}

#[tokio::test]
async fn an_unconfigured_domain_is_host_unknown() {
    raw_input_gives(&header_to("nobody.localhost"), "host-unknown").await;
    // A vhost is not a component's domain either.
    raw_input_gives(&header_to("localhost"), "host-unknown").await;
}

#[tokio::test]
async fn a_wrong_content_namespace_is_invalid_namespace() {
    for ns in ["jabber:client", "jabber:server", "urn:example:nothing"] {
        raw_input_gives(&header(&format!("xmlns='{ns}' to='handshake.localhost'")), "invalid-namespace").await;
    }
}

#[tokio::test]
async fn a_header_without_to_is_improper_addressing() {
    raw_input_gives(&header(&format!("xmlns='{NS_COMPONENT}'")), "improper-addressing").await;
    // `from` instead of `to` is still no `to`.
    raw_input_gives(&header(&format!("xmlns='{NS_COMPONENT}' from='handshake.localhost'")), "improper-addressing")
        .await;
}

#[tokio::test]
async fn a_second_connection_for_a_connected_domain_is_a_conflict_and_the_first_keeps_working() {
    let s = server();
    let _log = s.log_on_panic();
    let domain = "conflict.localhost";
    let mut first = Component::connect(s, domain).await;

    let mut second = Component::tcp(s).await;
    let id = Component::open(&mut second, domain).await;
    let _ = second.try_send(format!("<handshake>{}</handshake>", handshake(&id, &secret_of(domain))).as_bytes()).await;
    second.expect_stream_error("conflict").await;
    assert!(!second.transcript().contains("<handshake/>"), "{}", second.transcript());
    still_serving(s).await;

    // The first still gets its stanzas and sends its own.
    let mut romeo = login(s, "romeo").await;
    let jid = romeo.jid.clone().expect("bound");
    romeo.send(&format!("<message to='{domain}' id='c1'><body>still there?</body></message>")).await;
    let m = first.next().await;
    assert!(m.is("message", NS_COMPONENT) && m.attr("id") == Some("c1"), "{m}");
    assert_eq!(m.attr("from"), Some(jid.as_str()));
    first.send(&format!("<message from='{domain}' to='{jid}' id='c2'><body>yes</body></message>")).await;
    let back = romeo.next_message().await;
    assert_eq!((back.attr("id"), body(&back).as_str()), (Some("c2"), "yes"), "{back}");
    first.close().await;
    romeo.close().await;
}

// ------------------------------------------------ stanzas from the component

#[tokio::test]
async fn a_stanza_from_outside_the_domain_is_invalid_from() {
    let d = "badfrom.localhost";
    for input in [
        // Someone else's domain: a local user, the server, another component.
        "<message from='romeo@localhost' to='juliet@localhost'><body>x</body></message>".to_string(),
        "<iq type='get' id='f1' from='localhost' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>".to_string(),
        "<presence from='route.localhost' to='juliet@localhost'/>".to_string(),
        // A subdomain is not the domain.
        format!("<message from='sub.{d}' to='juliet@localhost'><body>x</body></message>"),
        // No from at all, and one that is no JID.
        "<message to='juliet@localhost'><body>x</body></message>".to_string(),
        "<message from='a@@b' to='juliet@localhost'><body>x</body></message>".to_string(),
    ] {
        after_handshake_gives(d, &input, "invalid-from").await;
    }
}

#[tokio::test]
async fn a_stanza_without_a_valid_to_is_improper_addressing() {
    let d = "badto.localhost";
    for input in [
        format!("<message from='{d}'><body>x</body></message>"),
        format!("<iq type='get' id='t1' from='bot@{d}'><ping xmlns='urn:xmpp:ping'/></iq>"),
        format!("<message from='{d}' to='a@@b'><body>x</body></message>"),
        format!("<message from='{d}' to=''><body>x</body></message>"),
    ] {
        after_handshake_gives(d, &input, "improper-addressing").await;
    }
}

#[tokio::test]
async fn a_non_stanza_element_is_unsupported_stanza_type() {
    let d = "notastanza.localhost";
    for input in [
        format!("<foo from='{d}' to='localhost'/>"),
        format!("<handshake>{}</handshake>", "0".repeat(40)),
        // A stanza's name in another namespace is no stanza.
        format!("<message xmlns='jabber:client' from='{d}' to='romeo@localhost'><body>x</body></message>"),
        format!("<message xmlns='jabber:server' from='{d}' to='romeo@localhost'><body>x</body></message>"),
    ] {
        after_handshake_gives(d, &input, "unsupported-stanza-type").await;
    }
}

#[tokio::test]
async fn an_oversized_stanza_is_a_policy_violation() {
    let d = "big.localhost";
    let big = format!("<message from='{d}' to='romeo@localhost'><body>{}</body></message>", "a".repeat(MAX_STANZA * 2));
    after_handshake_gives(d, &big, "policy-violation").await;
    // Just under the limit passes.
    let s = server();
    let mut romeo = login(s, "romeo").await;
    let jid = romeo.jid.clone().expect("bound");
    let mut comp = Component::connect(s, d).await;
    let fits =
        format!("<message from='{d}' to='{jid}' id='fits'><body>{}</body></message>", "b".repeat(MAX_STANZA / 2));
    comp.send(&fits).await;
    let m = romeo.next_message().await;
    assert_eq!(m.attr("id"), Some("fits"), "{m}");
    assert_eq!(body(&m).len(), MAX_STANZA / 2);
    comp.close().await;
    romeo.close().await;
}

// ------------------------------------------------------------------ routing

#[tokio::test]
async fn stanzas_go_both_ways_between_a_client_and_a_component() {
    let s = server();
    let _log = s.log_on_panic();
    let d = "route.localhost";
    let mut comp = Component::connect(s, d).await;
    let mut juliet = login(s, "juliet").await;
    // Available, so that a message to her bare JID reaches this session.
    juliet.available(0).await;
    let jid = juliet.jid.clone().expect("bound");

    // A client's iq to the component's domain reaches it, in its namespace,
    // from the client's full JID; the component's answer reaches the client.
    juliet.send(&format!("<iq type='get' id='disco1' to='{d}'><query xmlns='{NS_DISCO_INFO}'/></iq>")).await;
    let iq = comp.next().await;
    assert!(iq.is("iq", NS_COMPONENT), "{iq}");
    assert_eq!((iq.attr("type"), iq.attr("id")), (Some("get"), Some("disco1")), "{iq}");
    assert_eq!(iq.attr("from"), Some(jid.as_str()), "{iq}");
    assert_eq!(iq.attr("to"), Some(d), "{iq}");
    assert!(iq.child("query", NS_DISCO_INFO).is_some(), "{iq}");
    comp.send(&format!(
        "<iq type='result' id='disco1' from='{d}' to='{jid}'><query xmlns='{NS_DISCO_INFO}'>\
         <identity category='gateway' type='test' name='Route test'/><feature var='{NS_DISCO_INFO}'/>\
         </query></iq>"
    ))
    .await;
    let answer = juliet.next_where("the component's disco answer", |e| e.attr("id") == Some("disco1")).await;
    assert_eq!((answer.attr("type"), answer.attr("from")), (Some("result"), Some(d)), "{answer}");
    let identity = answer.child("query", NS_DISCO_INFO).and_then(|q| q.child("identity", NS_DISCO_INFO));
    assert_eq!(identity.and_then(|i| i.attr("category")), Some("gateway"), "{answer}");

    // A message to a JID at the component, its children in the component's
    // namespace too; the answer from a JID of the component's reaches the client.
    juliet.send(&format!("<message to='bot@{d}' type='chat' id='m1'><body>hello bot</body></message>")).await;
    let m = comp.next().await;
    assert!(m.is("message", NS_COMPONENT), "{m}");
    assert_eq!(
        (m.attr("from"), m.attr("to"), m.attr("id")),
        (Some(jid.as_str()), Some(&*format!("bot@{d}")), Some("m1"))
    );
    assert_eq!(m.child("body", NS_COMPONENT).map(|b| b.text()).as_deref(), Some("hello bot"), "{m}");
    comp.send(&format!("<message from='bot@{d}/x' to='{jid}' type='chat' id='m2'><body>hello juliet</body></message>"))
        .await;
    let back = juliet.next_message().await;
    assert_eq!((back.attr("from"), back.attr("id")), (Some(&*format!("bot@{d}/x")), Some("m2")), "{back}");
    assert_eq!(body(&back), "hello juliet");
    // To the bare JID too.
    comp.send(&format!("<message from='{d}' to='juliet@localhost' type='chat' id='m3'><body>bare</body></message>"))
        .await;
    let back = juliet.next_message().await;
    assert_eq!((back.attr("id"), body(&back).as_str()), (Some("m3"), "bare"), "{back}");

    // The component asks the server itself, and is answered in its stream.
    let pong = comp.iq("get", "localhost", "p1", "<ping xmlns='urn:xmpp:ping'/>").await;
    assert_eq!((pong.attr("type"), pong.attr("to"), pong.attr("from")), (Some("result"), Some(d), Some("localhost")));
    // An iq to nobody comes back as an error to the component.
    let err = comp.iq("get", "nobody@localhost", "p2", "<query xmlns='jabber:iq:version'/>").await;
    assert_eq!(err.attr("type"), Some("error"), "{err}");
    let cond = err.child("error", NS_COMPONENT).and_then(|e| e.elements().next()).map(|e| e.name.clone());
    assert_eq!(cond.as_deref(), Some("service-unavailable"), "{err}");

    // An iq error from the component reaches the client as one.
    juliet.send(&format!("<iq type='get' id='v1' to='{d}'><query xmlns='jabber:iq:version'/></iq>")).await;
    let iq = comp.next().await;
    assert_eq!(iq.attr("id"), Some("v1"), "{iq}");
    comp.send(&format!(
        "<iq type='error' id='v1' from='{d}' to='{jid}'><error type='cancel'>\
         <feature-not-implemented xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
    ))
    .await;
    let e = juliet.next_where("the component's error", |e| e.attr("id") == Some("v1")).await;
    assert_eq!(stanza_error_condition(&e).as_deref(), Some("feature-not-implemented"), "{e}");
    assert_eq!(stanza_error_type(&e).as_deref(), Some("cancel"), "{e}");

    // Nothing else went to the component: a marker is the next thing it sees.
    juliet.send(&format!("<message to='{d}' id='marker'><body>last</body></message>")).await;
    let next = comp.next().await;
    assert_eq!(next.attr("id"), Some("marker"), "{next}");
    comp.close().await;
    juliet.close().await;
}

#[tokio::test]
async fn an_iq_to_an_offline_component_is_service_unavailable() {
    let s = server();
    let _log = s.log_on_panic();
    let d = "offline.localhost";
    let mut nurse = login(s, "nurse").await;
    let e = nurse.iq("get", Some(d), &format!("<query xmlns='{NS_DISCO_INFO}'/>")).await;
    assert_eq!(e.attr("type"), Some("error"), "{e}");
    assert_eq!(e.attr("from"), Some(d), "{e}");
    assert_eq!(stanza_error_condition(&e).as_deref(), Some("service-unavailable"), "{e}");
    // At a JID of the component's too.
    let e = nurse.iq("get", Some(&format!("bot@{d}/r")), "<ping xmlns='urn:xmpp:ping'/>").await;
    assert_eq!(stanza_error_condition(&e).as_deref(), Some("service-unavailable"), "{e}");

    // Connected, it answers; gone again, the error is back.
    let mut comp = Component::connect(s, d).await;
    let jid = nurse.jid.clone().expect("bound");
    nurse.send(&format!("<iq type='get' id='on1' to='{d}'><ping xmlns='urn:xmpp:ping'/></iq>")).await;
    assert_eq!(comp.next().await.attr("id"), Some("on1"));
    comp.send(&format!("<iq type='result' id='on1' from='{d}' to='{jid}'/>")).await;
    let r = nurse.next_where("the component's answer", |e| e.attr("id") == Some("on1")).await;
    assert_eq!(r.attr("type"), Some("result"), "{r}");
    comp.close().await;
    let e = nurse.iq("get", Some(d), "<ping xmlns='urn:xmpp:ping'/>").await;
    assert_eq!(stanza_error_condition(&e).as_deref(), Some("service-unavailable"), "{e}");
    nurse.close().await;
}

#[tokio::test]
async fn a_component_that_disconnected_connects_again() {
    let s = server();
    let _log = s.log_on_panic();
    let d = "again.localhost";
    let mut tybalt = login(s, "tybalt").await;
    let jid = tybalt.jid.clone().expect("bound");
    let round_trip = |n: usize| format!("<message from='{d}' to='{jid}' id='again-{n}'><body>{n}</body></message>");

    // A polite close, an abrupt one (our side of the socket shut), a stream
    // error: each time the domain is free again as soon as the server has
    // said its last word, before its side of the connection is even closed.
    let mut old = Vec::new();
    for n in 0..3 {
        let mut comp = Component::connect(s, d).await;
        comp.send(&round_trip(n)).await;
        let m = tybalt.next_message().await;
        assert_eq!(m.attr("id"), Some(&*format!("again-{n}")), "{m}");
        match n {
            0 => {
                comp.send("</stream:stream>").await;
                comp.c.read_until_contains("</stream:stream>", TIMEOUT).await;
            }
            1 => {
                // Without a word: the server learns of it from the socket
                // alone, so wait until it closes its side.
                comp.c.shutdown_write().await;
                assert!(comp.c.closed_within(TIMEOUT).await, "{}", comp.c.transcript());
            }
            _ => {
                let _ = comp.c.try_send(b"<bogus/>").await;
                let text = comp.c.read_until_contains("</stream:stream>", TIMEOUT).await;
                assert!(text.contains("unsupported-stanza-type"), "{text}");
            }
        }
        // Kept open on our side while the next one connects.
        old.push(comp);
    }
    let mut comp = Component::connect(s, d).await;
    tybalt.send(&format!("<message to='{d}' id='last'><body>hi</body></message>")).await;
    let m = comp.next().await;
    assert_eq!((m.attr("id"), m.attr("from")), (Some("last"), Some(jid.as_str())), "{m}");
    comp.close().await;
    tybalt.close().await;
}
