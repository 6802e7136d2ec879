//! BOSH (XEP-0124, XMPP over it: XEP-0206) at `/http-bind`.
//!
//! Like the WebSocket, a BOSH session is bridged to the classic byte
//! stream and served by the c2s code: the payloads of the client's
//! requests become stream bytes, and what the server writes is read back
//! element by element into a queue that the client's held requests carry
//! back. Every response is kept by its `rid` until the client has moved
//! past it, so a request the client repeats (its connection broke) gets the
//! same stanzas again: nothing is lost between requests.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::io::{AsyncWriteExt as _, DuplexStream, ReadHalf, WriteHalf};
use tokio::sync::Notify;
use tokio::time::{Instant, timeout_at};
use waxwing_xml::{Element, TreeLimits, escape_attr, ns};

use super::{Connection, Http};
use crate::xml::{StreamEvent, StreamLimits, StreamReader};

pub const HTTPBIND: &str = "http://jabber.org/protocol/httpbind";
const XBOSH: &str = "urn:xmpp:xbosh";
/// Longest a request is held waiting for something to send.
const MAX_WAIT: u64 = 60;
/// Requests held at once (XEP-0124 `hold`); the client may have one more
/// in flight (`requests`).
const HOLD: usize = 1;
/// A session with no request for this long is ended.
const INACTIVITY: Duration = Duration::from_secs(60);
/// Time to get the stream's features for the session creation response.
const OPEN_TIMEOUT: Duration = Duration::from_secs(10);

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
    to_server: tokio::sync::Mutex<WriteHalf<DuplexStream>>,
    state: Mutex<Exchange>,
    /// New output, a new request, or the end.
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
    /// Responses by `rid`, kept until the client has moved past them.
    sent: BTreeMap<u64, String>,
    /// The stream's id and domain, once the server opened it.
    stream: Option<(String, String)>,
    /// The server ended the stream (its last words are in `pending`).
    ended: bool,
    last_request: Option<Instant>,
    held: usize,
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
    let limits = &http.c2s.config.limits;
    let tree = TreeLimits { max_depth: limits.max_depth + 1, max_attributes: limits.max_attributes };
    let Some(req) = std::str::from_utf8(&bytes).ok().and_then(|t| Element::parse_with_limits(t, tree).ok()) else {
        return terminate("bad-request");
    };
    if !req.is("body", HTTPBIND) {
        return terminate("bad-request");
    }
    let Some(rid) = req.attr("rid").and_then(|r| r.parse::<u64>().ok()) else {
        return terminate("bad-request");
    };
    match req.attr("sid") {
        None => create(&http, conn, &req, rid).await,
        Some(sid) => match http.bosh.get(sid) {
            Some(s) => exchange(&http, s, &req, rid).await,
            None => terminate("item-not-found"),
        },
    }
}

/// The c2s stream header for a session request or restart: XEP-0206 names
/// the XMPP version `xmpp:version` (`ver` is BOSH's own).
fn stream_header(req: &Element, to: &str) -> String {
    let mut attrs = Element::new("open", HTTPBIND);
    // A restart need not repeat `to`: the session's domain stands.
    attrs.set_attr("to", req.attr("to").unwrap_or(to));
    for key in ["xml:lang"] {
        if let Some(v) = req.attr(key) {
            attrs.set_attr(key, v);
        }
    }
    attrs.set_attr("version", req.attr("xmpp:version").unwrap_or("1.0"));
    super::client_header(&attrs)
}

