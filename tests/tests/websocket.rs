//! XMPP over WebSocket (RFC 7395) and connection discovery (XEP-0156): a
//! WebSocket client logs in and chats with a TCP client; what a bad client
//! sends gets its stream error; host-meta names the endpoint.

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use base64::Engine as _;
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use waxwing_tests::{Element, RawClient, Server, body, shared};

const PW: &str = "ws-pw-1";
const FRAMING: &str = "urn:ietf:params:xml:ns:xmpp-framing";
const WAIT: Duration = Duration::from_secs(10);

type Ws = tokio_tungstenite::WebSocketStream<TcpStream>;

fn server() -> &'static Server {
    static S: OnceLock<Server> = OnceLock::new();
    shared(&S, "", &[("wanda@localhost", PW), ("tom@localhost", PW), ("vic@localhost", PW), ("bob@localhost", PW)])
}

async fn connect(addr: SocketAddr, protocol: Option<&str>) -> Result<Ws, String> {
    let mut req = format!("ws://{addr}/xmpp-websocket").into_client_request().unwrap();
    if let Some(p) = protocol {
        req.headers_mut().insert("Sec-WebSocket-Protocol", p.parse().unwrap());
    }
    let tcp = TcpStream::connect(addr).await.unwrap();
    match tokio_tungstenite::client_async(req, tcp).await {
        Ok((ws, resp)) => {
            assert_eq!(resp.headers().get("Sec-WebSocket-Protocol").and_then(|v| v.to_str().ok()), Some("xmpp"));
            Ok(ws)
        }
        Err(e) => Err(e.to_string()),
    }
}

async fn send(ws: &mut Ws, text: &str) {
    ws.send(Message::Text(text.into())).await.expect("sending a WebSocket message");
}

/// The next text message, parsed; `None` when the WebSocket closed.
async fn next(ws: &mut Ws) -> Option<Element> {
    loop {
        match timeout(WAIT, ws.next()).await.expect("a message within the wait") {
            Some(Ok(Message::Text(t))) => {
                return Some(Element::parse(t.as_str()).unwrap_or_else(|e| panic!("not one element: {t:?}: {e}")));
            }
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
            Some(Ok(_)) => continue,
        }
    }
}

async fn next_where(ws: &mut Ws, what: &str, pred: impl Fn(&Element) -> bool) -> Element {
    loop {
        match next(ws).await {
            Some(el) if pred(&el) => return el,
            Some(_) => continue,
            None => panic!("the WebSocket closed while waiting for {what}"),
        }
    }
}

async fn open(ws: &mut Ws) -> Element {
    send(ws, &format!("<open xmlns='{FRAMING}' to='localhost' version='1.0'/>")).await;
    let open = next(ws).await.expect("the server's <open/>");
    assert!(open.is("open", FRAMING), "{open}");
    assert_eq!(open.attr("from"), Some("localhost"));
    assert!(open.attr("id").is_some_and(|id| !id.is_empty()));
    let features = next(ws).await.expect("features");
    assert!(features.is("features", "http://etherx.jabber.org/streams"), "{features}");
    features
}

/// Opens, authenticates with PLAIN, reopens and binds; returns the full JID.
async fn login(ws: &mut Ws, user: &str) -> String {
    let features = open(ws).await;
    assert!(features.child("starttls", "urn:ietf:params:xml:ns:xmpp-tls").is_none(), "no STARTTLS: {features}");
    let creds = base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{PW}"));
    send(ws, &format!("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{creds}</auth>")).await;
    let ok = next(ws).await.expect("the SASL outcome");
    assert!(ok.is("success", "urn:ietf:params:xml:ns:xmpp-sasl"), "{ok}");
    let features = open(ws).await;
    assert!(features.child("bind", "urn:ietf:params:xml:ns:xmpp-bind").is_some(), "{features}");
    send(ws, "<iq xmlns='jabber:client' type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>web</resource></bind></iq>").await;
    let bound = next_where(ws, "the bind result", |e| e.name == "iq" && e.attr("id") == Some("b1")).await;
    bound
        .child("bind", "urn:ietf:params:xml:ns:xmpp-bind")
        .and_then(|b| b.child("jid", "urn:ietf:params:xml:ns:xmpp-bind"))
        .map(|j| j.text())
        .unwrap_or_else(|| panic!("no JID bound: {bound}"))
}

