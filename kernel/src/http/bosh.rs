//! BOSH (XEP-0124, XMPP over it: XEP-0206) at `/http-bind`.
//!
//! Like the WebSocket, a BOSH session is the byte stream of a client served
//! by the c2s code ([`BoshStream`]): the payloads of the client's requests
//! are read as stream bytes, and what the server writes is cut into its
//! elements (`stream::pieces`) and queued for the client's held requests.
//! Every response is kept by its `rid` until the client has moved past it,
//! so a request the client repeats (its connection broke) gets the same
//! stanzas again: nothing is lost between requests. A held request keeps
//! only its `rid`: its body is let go of once read.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::{Instant, timeout_at};
use waxwing_xml::{Element, TreeLimits, escape_attr, ns};

use super::{Connection, Http};
use crate::stream::pieces::{self, Piece, Splitter};

pub const HTTPBIND: &str = "http://jabber.org/protocol/httpbind";
const XBOSH: &str = "urn:xmpp:xbosh";
/// Longest a request is held waiting for something to send.
const MAX_WAIT: u64 = 60;
/// Requests held at once (XEP-0124 `hold`); the client may have one more
/// in flight (`requests`).
const HOLD: usize = 1;
/// A session with no request for this long is ended.
const INACTIVITY: Duration = Duration::from_secs(60);
/// The longest `pause` a client may ask for (XEP-0124 §10), in seconds.
const MAX_PAUSE: u64 = 120;
/// Time to get the stream's features for the session creation response.
const OPEN_TIMEOUT: Duration = Duration::from_secs(10);
/// Client bytes the c2s stream may leave unread before a request that
/// brings more waits for it to catch up (back-pressure, as a pipe's).
const UNREAD_BYTES: usize = 16 * 1024;

/// The live sessions, by `sid`.
#[derive(Default)]
pub struct Sessions {
    by_sid: Mutex<HashMap<String, Arc<Session>>>,
}

impl Sessions {
    fn get(&self, sid: &str) -> Option<Arc<Session>> {
        self.by_sid.lock().ok()?.get(sid).cloned()
    }

    fn insert(&self, s: Arc<Session>) {
        if let Ok(mut m) = self.by_sid.lock() {
            m.insert(s.sid.clone(), s);
        }
    }

    fn remove(&self, sid: &str) {
        if let Ok(mut m) = self.by_sid.lock() {
            m.remove(sid);
        }
    }
}

struct Session {
    sid: String,
    /// The domain the session was opened to.
    to: String,
    wait: u64,
    state: Mutex<Exchange>,
    /// New output, a new request, input read, or the end.
    changed: Notify,
}

#[derive(Default)]
struct Exchange {
    /// The next `rid` expected.
    next_rid: u64,
    /// The newest `rid` seen: older held requests give way to it.
    newest_rid: u64,
    /// Elements written by the server, not yet sent to the client.
    pending: VecDeque<String>,
    /// Responses by `rid`, kept until the client has moved past them
    /// (`HOLD + 1` at most).
    sent: Vec<(u64, String)>,
    /// The stream's id and domain, once the server opened it.
    stream: Option<(String, String)>,
    /// The server ended the stream (its last words are in `pending`).
    ended: bool,
    last_request: Option<Instant>,
    /// The client asked for a pause (XEP-0124 §10): the session may be
    /// silent this long instead of `INACTIVITY`, until its next request.
    pause: Option<Duration>,
    held: usize,
    /// Stream bytes from the client's requests, and how many of them the
    /// c2s stream has read (let go of once all are read).
    input: Vec<u8>,
    read: usize,
    /// No more input: the client terminated, or the session was ended here.
    input_closed: bool,
    /// The c2s stream, waiting for input.
    reader: Option<Waker>,
    /// The c2s stream is gone: nothing more can be delivered.
    gone: bool,
}

impl Exchange {
    fn unread(&self) -> usize {
        self.input.len() - self.read
    }

