//! BOSH (XEP-0124, XEP-0206) at `/http-bind`: a session from creation to
//! terminate, a held request carrying a stanza, a repeated request getting
//! the same stanzas again, and the errors of bad requests.

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use base64::Engine as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::time::timeout;
use waxwing_tests::{Element, RawClient, Server, body, shared};

const PW: &str = "bosh-pw";
const HTTPBIND: &str = "http://jabber.org/protocol/httpbind";
const WAIT: Duration = Duration::from_secs(15);

fn server() -> &'static Server {
    static S: OnceLock<Server> = OnceLock::new();
    // One account per test: a second login with the same resource replaces the first.
    shared(
        &S,
        "",
        &[
            ("bea@localhost", PW),
            ("tim@localhost", PW),
            ("zed@localhost", PW),
            ("una@localhost", PW),
            ("cal@localhost", PW),
            ("pia@localhost", PW),
            ("ace@localhost", PW),
        ],
    )
}

/// One HTTP request on its own connection; returns (status line, headers, body).
async fn http(addr: SocketAddr, method: &str, payload: &str) -> (String, String, String) {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "{method} /http-bind HTTP/1.1\r\nHost: localhost\r\nOrigin: http://page.example\r\n\
         Content-Type: text/xml; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{payload}",
        payload.len()
    );
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    timeout(WAIT, tcp.read_to_string(&mut out)).await.expect("an HTTP answer in time").unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    let (status, headers) = head.split_once("\r\n").unwrap_or((head, ""));
    (status.to_string(), headers.to_ascii_lowercase(), body.to_string())
}

async fn post(addr: SocketAddr, payload: &str) -> Element {
    let (status, _, body) = http(addr, "POST", payload).await;
    assert!(status.contains("200"), "{status}: {body}");
    let el = Element::parse(&body).unwrap_or_else(|e| panic!("not XML: {body:?}: {e}"));
    assert!(el.is("body", HTTPBIND), "{el}");
    el
}

struct Bosh {
    addr: SocketAddr,
    sid: String,
    rid: u64,
}

impl Bosh {
    fn next(&mut self, attrs: &str, payload: &str) -> String {
        self.rid += 1;
        format!("<body xmlns='{HTTPBIND}' rid='{}' sid='{}'{attrs}>{payload}</body>", self.rid, self.sid)
    }

    async fn send(&mut self, attrs: &str, payload: &str) -> Element {
        let req = self.next(attrs, payload);
        post(self.addr, &req).await
    }

    /// Empty requests until one brings an element that `pred` accepts.
    async fn until(&mut self, what: &str, pred: impl Fn(&Element) -> bool) -> Element {
        for _ in 0..10 {
            let b = self.send("", "").await;
            if let Some(el) = b.elements().find(|e| pred(e)) {
                return el.clone();
            }
        }
        panic!("no {what} in 10 requests");
    }
}

/// Creates a session, logs in with PLAIN, restarts and binds `web`.
async fn login(addr: SocketAddr, user: &str) -> Bosh {
    let created = post(
        addr,
        &format!(
            "<body xmlns='{HTTPBIND}' rid='1000' to='localhost' wait='2' hold='1' ver='1.11' xml:lang='en' \
             xmpp:version='1.0' xmlns:xmpp='urn:xmpp:xbosh'/>"
        ),
    )
    .await;
    let sid = created.attr("sid").unwrap_or_else(|| panic!("no sid: {created}")).to_string();
    assert_eq!(created.attr("from"), Some("localhost"));
    assert!(created.attr("authid").is_some_and(|a| !a.is_empty()), "{created}");
    assert_eq!(created.attr("hold"), Some("1"));
    let features =
        created.child("features", "http://etherx.jabber.org/streams").expect("features in the first response");
    assert!(features.child("mechanisms", "urn:ietf:params:xml:ns:xmpp-sasl").is_some(), "{features}");
    let mut b = Bosh { addr, sid, rid: 1000 };
    let creds = base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{PW}"));
    let auth = format!("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{creds}</auth>");
    let r = b.send("", &auth).await;
    let ok = match r.child("success", "urn:ietf:params:xml:ns:xmpp-sasl") {
        Some(_) => true,
        None => b.until("the SASL success", |e| e.name == "success").await.name == "success",
    };
    assert!(ok);
    let r = b.send(" xmpp:restart='true' xmlns:xmpp='urn:xmpp:xbosh'", "").await;
    let features = match r.child("features", "http://etherx.jabber.org/streams") {
        Some(f) => f.clone(),
        None => b.until("the features after restart", |e| e.name == "features").await,
    };
    assert!(features.child("bind", "urn:ietf:params:xml:ns:xmpp-bind").is_some(), "{features}");
    let bind = "<iq xmlns='jabber:client' type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>web</resource></bind></iq>";
    let r = b.send("", bind).await;
    let result = match r.elements().find(|e| e.name == "iq") {
        Some(iq) => iq.clone(),
        None => b.until("the bind result", |e| e.name == "iq").await,
    };
    assert_eq!(result.attr("type"), Some("result"), "{result}");
    b
}