#[tokio::test]
async fn a_websocket_client_logs_in_and_chats_with_a_tcp_client() {
    let s = server();
    let _log = s.log_on_panic();
    let mut ws = connect(s.http_addr(), Some("xmpp")).await.unwrap();
    let jid = login(&mut ws, "wanda").await;
    assert_eq!(jid, "wanda@localhost/web");
    send(&mut ws, "<presence xmlns='jabber:client'/>").await;
    let mut tom = RawClient::login(s, "tom@localhost", PW).await;
    tom.available(0).await;
    tom.send("<message to='wanda@localhost/web' type='chat'><body>over tcp</body></message>").await;
    let m = next_where(&mut ws, "tom's message", |e| e.name == "message").await;
    assert_eq!(m.ns, "jabber:client", "each stanza declares its namespace: {m}");
    assert_eq!(body(&m), "over tcp");
    send(
        &mut ws,
        "<message xmlns='jabber:client' to='tom@localhost' type='chat'><body>over websocket</body></message>",
    )
    .await;
    let m = tom.next_message().await;
    assert_eq!(body(&m), "over websocket");
    assert_eq!(m.attr("from"), Some("wanda@localhost/web"));
    // A ping to the server is answered over the same socket.
    send(&mut ws, "<iq xmlns='jabber:client' type='get' id='p1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
        .await;
    let pong = next_where(&mut ws, "the pong", |e| e.name == "iq" && e.attr("id") == Some("p1")).await;
    assert_eq!(pong.attr("type"), Some("result"));
    // RFC 7395 §3.6: <close/> is answered with <close/>.
    send(&mut ws, &format!("<close xmlns='{FRAMING}'/>")).await;
    let close = next_where(&mut ws, "the server's close", |e| e.is("close", FRAMING)).await;
    assert!(close.is("close", FRAMING));
}

#[tokio::test]
async fn without_the_xmpp_subprotocol_the_upgrade_is_refused() {
    let s = server();
    let err = connect(s.http_addr(), None).await.expect_err("refused");
    assert!(err.contains("400"), "{err}");
    let err = connect(s.http_addr(), Some("chat")).await.expect_err("refused");
    assert!(err.contains("400"), "{err}");
}

async fn expect_stream_error(ws: &mut Ws, condition: &str) {
    let err = next_where(ws, "the stream error", |e| e.name == "error").await;
    assert!(err.is("error", "http://etherx.jabber.org/streams"), "{err}");
    let first = err.first_element().map(|c| c.name.clone()).unwrap_or_default();
    assert_eq!(first, condition, "{err}");
    let close = next(ws).await;
    assert!(close.as_ref().is_none_or(|c| c.is("close", FRAMING)), "after the error: {close:?}");
}

#[tokio::test]
async fn bad_input_gets_its_stream_error_and_the_server_serves_on() {
    let s = server();
    let _log = s.log_on_panic();
    let mut vic = RawClient::login(s, "vic@localhost", PW).await;
    let max = 256 * 1024;
    let cases: Vec<(Vec<Message>, &str)> = vec![
        (
            vec![Message::Text(
                "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='nowhere.example' version='1.0'/>".into(),
            )],
            "host-unknown",
        ),
        (
            vec![Message::Text("<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost'/>".into())],
            "unsupported-version",
        ),
        (
            vec![
                Message::Text(format!("<open xmlns='{FRAMING}' to='localhost' version='1.0'/>").into()),
                Message::Text("<a><b></a>".into()),
            ],
            "not-well-formed",
        ),
        (
            vec![
                Message::Text(format!("<open xmlns='{FRAMING}' to='localhost' version='1.0'/>").into()),
                Message::Text("<message xmlns='jabber:client' to='a@localhost'/>".into()),
            ],
            "not-authorized",
        ),
        (
            vec![
                Message::Text(format!("<open xmlns='{FRAMING}' to='localhost' version='1.0'/>").into()),
                Message::Text(
                    format!("<message xmlns='jabber:client'><body>{}</body></message>", "x".repeat(max + 10)).into(),
                ),
            ],
            "policy-violation",
        ),
    ];
    for (messages, condition) in cases {
        let mut ws = connect(s.http_addr(), Some("xmpp")).await.unwrap();
        for m in messages {
            let _ = ws.send(m).await;
        }
        expect_stream_error(&mut ws, condition).await;
        let pong = vic.iq("get", Some("localhost"), "<ping xmlns='urn:xmpp:ping'/>").await;
        assert_eq!(pong.attr("type"), Some("result"), "the server still serves after {condition}");
    }
}

async fn http_get(addr: SocketAddr, path: &str) -> String {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    // As a browser page on another origin asks.
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: chat.example:5280\r\nOrigin: http://page.example\r\nConnection: close\r\n\r\n"
    );
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    timeout(WAIT, tcp.read_to_string(&mut out)).await.expect("an answer").unwrap();
    out
}