    /// Keeps the response to `rid`, for a repeat of the request.
    fn keep(&mut self, rid: u64, text: &str) {
        self.sent.retain(|(r, _)| *r != rid);
        self.sent.push((rid, text.to_string()));
    }

    /// Everything queued for the client, in one payload; the queue is let go of.
    fn take_pending(&mut self) -> String {
        std::mem::take(&mut self.pending).into_iter().collect()
    }
}

impl Session {
    fn lock(&self) -> io::Result<MutexGuard<'_, Exchange>> {
        self.state.lock().map_err(|_| io::Error::other("BOSH session state poisoned"))
    }

    /// Hands stream bytes to the c2s stream (`end`: and then its end),
    /// waiting while it has more than `UNREAD_BYTES` unread. Fails once the
    /// stream is gone or its input closed.
    async fn deliver(&self, bytes: &[u8], end: bool) -> io::Result<()> {
        {
            let mut st = self.lock()?;
            if st.gone || st.input_closed {
                return Err(io::ErrorKind::BrokenPipe.into());
            }
            let read = std::mem::take(&mut st.read);
            st.input.drain(..read);
            st.input.extend_from_slice(bytes);
            st.input_closed = end;
            if let Some(w) = st.reader.take() {
                w.wake();
            }
        }
        loop {
            let notified = self.changed.notified();
            {
                let st = self.lock()?;
                if st.gone || st.unread() <= UNREAD_BYTES {
                    return Ok(());
                }
            }
            notified.await;
        }
    }
}

/// The session as the c2s code's byte stream: the requests' payloads read
/// as stream bytes, what the server writes cut into elements and queued
/// for the held requests.
struct BoshStream {
    session: Arc<Session>,
    splitter: Splitter,
}

