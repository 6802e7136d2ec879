//! XMPP over WebSocket (RFC 7395): each message one element, `<open/>` and
//! `<close/>` for the stream's start and end.
//!
//! The WebSocket is bridged to the classic byte stream, so the client is
//! negotiated and served by the same code as a TCP client (`c2s/`): what it
//! sends becomes stream bytes (`<open/>` a stream header, `<close/>` the end
//! tag, anything else passed on as it is, so every XML rule and limit is
//! the TCP stream's), and what the server writes is read back one element
//! at a time and sent as one message each, with its namespace declared.

use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::io::{AsyncWriteExt as _, DuplexStream, ReadHalf, WriteHalf};
use tokio::sync::mpsc;
use waxwing_xml::{Element, escape_attr, ns};

use super::{Connection, Http};
use crate::xml::{StreamEvent, StreamLimits, StreamReader};

pub const FRAMING: &str = "urn:ietf:params:xml:ns:xmpp-framing";

/// The bytes between the bridge and the c2s stream; a stanza larger than
/// this simply takes several writes.
const PIPE_BYTES: usize = 16 * 1024;
/// A client that does not answer our close is dropped after this long.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

pub async fn upgrade(
    State(http): State<Arc<Http>>,
    Extension(conn): Extension<Connection>,
    headers: axum::http::HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if let Some(origin) = headers.get(axum::http::header::ORIGIN).and_then(|o| o.to_str().ok())
        && !super::cors::allowed(&http.c2s.config.http.websocket_origins, origin)
    {
        return (StatusCode::FORBIDDEN, "this page's origin may not open XMPP WebSockets here\n").into_response();
    }
    let ws = ws.protocols(["xmpp"]);
    if ws.selected_protocol().is_none() {
        return (StatusCode::BAD_REQUEST, "RFC 7395: ask for the WebSocket subprotocol 'xmpp'\n").into_response();
    }
    if !conn.secure() {
        return (StatusCode::FORBIDDEN, "XMPP over WebSocket needs TLS here: use wss://\n").into_response();
    }
    // Room for a stanza at the limit and then some: the stream parser
    // refuses an oversized stanza with <policy-violation/>, which a
    // WebSocket-level refusal could not say.
    let max = http.c2s.config.limits.max_stanza_bytes * 2 + 4096;
    // tungstenite's defaults buffer 128 KiB each way per connection; most
    // sessions idle, and a message is one stanza at most.
    ws.read_buffer_size(4096)
        .write_buffer_size(0)
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| bridge(http, socket, conn))
}

async fn bridge(http: Arc<Http>, socket: WebSocket, conn: Connection) {
    let (server_side, bridge_side) = tokio::io::duplex(PIPE_BYTES);
    tokio::spawn(crate::c2s::serve_secure(
        http.c2s.clone(),
        Box::new(server_side),
        conn.peer,
        crate::c2s::Transport::WebSocket,
    ));
    let (from_server, to_server) = tokio::io::split(bridge_side);
    let (mut ws_out, ws_in) = socket.split();
    let limits = {
        let l = &http.c2s.config.limits;
        // The server's own output: trusted, but read with the same parser.
        StreamLimits { max_stanza_bytes: l.max_stanza_bytes * 4, max_depth: l.max_depth * 2, max_attributes: 1024 }
    };
    // Both directions may write to the client (the inbound side only to
    // close it), so writes go through one queue.
    let (out_tx, mut out_rx) = mpsc::channel::<Message>(16);
    let writer = async move {
        while let Some(m) = out_rx.recv().await {
            let last = matches!(m, Message::Close(_));
            if ws_out.send(m).await.is_err() || last {
                break;
            }
        }
        let _ = ws_out.close().await;
    };
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let both = async {
        tokio::join!(client_to_server(ws_in, to_server, out_tx.clone()), writer, async {
            server_to_client(from_server, out_tx, limits).await;
            let _ = done_tx.send(());
        })
    };
    tokio::select! {
        _ = both => {}
        _ = async {
            let _ = done_rx.await;
            tokio::time::sleep(CLOSE_GRACE).await;
        } => tracing::debug!(peer = %conn.peer, "WebSocket client did not close; dropped"),
    }
}