#[tokio::test]
async fn host_meta_names_the_websocket_endpoint_for_any_origin() {
    let s = server();
    let xrd = http_get(s.http_addr(), "/.well-known/host-meta").await;
    assert!(xrd.starts_with("HTTP/1.1 200"), "{xrd}");
    assert!(xrd.to_ascii_lowercase().contains("access-control-allow-origin: *"), "{xrd}");
    assert!(xrd.contains("<XRD xmlns='http://docs.oasis-open.org/ns/xri/xrd-1.0'>"), "{xrd}");
    assert!(
        xrd.contains("rel='urn:xmpp:alt-connections:websocket' href='ws://chat.example:5280/xmpp-websocket'"),
        "{xrd}"
    );
    let json = http_get(s.http_addr(), "/.well-known/host-meta.json").await;
    let body = json.split("\r\n\r\n").nth(1).unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {json}"));
    assert_eq!(v["links"][0]["rel"], "urn:xmpp:alt-connections:websocket");
    assert_eq!(v["links"][0]["href"], "ws://chat.example:5280/xmpp-websocket");
    assert_eq!(v["links"][1]["rel"], "urn:xmpp:alt-connections:xbosh");
    assert_eq!(v["links"][1]["href"], "http://chat.example:5280/http-bind");
    let health = http_get(s.http_addr(), "/health").await;
    assert!(health.starts_with("HTTP/1.1 200") && health.ends_with("ok\n"), "{health}");
    let missing = http_get(s.http_addr(), "/nothing-here").await;
    assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
}

#[tokio::test]
async fn a_binary_frame_closes_the_websocket_with_unsupported_data() {
    let s = server();
    let mut ws = connect(s.http_addr(), Some("xmpp")).await.unwrap();
    open(&mut ws).await;
    ws.send(Message::Binary(vec![1, 2, 3].into())).await.unwrap();
    let code = loop {
        match timeout(WAIT, ws.next()).await.expect("the close within the wait") {
            Some(Ok(Message::Close(frame))) => break frame.map(|f| u16::from(f.code)),
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(code, Some(1003));
}

#[tokio::test]
async fn configured_origins_limit_which_pages_may_connect() {
    let s = Server::start(
        "[http]\ncors_origins = [\"https://chat.example.org\"]\nwebsocket_origins = [\"https://chat.example.org\"]\n",
    );
    let _log = s.log_on_panic();
    let ask = |origin: &'static str| {
        let addr = s.http_addr();
        async move {
            let mut tcp = TcpStream::connect(addr).await.unwrap();
            let req = format!(
                "GET /.well-known/host-meta HTTP/1.1\r\nHost: localhost\r\nOrigin: {origin}\r\nConnection: close\r\n\r\n"
            );
            tcp.write_all(req.as_bytes()).await.unwrap();
            let mut out = String::new();
            timeout(WAIT, tcp.read_to_string(&mut out)).await.expect("an answer").unwrap();
            out.to_ascii_lowercase()
        }
    };
    let good = ask("https://chat.example.org").await;
    assert!(good.contains("access-control-allow-origin: https://chat.example.org"), "{good}");
    assert!(good.contains("vary: origin"), "{good}");
    let other = ask("https://evil.example").await;
    assert!(!other.contains("access-control-allow-origin"), "{other}");

    let ws = |origin: Option<&'static str>| {
        let addr = s.http_addr();
        async move {
            let mut req = format!("ws://{addr}/xmpp-websocket").into_client_request().unwrap();
            req.headers_mut().insert("Sec-WebSocket-Protocol", "xmpp".parse().unwrap());
            if let Some(o) = origin {
                req.headers_mut().insert("Origin", o.parse().unwrap());
            }
            let tcp = TcpStream::connect(addr).await.unwrap();
            tokio_tungstenite::client_async(req, tcp).await.map(|_| ()).map_err(|e| e.to_string())
        }
    };
    assert!(ws(Some("https://chat.example.org")).await.is_ok());
    let refused = ws(Some("https://evil.example")).await.expect_err("another page's origin is refused");
    assert!(refused.contains("403"), "{refused}");
    assert!(ws(None).await.is_ok(), "no Origin: not a browser page, not restricted");
}

#[tokio::test]
async fn a_server_that_moved_sends_clients_to_the_other_endpoint() {
    let s = Server::start("[http]\nwebsocket_redirect = \"wss://xmpp.example.org/xmpp-websocket\"\n");
    let _log = s.log_on_panic();
    let mut ws = connect(s.http_addr(), Some("xmpp")).await.unwrap();
    send(&mut ws, &format!("<open xmlns='{FRAMING}' to='localhost' version='1.0'/>")).await;
    // RFC 7395 §3.6.1: the stream opens, then closes with where to go.
    let open = next(&mut ws).await.expect("the server's <open/>");
    assert!(open.is("open", FRAMING) && open.attr("from") == Some("localhost"), "{open}");
    let close = next(&mut ws).await.expect("the server's <close/>");
    assert!(close.is("close", FRAMING), "{close}");
    assert_eq!(close.attr("see-other-uri"), Some("wss://xmpp.example.org/xmpp-websocket"));
    assert!(next(&mut ws).await.is_none(), "nothing after the close");
    // No session was started.
    let stats = s.log_text();
    assert!(!stats.contains("authenticated"), "{stats}");
}

#[tokio::test]
async fn a_redirect_that_is_not_a_websocket_url_is_refused_by_name() {
    let s = Server::configure("[http]\nwebsocket_redirect = \"https://xmpp.example.org/\"\n");
    let out = waxwing_tests::waxwing(&["check-config", &s.config_path().to_string_lossy()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("http.websocket_redirect") && err.contains("wss://"), "{err}");
}