impl AsyncRead for BoshStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let mut st = self.session.lock()?;
        let unread = st.unread();
        if unread == 0 {
            if st.input_closed {
                return Poll::Ready(Ok(()));
            }
            st.reader = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let n = buf.remaining().min(unread);
        let from = st.read;
        buf.put_slice(&st.input[from..from + n]);
        st.read += n;
        if st.unread() == 0 {
            st.input = Vec::new();
            st.read = 0;
        }
        let caught_up = unread > UNREAD_BYTES && unread - n <= UNREAD_BYTES;
        drop(st);
        if caught_up {
            self.session.changed.notify_waiters();
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for BoshStream {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let me = self.get_mut();
        let mut st = me.session.lock()?;
        if st.ended {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        let mut ended = false;
        let cut = me.splitter.push(buf, |piece| match piece {
            Piece::Header(tag) => {
                let attrs = pieces::attributes(&tag);
                let attr = |key: &str| attrs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()).unwrap_or_default();
                st.stream = Some((attr("id"), attr("from")));
            }
            Piece::Element(xml) => st.pending.push_back(super::websocket::as_document(xml)),
            Piece::End => ended = true,
        });
        if let Err(e) = cut {
            tracing::warn!(sid = me.session.sid, "ending a BOSH session: the server's output is not XML ({})", e.0);
            ended = true;
        }
        st.ended |= ended;
        drop(st);
        me.session.changed.notify_waiters();
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.session.lock()?.ended = true;
        self.session.changed.notify_waiters();
        Poll::Ready(Ok(()))
    }
}

impl Drop for BoshStream {
    fn drop(&mut self) {
        if let Ok(mut st) = self.session.lock() {
            st.ended = true;
            st.gone = true;
        }
        self.session.changed.notify_waiters();
    }
}

fn body(attrs: &str, payload: &str) -> String {
    format!("<body xmlns='{HTTPBIND}'{attrs}>{payload}</body>")
}

fn terminate(condition: &str) -> Response {
    reply(body(&format!(" type='terminate' condition='{condition}'"), ""))
}

fn reply(text: String) -> Response {
    ([(header::CONTENT_TYPE, "text/xml; charset=utf-8")], text).into_response()
}

/// The CORS preflight a browser sends before posting XML (its headers come
/// from `cors.rs`).
pub async fn preflight() -> Response {
    StatusCode::OK.into_response()
}

pub async fn request(State(http): State<Arc<Http>>, Extension(conn): Extension<Connection>, bytes: Bytes) -> Response {
    // The body goes as soon as it is read: it may hold on to the HTTP
    // connection's read buffer, and a request may be held for a minute.
    let mut req = match Request::read(&http, bytes) {
        Ok(req) => req,
        Err(condition) => return terminate(condition),
    };
    match req.sid.take() {
        None => create(&http, conn, req).await,
        Some(sid) => match http.bosh.get(&sid) {
            Some(s) => exchange(&http, s, req).await,
            None => terminate("item-not-found"),
        },
    }
}

/// What the session needs of a request's `<body/>`.
struct Request {
    rid: u64,
    sid: Option<String>,
    wait: Option<u64>,
    /// What a stream header takes from the request.
    to: Option<String>,
    lang: Option<String>,
    xmpp_version: Option<String>,
    restart: bool,
    terminate: bool,
    /// Seconds the client will be away (XEP-0124 §10).
    pause: Option<u64>,
    /// The highest `rid` whose response the client has (XEP-0124 §9.1); on
    /// the session request, `1` asks for acknowledgements.
    ack: Option<u64>,
    /// The payload's elements, in the content namespace, as stream bytes.
    payload: String,
}

impl Request {
    fn read(http: &Http, bytes: Bytes) -> Result<Request, &'static str> {
        let config = http.c2s.config();
        let limits = &config.limits;
        let tree = TreeLimits { max_depth: limits.max_depth + 1, max_attributes: limits.max_attributes };
        let Some(req) = std::str::from_utf8(&bytes).ok().and_then(|t| Element::parse_with_limits(t, tree).ok()) else {
            return Err("bad-request");
        };
        if !req.is("body", HTTPBIND) {
            return Err("bad-request");
        }
        let Some(rid) = req.attr("rid").and_then(|r| r.parse::<u64>().ok()) else { return Err("bad-request") };
        let mut payload = String::new();
        for child in req.elements() {
            let mut child = child.clone();
            child.map_ns(HTTPBIND, ns::CLIENT);
            payload.push_str(&child.to_xml());
        }
        let attr = |key: &str| req.attr(key).map(str::to_string);
        Ok(Request {
            rid,
            sid: attr("sid"),
            wait: req.attr("wait").and_then(|w| w.parse().ok()),
            to: attr("to"),
            lang: attr("xml:lang"),
            xmpp_version: attr("xmpp:version"),
            restart: req.attr("xmpp:restart") == Some("true"),
            terminate: req.attr("type") == Some("terminate"),
            pause: req.attr("pause").and_then(|p| p.parse().ok()),
            ack: req.attr("ack").and_then(|a| a.parse().ok()),
            payload,
        })
    }
}

/// The c2s stream header for a session request or restart: XEP-0206 names
/// the XMPP version `xmpp:version` (`ver` is BOSH's own).
fn stream_header(req: &Request, to: &str) -> String {
    let mut attrs = Element::new("open", HTTPBIND);
    // A restart need not repeat `to`: the session's domain stands.
    attrs.set_attr("to", req.to.as_deref().unwrap_or(to));
    if let Some(lang) = &req.lang {
        attrs.set_attr("xml:lang", lang);
    }
    attrs.set_attr("version", req.xmpp_version.as_deref().unwrap_or("1.0"));
    super::client_header(&attrs)
}