/// What the client sends, as stream bytes.
async fn client_to_server(
    mut ws_in: futures_util::stream::SplitStream<WebSocket>,
    mut to_server: WriteHalf<DuplexStream>,
    out: mpsc::Sender<Message>,
) {
    while let Some(Ok(msg)) = ws_in.next().await {
        let bytes = match msg {
            Message::Text(text) => translate_in(text.as_str()),
            Message::Binary(_) => {
                // RFC 7395 §3.2: text frames only. 1003: "unsupported data".
                let frame = CloseFrame { code: 1003, reason: "XMPP over WebSocket uses text frames".into() };
                let _ = out.send(Message::Close(Some(frame))).await;
                break;
            }
            Message::Close(_) => break,
            Message::Ping(_) | Message::Pong(_) => continue,
        };
        if to_server.write_all(bytes.as_bytes()).await.is_err() {
            break;
        }
    }
    let _ = to_server.shutdown().await;
}

/// `<open/>` becomes a stream header and `<close/>` the end tag; anything
/// else goes through unchanged for the stream parser to judge.
fn translate_in(text: &str) -> String {
    let trimmed = text.trim_start();
    if (trimmed.starts_with("<open") || trimmed.starts_with("<close"))
        && let Ok(el) = Element::parse(trimmed)
        && el.ns == FRAMING
    {
        if el.name == "close" {
            return "</stream:stream>".into();
        }
        if el.name == "open" {
            return super::client_header(&el);
        }
    }
    text.to_string()
}

/// What the server writes, one element per message.
async fn server_to_client(from_server: ReadHalf<DuplexStream>, out: mpsc::Sender<Message>, limits: StreamLimits) {
    let mut reader = StreamReader::new(from_server, limits);
    loop {
        let text = match reader.next().await {
            Ok(StreamEvent::Open(h)) => {
                let mut open = format!("<open xmlns='{FRAMING}'");
                for (k, v) in &h.attrs {
                    if matches!(k.as_str(), "from" | "to" | "id" | "version" | "xml:lang") {
                        open.push_str(&format!(" {k}='{}'", escape_attr(v)));
                    }
                }
                open.push_str("/>");
                open
            }
            Ok(StreamEvent::Stanza(el)) => {
                // After SASL success the server starts a new document.
                if el.is("success", ns::SASL) {
                    reader = reader.restart();
                }
                super::standalone(&el)
            }
            Ok(StreamEvent::Keepalive) => continue,
            Ok(StreamEvent::Close) | Err(_) => {
                let _ = out.send(Message::Text(format!("<close xmlns='{FRAMING}'/>").into())).await;
                let _ = out.send(Message::Close(None)).await;
                return;
            }
        };
        if out.send(Message::Text(text.into())).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_and_close_become_the_stream_s_header_and_end() {
        let h = translate_in("<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'/>");
        assert_eq!(
            h,
            "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>"
        );
        assert_eq!(translate_in(" <close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>"), "</stream:stream>");
        // Not the framing namespace: passed on, for the stream to judge.
        assert_eq!(translate_in("<open xmlns='urn:example'/>"), "<open xmlns='urn:example'/>");
        let stanza = "<message xmlns='jabber:client' to='a@b'><body>x</body></message>";
        assert_eq!(translate_in(stanza), stanza);
    }

    #[test]
    fn features_keep_the_stream_prefix() {
        let f = Element::new("features", ns::STREAMS).with_child(
            Element::new("mechanisms", ns::SASL).with_child(Element::new("mechanism", ns::SASL).with_text("PLAIN")),
        );
        assert_eq!(
            crate::http::standalone(&f),
            "<stream:features xmlns:stream='http://etherx.jabber.org/streams'>\
             <mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>"
        );
        let m = Element::new("message", ns::CLIENT).with_child(Element::new("body", ns::CLIENT).with_text("hi"));
        assert_eq!(crate::http::standalone(&m), "<message xmlns='jabber:client'><body>hi</body></message>");
    }
}