#[tokio::test]
async fn a_bosh_client_logs_in_chats_and_terminates() {
    let s = server();
    let _log = s.log_on_panic();
    let mut b = login(s.http_addr(), "bea").await;
    b.send("", "<presence xmlns='jabber:client'/>").await;
    let mut tim = RawClient::login(s, "tim@localhost", PW).await;
    tim.available(0).await;
    tim.send("<message to='bea@localhost/web' type='chat'><body>held for you</body></message>").await;
    let m = b.until("tim's message", |e| e.name == "message" && body(e) == "held for you").await;
    assert!(m.attr("from").is_some_and(|f| f.starts_with("tim@localhost/")), "{m}");
    assert_eq!(m.ns, "jabber:client");
    b.send("", "<message xmlns='jabber:client' to='tim@localhost' type='chat'><body>posted</body></message>").await;
    let m = tim.next_message().await;
    assert_eq!(body(&m), "posted");
    assert_eq!(m.attr("from"), Some("bea@localhost/web"));
    let end = b.send(" type='terminate'", "<presence xmlns='jabber:client' type='unavailable'/>").await;
    assert_eq!(end.attr("type"), Some("terminate"));
    // The session is gone.
    let gone = b.send("", "").await;
    assert_eq!((gone.attr("type"), gone.attr("condition")), (Some("terminate"), Some("item-not-found")));
}

#[tokio::test]
async fn a_repeated_request_gets_the_same_stanzas_again() {
    let s = server();
    let _log = s.log_on_panic();
    let mut b = login(s.http_addr(), "zed").await;
    let mut tim = RawClient::login(s, "tim@localhost", PW).await;
    tim.send("<message to='zed@localhost/web' type='chat'><body>do not lose me</body></message>").await;
    // Find the request that carried the message, then send that very request again.
    let mut carried = None;
    for _ in 0..10 {
        let req = b.next("", "");
        let r = post(b.addr, &req).await;
        if r.elements().any(|e| body(e) == "do not lose me") {
            carried = Some(req);
            break;
        }
    }
    let req = carried.expect("the message arrived");
    let again = post(b.addr, &req).await;
    assert!(again.elements().any(|e| body(e) == "do not lose me"), "the replay lost the stanza: {again}");
}

#[tokio::test]
async fn bad_requests_get_their_conditions_and_cors_is_answered() {
    let s = server();
    let addr = s.http_addr();
    let cases = [
        ("not xml at all".to_string(), "bad-request"),
        ("<body xmlns='urn:wrong' rid='1'/>".to_string(), "bad-request"),
        (format!("<body xmlns='{HTTPBIND}' to='localhost'/>"), "bad-request"),
        (format!("<body xmlns='{HTTPBIND}' rid='5' sid='no-such-session'/>"), "item-not-found"),
        (format!("<body xmlns='{HTTPBIND}' rid='5'/>"), "improper-addressing"),
    ];
    for (payload, condition) in cases {
        let r = post(addr, &payload).await;
        assert_eq!((r.attr("type"), r.attr("condition")), (Some("terminate"), Some(condition)), "{payload}: {r}");
    }
    // A session for a host not served here ends with the stream's error.
    let r = post(addr, &format!("<body xmlns='{HTTPBIND}' rid='7' to='elsewhere.example' wait='5' hold='1'/>")).await;
    assert_eq!(r.attr("type"), Some("terminate"), "{r}");
    assert!(r.to_xml().contains("host-unknown"), "{r}");
    // A rid far ahead of the session's ends it.
    let mut b = login(addr, "cal").await;
    b.rid += 10;
    let r = b.send("", "").await;
    assert_eq!(r.attr("condition"), Some("item-not-found"), "{r}");
    let (status, headers, _) = http(addr, "OPTIONS", "").await;
    assert!(status.contains("200"), "{status}");
    assert!(headers.contains("access-control-allow-origin: *"), "{headers}");
    assert!(headers.contains("access-control-allow-headers: content-type"), "{headers}");
    // The server serves on.
    let mut tim = RawClient::login(s, "tim@localhost", PW).await;
    let pong = tim.iq("get", Some("localhost"), "<ping xmlns='urn:xmpp:ping'/>").await;
    assert_eq!(pong.attr("type"), Some("result"));
}