/// A session request: start the c2s stream, answer with its features.
async fn create(http: &Arc<Http>, conn: Connection, req: Request) -> Response {
    if !conn.secure() {
        return terminate("policy-violation");
    }
    let wait = req.wait.unwrap_or(MAX_WAIT).clamp(1, MAX_WAIT);
    let Some(to) = req.to.clone() else { return terminate("improper-addressing") };
    let rid = req.rid;
    let acks = req.ack == Some(1);
    let sid = crate::stream::new_id();
    let session = Arc::new(Session {
        sid: sid.clone(),
        wait,
        state: Mutex::new(Exchange {
            next_rid: rid + 1,
            newest_rid: rid,
            last_request: Some(Instant::now()),
            input: stream_header(&req, &to).into_bytes(),
            ..Exchange::default()
        }),
        to,
        changed: Notify::new(),
    });
    drop(req);
    let stream = BoshStream { session: session.clone(), splitter: Splitter::default() };
    tokio::spawn(crate::c2s::serve_secure(http.c2s.clone(), Box::new(stream), conn.peer, crate::c2s::Transport::Bosh));
    tokio::spawn(expire(http.clone(), session.clone()));
    http.bosh.insert(session.clone());

    // The first response carries the stream's features (XEP-0206 §6).
    let deadline = Instant::now() + OPEN_TIMEOUT;
    loop {
        let notified = session.changed.notified();
        {
            let Ok(mut st) = session.state.lock() else { return terminate("internal-server-error") };
            if st.ended {
                let payload = st.take_pending();
                http.bosh.remove(&sid);
                return reply(body(" type='terminate' condition='remote-stream-error'", &payload));
            }
            if let Some((id, from)) = st.stream.clone()
                && !st.pending.is_empty()
            {
                let payload = st.take_pending();
                // §9.1: a client that asked for acknowledgements learns
                // that the connection manager keeps them.
                let ack = if acks { format!(" ack='{rid}'") } else { String::new() };
                let attrs = format!(
                    " sid='{sid}' wait='{wait}' requests='{}' hold='{HOLD}' inactivity='{}' polling='2' \
                     maxpause='{MAX_PAUSE}'{ack} ver='1.11' from='{}' authid='{}' secure='true' xmpp:version='1.0' \
                     xmlns:xmpp='{XBOSH}' xmlns:stream='{}'",
                    HOLD + 1,
                    INACTIVITY.as_secs(),
                    escape_attr(&from),
                    escape_attr(&id),
                    ns::STREAMS
                );
                let text = body(&attrs, &payload);
                st.keep(rid, &text);
                return reply(text);
            }
        }
        if timeout_at(deadline, notified).await.is_err() {
            http.bosh.remove(&sid);
            return terminate("remote-connection-failed");
        }
    }
}