/// A session request: start the c2s stream, answer with its features.
async fn create(http: &Arc<Http>, conn: Connection, req: &Element, rid: u64) -> Response {
    if !conn.secure() {
        return terminate("policy-violation");
    }
    let wait = req.attr("wait").and_then(|w| w.parse().ok()).unwrap_or(MAX_WAIT).clamp(1, MAX_WAIT);
    let (server_side, bridge_side) = tokio::io::duplex(16 * 1024);
    let (from_server, mut to_server) = tokio::io::split(bridge_side);
    let Some(to) = req.attr("to") else { return terminate("improper-addressing") };
    if to_server.write_all(stream_header(req, to).as_bytes()).await.is_err() {
        return terminate("internal-server-error");
    }
    let sid = crate::stream::new_id();
    let session = Arc::new(Session {
        sid: sid.clone(),
        to: to.to_string(),
        wait,
        to_server: tokio::sync::Mutex::new(to_server),
        state: Mutex::new(Exchange {
            next_rid: rid + 1,
            newest_rid: rid,
            last_request: Some(Instant::now()),
            ..Exchange::default()
        }),
        changed: Notify::new(),
    });
    tokio::spawn(crate::c2s::serve_secure(
        http.c2s.clone(),
        Box::new(server_side),
        conn.peer,
        crate::c2s::Transport::Bosh,
    ));
    let l = &http.c2s.config.limits;
    let limits =
        StreamLimits { max_stanza_bytes: l.max_stanza_bytes * 4, max_depth: l.max_depth * 2, max_attributes: 1024 };
    tokio::spawn(read_server(session.clone(), from_server, limits));
    tokio::spawn(expire(http.clone(), session.clone()));
    http.bosh.insert(session.clone());

    // The first response carries the stream's features (XEP-0206 §6).
    let deadline = Instant::now() + OPEN_TIMEOUT;
    loop {
        let notified = session.changed.notified();
        {
            let Ok(mut st) = session.state.lock() else { return terminate("internal-server-error") };
            if st.ended {
                let payload: String = st.pending.drain(..).collect();
                http.bosh.remove(&sid);
                return reply(body(" type='terminate' condition='remote-stream-error'", &payload));
            }
            if let Some((id, from)) = st.stream.clone()
                && !st.pending.is_empty()
            {
                let payload: String = st.pending.drain(..).collect();
                let attrs = format!(
                    " sid='{sid}' wait='{wait}' requests='{}' hold='{HOLD}' inactivity='{}' polling='2' maxpause='120' \
                     ver='1.11' from='{}' authid='{}' secure='true' xmpp:version='1.0' xmlns:xmpp='{XBOSH}' \
                     xmlns:stream='{}'",
                    HOLD + 1,
                    INACTIVITY.as_secs(),
                    escape_attr(&from),
                    escape_attr(&id),
                    ns::STREAMS
                );
                let text = body(&attrs, &payload);
                st.sent.insert(rid, text.clone());
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
async fn exchange(http: &Arc<Http>, s: Arc<Session>, req: &Element, rid: u64) -> Response {
    // Order and replays (XEP-0124 §14.3).
    enum Order {
        Next,
        Replay(Response),
        Refuse(&'static str),
        /// It overtook the request before it: wait for that one.
        Early,
    }
    let early_deadline = Instant::now() + Duration::from_secs(s.wait);
    let order = loop {
        let notified = s.changed.notified();
        let order = match s.state.lock() {
            Err(_) => Order::Replay(terminate("internal-server-error")),
            Ok(mut st) => {
                st.last_request = Some(Instant::now());
                if rid < st.next_rid {
                    Order::Replay(match st.sent.get(&rid) {
                        Some(again) => reply(again.clone()),
                        None => terminate("item-not-found"),
                    })
                } else if rid > st.next_rid + HOLD as u64 {
                    Order::Refuse("item-not-found")
                } else if rid != st.next_rid {
                    Order::Early
                } else if st.held > HOLD {
                    Order::Refuse("policy-violation")
                } else {
                    st.next_rid = rid + 1;
                    st.newest_rid = rid;
                    // Responses the client has moved past are let go.
                    st.sent.retain(|r, _| *r + (HOLD as u64) + 1 > rid);
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

    let mut bytes = String::new();
    if req.attr("xmpp:restart") == Some("true") {
        bytes.push_str(&stream_header(req, &s.to));
    }
    for child in req.elements() {
        let mut child = child.clone();
        child.map_ns(HTTPBIND, ns::CLIENT);
        bytes.push_str(&child.to_xml());
    }
    let terminating = req.attr("type") == Some("terminate");
    if terminating {
        bytes.push_str("</stream:stream>");
    }
    if !bytes.is_empty() {
        let mut w = s.to_server.lock().await;
        if w.write_all(bytes.as_bytes()).await.is_err() {
            http.bosh.remove(&s.sid);
            return terminate("remote-connection-failed");
        }
    }
    if terminating {
        http.bosh.remove(&s.sid);
        let _ = s.to_server.lock().await.shutdown().await;
        return reply(body(" type='terminate'", ""));
    }

    let deadline = Instant::now() + Duration::from_secs(s.wait);
    if let Ok(mut st) = s.state.lock() {
        st.held += 1;
    }
    let response = loop {
        let notified = s.changed.notified();
        {
            let Ok(mut st) = s.state.lock() else { break terminate("internal-server-error") };
            let newer = st.newest_rid > rid;
            if !st.pending.is_empty() && !newer {
                let payload: String = st.pending.drain(..).collect();
                let text = body("", &payload);
                st.sent.insert(rid, text.clone());
                break reply(text);
            }
            if st.ended && !newer {
                http.bosh.remove(&s.sid);
                break reply(body(" type='terminate' condition='remote-stream-error'", ""));
            }
            if newer {
                let text = body("", "");
                st.sent.insert(rid, text.clone());
                break reply(text);
            }
        }
        if timeout_at(deadline, notified).await.is_err() {
            let Ok(mut st) = s.state.lock() else { break terminate("internal-server-error") };
            let payload: String = st.pending.drain(..).collect();
            let text = body("", &payload);
            st.sent.insert(rid, text.clone());
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
    let mut w = s.to_server.lock().await;
    let _ = w.write_all(b"</stream:stream>").await;
    let _ = w.shutdown().await;
}

/// What the server writes, queued for the client's requests.
async fn read_server(s: Arc<Session>, from_server: ReadHalf<DuplexStream>, limits: StreamLimits) {
    let mut reader = StreamReader::new(from_server, limits);
    loop {
        let ev = reader.next().await;
        {
            let Ok(mut st) = s.state.lock() else { return };
            match ev {
                Ok(StreamEvent::Open(h)) => {
                    let id = h.attr("id").unwrap_or_default().to_string();
                    let from = h.attr("from").unwrap_or_default().to_string();
                    st.stream = Some((id, from));
                }
                Ok(StreamEvent::Stanza(el)) => {
                    if el.is("success", ns::SASL) {
                        reader = reader.restart();
                    }
                    st.pending.push_back(super::standalone(&el));
                }
                Ok(StreamEvent::Keepalive) => continue,
                Ok(StreamEvent::Close) | Err(_) => {
                    st.ended = true;
                    drop(st);
                    s.changed.notify_waiters();
                    return;
                }
            }
        }
        s.changed.notify_waiters();
    }
}

/// Ends a session whose client stopped asking (XEP-0124 `inactivity`).
async fn expire(http: Arc<Http>, s: Arc<Session>) {
    loop {
        tokio::time::sleep(INACTIVITY / 4).await;
        // A stream the server ended stays until the client fetched its last
        // words, or stopped asking.
        let idle = match s.state.lock() {
            Ok(st) => st.held == 0 && st.last_request.is_some_and(|t| t.elapsed() > INACTIVITY),
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
