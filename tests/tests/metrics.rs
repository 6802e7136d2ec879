//! `/metrics` (Prometheus text) and `/health` on the operators' listener:
//! live counters that move with what clients do, and nothing of the web
//! clients' endpoints there (nor the metrics on theirs).

use futures_util::SinkExt as _;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use waxwing_tests::http::get;
use waxwing_tests::{RawClient, Server};

const PW: &str = "metrics-pw";

/// The value of the sample line that starts with `series` (name and labels).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find(|l| l.starts_with(series)).and_then(|l| l.rsplit(' ').next()).and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn metrics_count_sessions_stanzas_and_plugin_calls() {
    let s = Server::start_with_users("", &[("mia@localhost", PW), ("ned@localhost", PW)]);
    let _log = s.log_on_panic();
    let (status, before) = get(s.metrics_addr(), "/metrics").await;
    assert!(status.contains("200"), "{status}");
    assert_eq!(sample(&before, "waxwing_sessions{transport=\"tcp\"}"), Some(0.0), "{before}");
    assert_eq!(sample(&before, "waxwing_stanzas_total{source=\"client\",kind=\"message\"}"), Some(0.0), "{before}");

    let mut mia = RawClient::login(&s, "mia@localhost", PW).await;
    mia.available(0).await;
    let mut ned = RawClient::login(&s, "ned@localhost", PW).await;
    ned.available(0).await;
    for i in 0..3 {
        mia.send(&format!("<message to='ned@localhost' type='chat'><body>{i}</body></message>")).await;
        ned.next_message().await;
    }
    // A WebSocket session counts under its own transport.
    let mut req = format!("ws://{}/xmpp-websocket", s.http_addr()).into_client_request().unwrap();
    req.headers_mut().insert("Sec-WebSocket-Protocol", "xmpp".parse().unwrap());
    let (mut ws, _) =
        tokio_tungstenite::client_async(req, TcpStream::connect(s.http_addr()).await.unwrap()).await.unwrap();
    ws.send(Message::Text("<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'/>".into()))
        .await
        .unwrap();

    let (_, after) = get(s.metrics_addr(), "/metrics").await;
    assert_eq!(sample(&after, "waxwing_sessions{transport=\"tcp\"}"), Some(2.0), "{after}");
    assert!(
        sample(&after, "waxwing_stanzas_total{source=\"client\",kind=\"message\"}").is_some_and(|n| n >= 3.0),
        "{after}"
    );
    assert!(
        sample(&after, "waxwing_stanzas_total{source=\"client\",kind=\"presence\"}").is_some_and(|n| n >= 2.0),
        "{after}"
    );
    assert!(
        sample(&after, "waxwing_plugin_calls_total{vhost=\"localhost\",plugin=\"roster\"}").is_some_and(|n| n >= 1.0),
        "{after}"
    );
    assert!(after.contains("waxwing_plugin_call_seconds_bucket{"), "{after}");
    assert!(after.contains("# TYPE waxwing_s2s_connections gauge"), "{after}");
    assert!(after.trim_end().ends_with("# EOF"), "{after}");

    let (status, body) = get(s.metrics_addr(), "/health").await;
    assert!(status.contains("200") && body == "ok\n", "{status} {body}");
    // Each listener serves only its own paths.
    let (status, _) = get(s.metrics_addr(), "/xmpp-websocket").await;
    assert!(status.contains("404"), "{status}");
    let (status, _) = get(s.http_addr(), "/metrics").await;
    assert!(status.contains("404"), "{status}");
}