/// A request in a session: deliver its payload, then answer with what the
/// server has written, holding the request up to `wait` for something.
async fn exchange(http: &Arc<Http>, s: Arc<Session>, req: Request) -> Response {
    // Order and replays (XEP-0124 §14.3).
    enum Order {
        Next,
        Replay(Response),
        Refuse(&'static str),
        /// It overtook the request before it: wait for that one.
        Early,
    }
    let rid = req.rid;
    let early_deadline = Instant::now() + Duration::from_secs(s.wait);
    let order = loop {
        let notified = s.changed.notified();
        let order = match s.state.lock() {
            Err(_) => Order::Replay(terminate("internal-server-error")),
            Ok(mut st) => {
                st.last_request = Some(Instant::now());
                if rid < st.next_rid {
                    Order::Replay(match st.sent.iter().find(|(r, _)| *r == rid) {
                        Some((_, again)) => reply(again.clone()),
                        None => terminate("item-not-found"),
                    })
                } else if rid > st.next_rid + HOLD as u64 {
                    Order::Refuse("item-not-found")
                } else if rid != st.next_rid {
                    Order::Early
                } else if st.held > HOLD || req.pause.is_some_and(|p| p > MAX_PAUSE) {
                    // Overactivity (§11), or a longer pause than offered (§10).
                    Order::Refuse("policy-violation")
                } else {
                    st.next_rid = rid + 1;
                    st.newest_rid = rid;
                    // Responses the client has moved past, or says it has
                    // (§9.1), are let go.
                    let acked = req.ack.unwrap_or(0);
                    st.sent.retain(|(r, _)| *r + (HOLD as u64) + 1 > rid && *r > acked);
                    st.pause = req.pause.map(Duration::from_secs);
                    Order::Next
                }
            }
        };
        if !matches!(order, Order::Early) {
            break order;
        }
        // XEP-0124 §14.3: requests are handled in rid order.
        if timeout_at(early_deadline, notified).await.is_err() {
            break Order::Refuse("item-not-found");
        }
    };
    match order {
        Order::Early | Order::Next => {}
        Order::Replay(r) => return r,
        Order::Refuse(condition) => {
            close(http, &s).await;
            return terminate(condition);
        }
    }
    s.changed.notify_waiters();

    let terminating = req.terminate;
    let pausing = req.pause.is_some();
    {
        let mut bytes = String::new();
        if req.restart {
            bytes.push_str(&stream_header(&req, &s.to));
        }
        bytes.push_str(&req.payload);
        drop(req);
        if terminating {
            bytes.push_str("</stream:stream>");
        }
        if !bytes.is_empty() && s.deliver(bytes.as_bytes(), terminating).await.is_err() {
            http.bosh.remove(&s.sid);
            return terminate("remote-connection-failed");
        }
    }
    if terminating {
        http.bosh.remove(&s.sid);
        return reply(body(" type='terminate'", ""));
    }

    // §10: a pause is answered at once, as the requests it overtook were.
    let deadline = if pausing { Instant::now() } else { Instant::now() + Duration::from_secs(s.wait) };
    if let Ok(mut st) = s.state.lock() {
        st.held += 1;
    }
    let response = loop {
        let notified = s.changed.notified();
        {
            let Ok(mut st) = s.state.lock() else { break terminate("internal-server-error") };
            let newer = st.newest_rid > rid;
            if !st.pending.is_empty() && !newer {
                let text = body("", &st.take_pending());
                st.keep(rid, &text);
                break reply(text);
            }
            if st.ended && !newer {
                http.bosh.remove(&s.sid);
                break reply(body(" type='terminate' condition='remote-stream-error'", ""));
            }
            if newer {
                let text = body("", "");
                st.keep(rid, &text);
                break reply(text);
            }
        }
        if timeout_at(deadline, notified).await.is_err() {
            let Ok(mut st) = s.state.lock() else { break terminate("internal-server-error") };
            let text = body("", &st.take_pending());
            st.keep(rid, &text);
            break reply(text);
        }
    };
    if let Ok(mut st) = s.state.lock() {
        st.held = st.held.saturating_sub(1);
        st.last_request = Some(Instant::now());
    }
    response
}

/// Ends a session from our side: the c2s stream sees its end.
async fn close(http: &Arc<Http>, s: &Arc<Session>) {
    http.bosh.remove(&s.sid);
    let _ = s.deliver(b"</stream:stream>", true).await;
}

/// Ends a session whose client stopped asking (XEP-0124 `inactivity`).
async fn expire(http: Arc<Http>, s: Arc<Session>) {
    loop {
        tokio::time::sleep(INACTIVITY / 4).await;
        // A stream the server ended stays until the client fetched its last
        // words, or stopped asking.
        let idle = match s.state.lock() {
            Ok(st) => {
                let allowed = st.pause.map_or(INACTIVITY, |p| p.max(INACTIVITY));
                st.held == 0 && st.last_request.is_some_and(|t| t.elapsed() > allowed)
            }
            Err(_) => true,
        };
        if http.bosh.get(&s.sid).is_none() {
            return;
        }
        if idle {
            tracing::debug!(sid = s.sid, "BOSH session ended: no request for {INACTIVITY:?}");
            close(&http, &s).await;
            return;
        }
    }
}