#[tokio::test]
async fn a_request_that_overtakes_the_one_before_it_waits_its_turn() {
    let s = server();
    let _log = s.log_on_panic();
    let mut b = login(s.http_addr(), "una").await;
    let mut tim = RawClient::login(s, "tim@localhost", PW).await;
    tim.available(0).await;
    let first =
        b.next("", "<message xmlns='jabber:client' to='tim@localhost' type='chat'><body>first</body></message>");
    let second =
        b.next("", "<message xmlns='jabber:client' to='tim@localhost' type='chat'><body>second</body></message>");
    // The second request reaches the server before the first.
    let addr = b.addr;
    let late = tokio::spawn(async move { post(addr, &second).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let early = post(addr, &first).await;
    assert_ne!(early.attr("type"), Some("terminate"), "{early}");
    let late = late.await.unwrap();
    assert_ne!(late.attr("type"), Some("terminate"), "{late}");
    // Delivered in rid order, and the session goes on.
    assert_eq!(body(&tim.next_message().await), "first");
    assert_eq!(body(&tim.next_message().await), "second");
    let next = b.send("", "").await;
    assert_ne!(next.attr("type"), Some("terminate"), "{next}");
}

#[tokio::test]
async fn a_pause_answers_held_requests_at_once_and_the_session_goes_on() {
    let s = server();
    let _log = s.log_on_panic();
    let mut b = login(s.http_addr(), "pia").await;
    b.send("", "<presence xmlns='jabber:client'/>").await;
    // A request held for the whole `wait`, and a pause that overtakes it.
    let held = b.next("", "");
    let addr = b.addr;
    let held = tokio::spawn(async move { post(addr, &held).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let paused = b.send(" pause='60'", "").await;
    assert_eq!(paused.attr("type"), None, "the pause is no termination: {paused}");
    assert!(held.await.unwrap().is("body", HTTPBIND));
    // What arrives during the pause waits for the client's return.
    let mut tim = RawClient::login(s, "tim@localhost", PW).await;
    tim.send("<message to='pia@localhost/web' type='chat'><body>while you were away</body></message>").await;
    let m = b.until("the message sent during the pause", |e| e.name == "message").await;
    assert_eq!(body(&m), "while you were away");
}

#[tokio::test]
async fn a_pause_beyond_maxpause_ends_the_session() {
    let s = server();
    let mut b = login(s.http_addr(), "ace").await;
    let r = b.send(" pause='121'", "").await;
    assert_eq!((r.attr("type"), r.attr("condition")), (Some("terminate"), Some("policy-violation")), "{r}");
    let gone = b.send("", "").await;
    assert_eq!(gone.attr("condition"), Some("item-not-found"), "{gone}");
}

#[tokio::test]
async fn acknowledged_responses_are_let_go() {
    let s = server();
    let addr = s.http_addr();
    let created = post(
        addr,
        &format!("<body xmlns='{HTTPBIND}' rid='2000' to='localhost' wait='1' hold='1' ack='1' ver='1.11'/>"),
    )
    .await;
    // §9.1: the connection manager says it keeps acknowledgements.
    assert_eq!(created.attr("ack"), Some("2000"), "{created}");
    assert_eq!(created.attr("maxpause"), Some("120"), "{created}");
    let sid = created.attr("sid").unwrap().to_string();
    let mut b = Bosh { addr, sid, rid: 2000 };
    let first = b.next("", "");
    post(addr, &first).await;
    // Not yet acknowledged: a repeat gets the same answer.
    assert!(post(addr, &first).await.attr("type").is_none());
    b.send(" ack='2001'", "").await;
    // Acknowledged: it is gone, and a repeat is refused.
    let again = post(addr, &first).await;
    assert_eq!(again.attr("condition"), Some("item-not-found"), "{again}");
}
