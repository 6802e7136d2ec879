//! XMPP over WebSocket (RFC 7395): each message one element, `<open/>` and
//! `<close/>` for the stream's start and end.
//!
//! The WebSocket is the byte stream of a client served by the same code as
//! a TCP client (`c2s/`): [`WsStream`] reads each client message as stream
//! bytes (`<open/>` a stream header, `<close/>` the end tag, anything else
//! passed on as it is, so every XML rule and limit is the TCP stream's),
//! and cuts what the server writes into its top-level elements
//! (`stream::pieces`), sent one message each with the namespace it relied
//! on declared. No pipe, no second parser and no task of its own between
//! them: an idle session holds the socket's buffers and the c2s session's.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Extension;
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use waxwing_xml::{Element, escape_attr, ns};

use super::{Connection, Http};
use crate::stream::pieces::{self, Piece, Splitter};

pub const FRAMING: &str = "urn:ietf:params:xml:ns:xmpp-framing";

/// A client that does not answer our close is dropped after this long.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

pub async fn upgrade(
    State(http): State<Arc<Http>>,
    Extension(conn): Extension<Connection>,
    headers: axum::http::HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if let Some(origin) = headers.get(axum::http::header::ORIGIN).and_then(|o| o.to_str().ok())
        && !super::cors::allowed(&http.c2s.config().http.websocket_origins, origin)
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
    let max = http.c2s.config().limits.max_stanza_bytes * 2 + 4096;
    // tungstenite's defaults buffer 128 KiB each way per connection. Most
    // sessions idle, and a message is one stanza at most: the read buffer,
    // held for the connection's life, takes a typical stanza in one read (a
    // larger one takes several), and writes go straight to the socket.
    let ws = ws.read_buffer_size(1024).write_buffer_size(0).max_message_size(max).max_frame_size(max);
    if let Some(uri) = http.c2s.config().http.websocket_redirect.clone() {
        return ws.on_upgrade(move |socket| redirect(http, socket, uri));
    }
    ws.on_upgrade(move |socket| {
        // The upgrade's own task serves the stream.
        crate::c2s::serve_secure(
            http.c2s.clone(),
            Box::new(WsStream::new(socket)),
            conn.peer,
            crate::c2s::Transport::WebSocket,
        )
    })
}

/// The WebSocket as a client's byte stream, for the c2s code.
struct WsStream {
    /// `None` once handed to [`linger`].
    ws: Option<WebSocket>,
    /// The client's current message as stream bytes, and how much of it
    /// the stream has read (let go of once read).
    input: Vec<u8>,
    read: usize,
    /// The client is done: it closed, went away, or broke the framing.
    read_done: bool,
    /// What the server wrote, cut into elements.
    splitter: Splitter,
    /// Messages for the client not yet taken by the socket.
    queue: VecDeque<Message>,
    /// Our close frame is queued: nothing more goes out.
    closing: bool,
}

fn broken(e: axum::Error) -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, e)
}

impl WsStream {
    fn new(ws: WebSocket) -> Self {
        WsStream {
            ws: Some(ws),
            input: Vec::new(),
            read: 0,
            read_done: false,
            splitter: Splitter::default(),
            queue: VecDeque::new(),
            closing: false,
        }
    }

    /// Queues `<close/>` (unless `frame` says why not) and the close frame.
    fn close(&mut self, frame: Option<CloseFrame>) {
        if self.closing {
            return;
        }
        self.closing = true;
        if frame.is_none() {
            self.queue.push_back(Message::Text(format!("<close xmlns='{FRAMING}'/>").into()));
        }
        self.queue.push_back(Message::Close(frame));
    }

    /// What the server wrote, as messages.
    fn server_wrote(&mut self, bytes: &[u8]) {
        let queue = &mut self.queue;
        let mut ended = false;
        let cut = self.splitter.push(bytes, |piece| match piece {
            Piece::Header(tag) => queue.push_back(Message::Text(open(&tag).into())),
            Piece::Element(xml) => queue.push_back(Message::Text(as_document(xml).into())),
            Piece::End => ended = true,
        });
        if let Err(e) = cut {
            tracing::warn!("closing a WebSocket: the server's output is not XML ({})", e.0);
            ended = true;
        }
        if ended {
            self.close(None);
        }
    }

    /// Hands the queued messages to the socket, as far as it takes them.
    fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Some(ws) = self.ws.as_mut() else { return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into())) };
        while !self.queue.is_empty() {
            ready!(ws.poll_ready_unpin(cx)).map_err(broken)?;
            if let Some(m) = self.queue.pop_front() {
                ws.start_send_unpin(m).map_err(broken)?;
            }
        }
        // An idle session holds no queue.
        self.queue = VecDeque::new();
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for WsStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let me = &mut *self;
        loop {
            if me.read < me.input.len() {
                let n = buf.remaining().min(me.input.len() - me.read);
                buf.put_slice(&me.input[me.read..me.read + n]);
                me.read += n;
                if me.read == me.input.len() {
                    me.input = Vec::new();
                    me.read = 0;
                }
                return Poll::Ready(Ok(()));
            }
            let Some(ws) = me.ws.as_mut() else { return Poll::Ready(Ok(())) };
            if me.read_done {
                return Poll::Ready(Ok(()));
            }
            match ready!(ws.poll_next_unpin(cx)) {
                Some(Ok(Message::Text(text))) => me.input = translate_in(text.as_str()).into_bytes(),
                Some(Ok(Message::Binary(_))) => {
                    // RFC 7395 §3.2: text frames only. 1003: "unsupported data".
                    me.read_done = true;
                    me.close(Some(CloseFrame { code: 1003, reason: "XMPP over WebSocket uses text frames".into() }));
                    // Sent now if the socket takes it, else when the stream is dropped.
                    let _ = me.poll_send(cx);
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Close(_)) | Err(_)) | None => me.read_done = true,
            }
        }
    }
}

