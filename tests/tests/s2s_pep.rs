//! PEP (XEP-0163) to a contact on another server: two federated Waxwing
//! servers, a.test and b.test, on loopback with static routes. bob@b.test
//! advertises XEP-0115 caps asking for tune notifications; a.test learns
//! them from the presence bob's server sends alice@a.test, asks bob's
//! client across servers and verifies the answer; alice's tune then reaches
//! bob, and bob coming online again gets the newest one. A contact that
//! does not see alice's presence gets none.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::time::Instant;
use waxwing_tests::{Element, Mech, RawClient, Server, TIMEOUT, body, stanza_error_condition};
use waxwing_xml::caps;

const PW: &str = "s2s-pep-pw";
const NS_CAPS: &str = "http://jabber.org/protocol/caps";
const DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";
const PUBSUB: &str = "http://jabber.org/protocol/pubsub";
const EVENT: &str = "http://jabber.org/protocol/pubsub#event";
const TUNE: &str = "http://jabber.org/protocol/tune";
const DELAY: &str = "urn:xmpp:delay";
const RECORD: &str = "urn:waxwing:caps:0";
const CLIENT_NODE: &str = "https://client.example";
/// Every test ends within this, whatever waits inside it.
const TEST_BOUND: Duration = Duration::from_secs(120);

/// An address nobody listens on yet, for a server's config before it starts.
fn free_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("binding an ephemeral port");
    l.local_addr().expect("its address")
}

/// The default plugins but time, register and muc, with alice@a.test an
/// admin of the caps records (to see what a.test knows of bob's caps).
fn plugins(domain: &str) -> String {
    let mut toml = String::new();
    for name in ["disco", "ping", "version", "roster", "offline", "carbons", "blocking", "vcard", "private"] {
        toml.push_str(&format!("[[vhost.plugin]]\nname = \"{name}\"\n"));
    }
    toml.push_str(&format!(
        "[[vhost.plugin]]\nname = \"caps\"\n[vhost.plugin.config]\nadmins = [\"alice@{domain}\"]\n"
    ));
    toml.push_str("[[vhost.plugin]]\nname = \"pubsub\"\n[[vhost.plugin]]\nname = \"pep\"\n");
    toml
}

/// A server for `domain` with an s2s listener at `own` and a route to `peer`.
fn federated(domain: &str, own: SocketAddr, peer: (&str, SocketAddr)) -> Server {
    let mut s = Server::configure_listening(
        &format!("s2s = [\"{own}\"]"),
        &format!(
            "[s2s]\nroutes = {{ \"{}\" = \"{}\" }}\nconnect_timeout_secs = 5\n[[vhost]]\ndomain = \"{domain}\"\n{}",
            peer.0,
            peer.1,
            plugins(domain)
        ),
    );
    s.launch();
    s
}