impl AsyncWrite for WsStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let me = &mut *self;
        if me.closing {
            // The stream is over for the client; the server's last words
            // after it go nowhere.
            return Poll::Ready(Ok(buf.len()));
        }
        // What was written before goes out first: back-pressure.
        ready!(me.poll_send(cx))?;
        me.server_wrote(buf);
        // The bytes are taken; sent now as far as the socket takes them.
        if let Poll::Ready(Err(e)) = me.poll_send(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let me = &mut *self;
        ready!(me.poll_send(cx))?;
        match me.ws.as_mut() {
            Some(ws) => ws.poll_flush_unpin(cx).map_err(broken),
            None => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // The closing handshake is finished by `linger` when the stream is dropped.
        self.poll_flush(cx)
    }
}

impl Drop for WsStream {
    fn drop(&mut self) {
        let Some(ws) = self.ws.take() else { return };
        // Whatever ended the stream, the client is told.
        self.close(None);
        let queue = std::mem::take(&mut self.queue);
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(linger(ws, queue));
        }
    }
}

/// The end of a WebSocket: what is still queued (our close among it) is
/// sent, and the client's close awaited for a while (RFC 6455 §7.1.1: the
/// server closes the TCP connection after the closing handshake).
async fn linger(mut ws: WebSocket, queue: VecDeque<Message>) {
    let handshake = async {
        for m in queue {
            // After the client's close nothing more can be sent; reading
            // below still flushes the answer to it.
            if ws.feed(m).await.is_err() {
                break;
            }
        }
        let _ = ws.flush().await;
        while let Some(Ok(m)) = ws.next().await {
            if matches!(m, Message::Close(_)) {
                break;
            }
        }
    };
    if tokio::time::timeout(CLOSE_GRACE, handshake).await.is_err() {
        tracing::debug!("WebSocket client did not close; dropped");
    }
}

/// RFC 7395 §3.6.1: answers the client's `<open/>` and sends it to `uri`
/// with `<close see-other-uri/>`, then ends the WebSocket.
async fn redirect(http: Arc<Http>, mut ws: WebSocket, uri: String) {
    let negotiation = Duration::from_secs(http.c2s.config().limits.negotiation_timeout_secs);
    let first = tokio::time::timeout(negotiation, ws.recv()).await;
    let Ok(Some(Ok(Message::Text(text)))) = first else { return };
    let to = Element::parse(text.as_str()).ok().and_then(|el| el.attr("to").map(str::to_string));
    let from = to.filter(|d| http.c2s.router.serves(d)).map(|d| format!(" from='{}'", escape_attr(&d)));
    let open =
        format!("<open xmlns='{FRAMING}'{} id='{}' version='1.0'/>", from.unwrap_or_default(), crate::stream::new_id());
    let close = format!("<close xmlns='{FRAMING}' see-other-uri='{}'/>", escape_attr(&uri));
    let queue = VecDeque::from([Message::Text(open.into()), Message::Text(close.into()), Message::Close(None)]);
    linger(ws, queue).await;
}

/// The server's stream header as `<open/>`.
fn open(tag: &str) -> String {
    let mut open = format!("<open xmlns='{FRAMING}'");
    for (k, v) in pieces::attributes(tag) {
        if matches!(k.as_str(), "from" | "to" | "id" | "version" | "xml:lang") {
            open.push_str(&format!(" {k}='{}'", escape_attr(&v)));
        }
    }
    open.push_str("/>");
    open
}

/// A top-level element the server wrote as a document of its own
/// (RFC 7395 §3.3.3, XEP-0206 §5). A stanza gets the content namespace
/// declared on its root. The stream's own elements (`<stream:features/>`,
/// `<stream:error/>`, a few per session) are read in the stream's context
/// and written with their prefix declared, as clients look for them by it.
pub(super) fn as_document(xml: String) -> String {
    if !pieces::is_prefixed(&xml) {
        return pieces::declare_content_ns(xml);
    }
    let doc = format!("<stream:stream xmlns='{}' xmlns:stream='{}'>{xml}</stream:stream>", ns::CLIENT, ns::STREAMS);
    match Element::parse(&doc).ok().and_then(|d| d.elements().next().map(super::standalone)) {
        Some(el) => el,
        None => {
            tracing::warn!("the server wrote an element with an unknown prefix: {xml}");
            xml
        }
    }
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
    fn what_the_server_writes_becomes_one_document_a_message() {
        let header = "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' \
                      from='localhost' id='a&apos;b' version='1.0' xml:lang='en'>";
        assert_eq!(
            open(header),
            "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' from='localhost' id='a&apos;b' version='1.0' xml:lang='en'/>"
        );
        assert_eq!(
            as_document("<message to='a@b'><body>hi</body></message>".into()),
            "<message xmlns='jabber:client' to='a@b'><body>hi</body></message>"
        );
        let sasl = "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>";
        assert_eq!(as_document(sasl.into()), sasl);
        assert_eq!(
            as_document("<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>".into()),
            "<stream:features xmlns:stream='http://etherx.jabber.org/streams'>\
             <bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>"
        );
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