/// a.test with alice, b.test with bob.
fn pair() -> (Server, Server) {
    let (pa, pb) = (free_addr(), free_addr());
    let a = federated("a.test", pa, ("b.test", pb));
    let b = federated("b.test", pb, ("a.test", pa));
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

// ------------------------------------------------------------ bob's client

/// What bob's client is: one identity and these features.
fn client_info(features: &[&str]) -> Element {
    let mut q = Element::new("query", DISCO_INFO)
        .with_child(Element::new("identity", DISCO_INFO).with_attr("category", "client").with_attr("type", "pc"));
    for f in features {
        q.push_child(Element::new("feature", DISCO_INFO).with_attr("var", *f));
    }
    q
}

/// A client that asks for tune notifications (XEP-0163 §approach-filter).
fn tune_listener() -> Vec<String> {
    vec![DISCO_INFO.into(), NS_CAPS.into(), format!("{TUNE}+notify")]
}

/// bob's client: its features, and answers to the caps queries of both
/// servers (b.test's from the host, a.test's from alice's bare JID) at any
/// point of the conversation.
struct Bob {
    c: RawClient,
    features: Vec<String>,
}

impl Bob {
    fn info(&self) -> Element {
        client_info(&self.features.iter().map(String::as_str).collect::<Vec<_>>())
    }

    fn ver(&self) -> String {
        caps::info_ver(&self.info()).expect("well-formed disco#info")
    }

    async fn send_presence_with_caps(&mut self) {
        let ver = self.ver();
        self.c
            .send(&format!("<presence><c xmlns='{NS_CAPS}' hash='sha-1' node='{CLIENT_NODE}' ver='{ver}'/></presence>"))
            .await;
    }

    fn is_caps_query(e: &Element) -> bool {
        e.name == "iq"
            && e.attr("type") == Some("get")
            && e.child("query", DISCO_INFO).is_some_and(|q| q.attr("node").is_some_and(|n| n.starts_with(CLIENT_NODE)))
    }

    /// Answers a caps query as an honest client does: its disco#info, with
    /// the node echoed, to whoever asked.
    async fn answer(&mut self, query: &Element) {
        let id = query.attr("id").expect("the query has an id");
        let from = query.attr("from").expect("the query says who asks");
        let node = query.child("query", DISCO_INFO).and_then(|q| q.attr("node")).unwrap_or_default();
        assert_eq!(node, format!("{CLIENT_NODE}#{}", self.ver()), "the query names the ver bob advertised: {query}");
        let info = self.info().with_attr("node", node);
        self.c.send(&format!("<iq type='result' id='{id}' to='{from}'>{}</iq>", info.to_xml())).await;
    }

    /// The next element `pred` accepts, answering caps queries meanwhile.
    async fn next_where(&mut self, what: &str, pred: impl Fn(&Element) -> bool) -> Element {
        loop {
            let e = self.c.next_where(what, |e| Self::is_caps_query(e) || pred(e)).await;
            if !Self::is_caps_query(&e) || pred(&e) {
                return e;
            }
            self.answer(&e).await;
        }
    }

    /// Answers every caps query that came before the answer to a ping of
    /// its own, and returns the other elements.
    async fn answer_pending(&mut self) -> Vec<Element> {
        let mut rest = Vec::new();
        for e in self.c.drain().await {
            if Self::is_caps_query(&e) {
                self.answer(&e).await;
            } else {
                rest.push(e);
            }
        }
        rest
    }
}

/// alice and bob subscribe to each other's presence across the servers;
/// `both_ways` false: only alice sees bob's, bob does not see alice's.
async fn subscribe(alice: &mut RawClient, bob: &mut Bob, both_ways: bool) {
    alice.send("<presence to='bob@b.test' type='subscribe'/>").await;
    bob.next_where("alice's subscription request", |e| is_presence(e, Some("subscribe"), "alice@a.test")).await;
    bob.c.send("<presence to='alice@a.test' type='subscribed'/>").await;
    alice.next_where("bob's approval", |e| is_presence(e, Some("subscribed"), "bob@b.test")).await;
    // Approval makes bob's server send his current presence, caps and all.
    alice.next_where("bob's presence", |e| is_presence(e, None, "bob@b.test")).await;
    if !both_ways {
        return;
    }
    bob.c.send("<presence to='alice@a.test' type='subscribe'/>").await;
    alice.next_where("bob's subscription request", |e| is_presence(e, Some("subscribe"), "bob@b.test")).await;
    alice.send("<presence to='bob@b.test' type='subscribed'/>").await;
    bob.next_where("alice's presence", |e| is_presence(e, None, "alice@a.test")).await;
}

// ------------------------------------------------------------ a.test's view

/// What a.test recorded of `full`'s caps: `verified` ("true"/"false"), or
/// the error condition of the lookup.
async fn caps_record(alice: &mut RawClient, full: &str) -> String {
    let r = alice.iq("get", Some("a.test"), &format!("<caps xmlns='{RECORD}' jid='{full}'/>")).await;
    if let Some(c) = stanza_error_condition(&r) {
        return c;
    }
    r.child("caps", RECORD).and_then(|c| c.attr("verified")).unwrap_or_else(|| panic!("no record: {r}")).to_string()
}

/// Waits until a.test's record of bob/t reads `want`, bob's client
/// answering the queries that come its way meanwhile.
async fn until_record(alice: &mut RawClient, bob: &mut Bob, want: &str) {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        bob.answer_pending().await;
        let seen = caps_record(alice, "bob@b.test/t").await;
        if seen == want {
            return;
        }
        assert!(Instant::now() < deadline, "a.test's record of bob's caps: {seen}, not {want}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn publish_tune(title: &str) -> String {
    format!(
        "<pubsub xmlns='{PUBSUB}'><publish node='{TUNE}'><item><tune xmlns='{TUNE}'>\
         <artist>Yes</artist><title>{title}</title></tune></item></publish></pubsub>"
    )
}

/// The tune title a PEP event message carries from alice.
fn tune_title(m: &Element) -> Option<String> {
    if m.name != "message" || m.attr("from") != Some("alice@a.test") {
        return None;
    }
    let items = m.child("event", EVENT)?.child("items", EVENT)?;
    if items.attr("node") != Some(TUNE) {
        return None;
    }
    let tune = items.child("item", EVENT)?.child("tune", TUNE)?;
    tune.child("title", TUNE).map(Element::text)
}

#[tokio::test]
async fn a_remote_contact_hears_of_a_tune_and_gets_the_newest_on_coming_back() {
    tokio::time::timeout(TEST_BOUND, async {
        let (a, b) = pair();
        let (_la, _lb) = (a.log_on_panic(), b.log_on_panic());
        let mut alice = login(&a, "alice@a.test").await;
        alice.available(0).await;
        let mut bob = Bob { c: login(&b, "bob@b.test").await, features: tune_listener() };
        bob.send_presence_with_caps().await;
        bob.next_where("bob's own presence", |e| is_presence(e, None, "bob@b.test")).await;
        subscribe(&mut alice, &mut bob, true).await;

        // a.test asked bob's client across servers and believed the answer.
        until_record(&mut alice, &mut bob, "true").await;

        let r = alice.iq("set", None, &publish_tune("Heart of the Sunrise")).await;
        assert_eq!(r.attr("type"), Some("result"), "{r}");
        let m = bob.next_where("alice's tune", |e| tune_title(e).is_some()).await;
        assert_eq!(tune_title(&m).as_deref(), Some("Heart of the Sunrise"), "{m}");
        assert_eq!(m.attr("to"), Some("bob@b.test/t"), "to the full JID whose caps ask: {m}");
        assert!(m.child("delay", DELAY).is_none(), "a live notification: {m}");

        // bob goes: a.test forgets his caps.
        bob.c.close().await;
        until_record_gone(&mut alice).await;

        // bob again: the newest tune, delayed, without being asked.
        let mut bob = Bob { c: login(&b, "bob@b.test").await, features: tune_listener() };
        bob.send_presence_with_caps().await;
        let m = bob.next_where("the newest tune", |e| tune_title(e).is_some()).await;
        assert_eq!(tune_title(&m).as_deref(), Some("Heart of the Sunrise"), "{m}");
        assert!(m.child("delay", DELAY).is_some_and(|d| d.attr("from") == Some("alice@a.test")), "{m}");

        // And the next one live.
        let r = alice.iq("set", None, &publish_tune("Roundabout")).await;
        assert_eq!(r.attr("type"), Some("result"), "{r}");
        let m = bob.next_where("alice's next tune", |e| tune_title(e).is_some()).await;
        assert_eq!(tune_title(&m).as_deref(), Some("Roundabout"), "{m}");
    })
    .await
    .expect("the test took too long");
}

/// Waits until a.test no longer has a record of bob/t.
async fn until_record_gone(alice: &mut RawClient) {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let seen = caps_record(alice, "bob@b.test/t").await;
        if seen == "item-not-found" {
            return;
        }
        assert!(Instant::now() < deadline, "bob's caps still recorded after he left: {seen}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_remote_contact_that_does_not_see_alices_presence_hears_nothing() {
    tokio::time::timeout(TEST_BOUND, async {
        let (a, b) = pair();
        let (_la, _lb) = (a.log_on_panic(), b.log_on_panic());
        let mut alice = login(&a, "alice@a.test").await;
        alice.available(0).await;
        let mut bob = Bob { c: login(&b, "bob@b.test").await, features: tune_listener() };
        bob.send_presence_with_caps().await;
        bob.next_where("bob's own presence", |e| is_presence(e, None, "bob@b.test")).await;
        // alice sees bob's presence, caps and all; bob does not see hers.
        subscribe(&mut alice, &mut bob, false).await;
        until_record(&mut alice, &mut bob, "true").await;

        let r = alice.iq("set", None, &publish_tune("Owner of a Lonely Heart")).await;
        assert_eq!(r.attr("type"), Some("result"), "{r}");
        // After the publish, on the same way from a.test to bob.
        alice.send("<message to='bob@b.test/t' type='chat'><body>marker</body></message>").await;
        let seen = bob.c.until("alice's marker", |e| e.name == "message" && body(e) == "marker").await;
        assert!(!seen.iter().any(|e| tune_title(e).is_some()), "bob got alice's tune: {seen:?}");
    })
    .await
    .expect("the test took too long");
}

#[tokio::test]
async fn after_a_restart_the_probe_answer_brings_a_remote_contact_back() {
    tokio::time::timeout(TEST_BOUND, async {
        let (mut a, b) = pair();
        let _lb = b.log_on_panic();
        let mut bob = Bob { c: login(&b, "bob@b.test").await, features: tune_listener() };
        bob.send_presence_with_caps().await;
        bob.next_where("bob's own presence", |e| is_presence(e, None, "bob@b.test")).await;
        {
            let _la = a.log_on_panic();
            let mut alice = login(&a, "alice@a.test").await;
            alice.available(0).await;
            subscribe(&mut alice, &mut bob, true).await;
            until_record(&mut alice, &mut bob, "true").await;
            let r = alice.iq("set", None, &publish_tune("Long Distance Runaround")).await;
            assert_eq!(r.attr("type"), Some("result"), "{r}");
            bob.next_where("the tune before the restart", |e| tune_title(e).is_some()).await;
        }
        // a.test forgets everyone's presence; bob's server does not know.
        a.terminate();
        a.launch();
        let _la = a.log_on_panic();
        let mut alice = login(&a, "alice@a.test").await;
        // alice's initial presence probes bob, whose server answers to her
        // full JID: a.test knows bob again, and bob gets the newest tune.
        alice.send("<presence/>").await;
        alice.next_where("bob's presence, answering the probe", |e| is_presence(e, None, "bob@b.test")).await;
        let m = bob.next_where("the newest tune", |e| tune_title(e).is_some()).await;
        assert_eq!(tune_title(&m).as_deref(), Some("Long Distance Runaround"), "{m}");
        assert!(m.child("delay", DELAY).is_some(), "{m}");
        let r = alice.iq("set", None, &publish_tune("South Side of the Sky")).await;
        assert_eq!(r.attr("type"), Some("result"), "{r}");
        let m = bob.next_where("the tune after the restart", |e| tune_title(e).is_some()).await;
        assert_eq!(tune_title(&m).as_deref(), Some("South Side of the Sky"), "{m}");
        assert!(m.child("delay", DELAY).is_none(), "{m}");
    })
    .await
    .expect("the test took too long");
}
