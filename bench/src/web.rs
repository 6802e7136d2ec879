//! The web transports: XMPP over WebSocket (RFC 7395) and BOSH (XEP-0124,
//! XEP-0206), plain HTTP on loopback (`--http-url`), against any server that
//! serves them at `--ws-path` and `--bosh-path`.
//!
//! Logins are the same as over TCP less TLS: SCRAM-SHA-256 or -1 where
//! offered (PLAIN otherwise), bind, RFC 3921 session where required. Stanzas
//! carry `xmlns='jabber:client'`, as both framings ask.
//!
//! - `idle_ws`: `--concurrency` WebSocket sessions with initial presence,
//!   held: server RSS per session.
//! - `idle_bosh`: as many BOSH sessions (hold=1, wait=60), each on one
//!   keep-alive HTTP/1.1 connection with one empty request held by the
//!   server at all times, as a real client keeps one: RSS per session with
//!   the request held.
//! - `messages_ws`: `messages` with both ends of every pair over WebSocket.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::timeout;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

use crate::conn::Error;
use crate::load::{Deliveries, Opts, now_us};
use crate::report::{CpuMeter, Report};
use crate::scan::{self, Event, Scanner};
use crate::scram::{Hash, Scram};

const FRAMING: &str = "urn:ietf:params:xml:ns:xmpp-framing";
const HTTPBIND: &str = "http://jabber.org/protocol/httpbind";
/// Seconds a BOSH request may be held (the server may lower it).
const BOSH_WAIT: u32 = 60;

/// Where the web endpoints are.
#[derive(Clone)]
pub struct Http {
    pub addr: SocketAddr,
    pub ws_path: String,
    pub bosh_path: String,
}

impl Http {
    /// `http://HOST:PORT` (HOST an IP address: loopback, no DNS).
    pub fn parse(url: &str, ws_path: String, bosh_path: String) -> Result<Http, String> {
        let rest = url.strip_prefix("http://").ok_or_else(|| format!("--http-url {url}: not http://HOST:PORT"))?;
        let hostport = rest.trim_end_matches('/');
        let addr = hostport.parse().map_err(|e| format!("--http-url {url}: {e}"))?;
        Ok(Http { addr, ws_path, bosh_path })
    }
}

fn http_of(o: &Opts) -> Result<&Http, Error> {
    o.http.as_ref().ok_or_else(|| "this scenario needs --http-url".to_string())
}

/// A stream of top-level elements both ways, whatever carries them.
trait Framed {
    async fn send(&mut self, xml: &str) -> Result<(), Error>;
    /// The next top-level element the server sent.
    async fn next(&mut self) -> Result<String, Error>;
    /// Opens (or restarts) the stream; returns the features.
    async fn open(&mut self, domain: &str) -> Result<String, Error>;

    async fn expect(&mut self, want: &str) -> Result<String, Error> {
        let st = self.next().await?;
        let n = scan::name(st.as_bytes());
        if n != want.as_bytes() && !n.ends_with(format!(":{want}").as_bytes()) {
            return Err(format!("expected <{want}>, got {st}"));
        }
        Ok(st)
    }
}

fn decode(b64: &[u8]) -> Result<String, Error> {
    let raw = B64.decode(b64).map_err(|e| format!("SASL payload is not base64: {e}"))?;
    String::from_utf8(raw).map_err(|e| e.to_string())
}

/// SASL, stream restart, bind (and session where required); returns the full JID.
async fn authenticate<F: Framed>(f: &mut F, domain: &str, user: &str, password: &str) -> Result<String, Error> {
    let features = f.open(domain).await?;
    let sasl = "urn:ietf:params:xml:ns:xmpp-sasl";
    let hash = if features.contains(">SCRAM-SHA-256<") {
        Some(Hash::Sha256)
    } else if features.contains(">SCRAM-SHA-1<") {
        Some(Hash::Sha1)
    } else if features.contains(">PLAIN<") {
        None
    } else {
        return Err(format!("no SCRAM-SHA-1, -256 or PLAIN offered: {features}"));
    };
    match hash {
        Some(hash) => {
            let mut scram = Scram::new(hash, user, password);
            f.send(&format!(
                "<auth xmlns='{sasl}' mechanism='{}'>{}</auth>",
                hash.mechanism(),
                B64.encode(scram.client_first())
            ))
            .await?;
            let challenge = f.expect("challenge").await?;
            let fin = scram.client_final(&decode(scan::first_text(challenge.as_bytes()))?)?;
            f.send(&format!("<response xmlns='{sasl}'>{}</response>", B64.encode(fin))).await?;
            let success = f.expect("success").await.map_err(|e| format!("{user}: authentication failed: {e}"))?;
            scram.verify(&decode(scan::first_text(success.as_bytes()))?)?;
        }
        None => {
            let creds = B64.encode(format!("\0{user}\0{password}"));
            f.send(&format!("<auth xmlns='{sasl}' mechanism='PLAIN'>{creds}</auth>")).await?;
            f.expect("success").await.map_err(|e| format!("{user}: authentication failed: {e}"))?;
        }
    }
    let features = f.open(domain).await?;
    f.send(
        "<iq xmlns='jabber:client' type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>\
         <resource>web</resource></bind></iq>",
    )
    .await?;
    let bound = f.expect("iq").await?;
    if scan::attr(bound.as_bytes(), "type") != Some(b"result") {
        return Err(format!("bind failed: {bound}"));
    }
    let jid = match scan::find(bound.as_bytes(), b"<jid") {
        Some(i) => String::from_utf8_lossy(scan::first_text(&bound.as_bytes()[i..])).into_owned(),
        None => return Err(format!("no JID in the bind result: {bound}")),
    };
    if let Some(i) = features.find("xmpp-session") {
        let after = &features[i..];
        let optional = after.find("</session>").is_some_and(|end| after[..end].contains("optional"));
        if !optional {
            f.send(
                "<iq xmlns='jabber:client' type='set' id='sess1'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>",
            )
            .await?;
            f.expect("iq").await?;
        }
    }
    Ok(jid)
}

/// Logs in accounts `indices` with `login`, at most `login_concurrency` at a time.
async fn login_all<S, Fut>(o: &Opts, indices: &[usize], login: impl Fn(String) -> Fut) -> Result<Vec<S>, Error>
where
    S: Send + 'static,
    Fut: std::future::Future<Output = Result<S, Error>> + Send + 'static,
{
    let sem = Arc::new(Semaphore::new(o.login_concurrency.max(1)));
    let mut set = JoinSet::new();
    for (pos, &i) in indices.iter().enumerate() {
        let fut = login(format!("{}{i}", o.prefix));
        let sem = sem.clone();
        let limit = o.target.timeout;
        set.spawn(async move {
            let _permit = sem.acquire_owned().await;
            (pos, timeout(limit, fut).await.unwrap_or_else(|_| Err(format!("login took longer than {limit:?}"))))
        });
    }
    let mut out: Vec<Option<S>> = (0..indices.len()).map(|_| None).collect();
    while let Some(res) = set.join_next().await {
        let (pos, s) = res.map_err(|e| e.to_string())?;
        out[pos] = Some(s?);
    }
    Ok(out.into_iter().flatten().collect())
}

// ---------------------------------------------------------------- WebSocket

type Ws = WebSocketStream<TcpStream>;

struct WsConn {
    ws: Ws,
}

async fn next_text(
    rx: &mut (impl futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin),
) -> Result<String, Error> {
    loop {
        match rx.next().await {
            Some(Ok(Message::Text(t))) => return Ok(t.as_str().to_string()),
            Some(Ok(Message::Close(_))) | None => return Err("the WebSocket closed".into()),
            Some(Err(e)) => return Err(format!("WebSocket: {e}")),
            Some(Ok(_)) => continue,
        }
    }
}

impl Framed for WsConn {
    async fn send(&mut self, xml: &str) -> Result<(), Error> {
        self.ws.send(Message::Text(xml.into())).await.map_err(|e| format!("WebSocket send: {e}"))
    }

    async fn next(&mut self) -> Result<String, Error> {
        next_text(&mut self.ws).await
    }

    async fn open(&mut self, domain: &str) -> Result<String, Error> {
        self.send(&format!("<open xmlns='{FRAMING}' to='{domain}' version='1.0'/>")).await?;
        self.expect("open").await?;
        self.expect("features").await
    }
}

pub struct WsSession {
    pub jid: String,
    pub tx: SplitSink<Ws, Message>,
    pub rx: SplitStream<Ws>,
}

async fn ws_login(http: Http, domain: String, user: String, password: String) -> Result<WsSession, Error> {
    let mut req = format!("ws://{}{}", http.addr, http.ws_path).into_client_request().map_err(|e| e.to_string())?;
    req.headers_mut().insert("Sec-WebSocket-Protocol", "xmpp".parse().map_err(|_| "header")?);
    let tcp = TcpStream::connect(http.addr).await.map_err(|e| format!("connect: {e}"))?;
    let _ = tcp.set_nodelay(true);
    let (ws, _) = tokio_tungstenite::client_async(req, tcp).await.map_err(|e| format!("WebSocket upgrade: {e}"))?;
    let mut c = WsConn { ws };
    let jid = authenticate(&mut c, &domain, &user, &password).await?;
    let (tx, rx) = c.ws.split();
    Ok(WsSession { jid, tx, rx })
}

async fn ws_login_many(o: &Opts, indices: &[usize]) -> Result<Vec<WsSession>, Error> {
    let http = http_of(o)?.clone();
    let (domain, password) = (o.target.domain.clone(), o.password.clone());
    login_all(o, indices, move |user| ws_login(http.clone(), domain.clone(), user, password.clone())).await
}

async fn ws_send(tx: &mut SplitSink<Ws, Message>, xml: &str) -> Result<(), Error> {
    tx.send(Message::Text(xml.into())).await.map_err(|e| format!("WebSocket send: {e}"))
}

/// Reads and discards until the WebSocket ends.
fn ws_drain(mut rx: SplitStream<Ws>) {
    tokio::spawn(async move { while next_text(&mut rx).await.is_ok() {} });
}

async fn ws_close(mut tx: SplitSink<Ws, Message>) {
    let _ = ws_send(&mut tx, &format!("<close xmlns='{FRAMING}'/>")).await;
    let _ = tx.close().await;
}

// ---------------------------------------------------------------- BOSH

/// One BOSH session on one keep-alive HTTP/1.1 connection: one request at a time.
struct Bosh {
    tcp: TcpStream,
    host: String,
    path: String,
    sid: String,
    rid: u64,
    queue: VecDeque<String>,
    buf: Vec<u8>,
    /// Features from the session creation response, when they came with it.
    first_features: Option<String>,
    /// The stream was opened once: the next open is a restart.
    opened: bool,
}

impl Bosh {
    /// POSTs `body` and returns the response's `<body>` element, whole.
    async fn request(&mut self, body: &str) -> Result<String, Error> {
        let req = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: text/xml; charset=utf-8\r\nContent-Length: {}\r\n\r\n{body}",
            self.path,
            self.host,
            body.len()
        );
        self.tcp.write_all(req.as_bytes()).await.map_err(|e| format!("BOSH write: {e}"))?;
        let (status, _headers, payload) = self.response().await?;
        if !status.contains(" 200") {
            return Err(format!("BOSH: {status}: {payload}"));
        }
        if scan::attr(payload.as_bytes(), "type") == Some(b"terminate") {
            return Err(format!("BOSH session terminated: {payload}"));
        }
        Ok(payload)
    }

    async fn fill(&mut self) -> Result<(), Error> {
        if self.buf.capacity() - self.buf.len() < 4096 {
            self.buf.reserve(8192);
        }
        let n = self.tcp.read_buf(&mut self.buf).await.map_err(|e| format!("BOSH read: {e}"))?;
        if n == 0 {
            return Err("the server closed the BOSH connection".into());
        }
        Ok(())
    }

    /// Status line, lower-cased headers, body (Content-Length or chunked).
    async fn response(&mut self) -> Result<(String, String, String), Error> {
        let head_end = loop {
            if let Some(i) = scan::find(&self.buf, b"\r\n\r\n") {
                break i;
            }
            self.fill().await?;
        };
        let head = String::from_utf8_lossy(&self.buf[..head_end]).into_owned();
        self.buf.drain(..head_end + 4);
        let (status, headers) = head.split_once("\r\n").unwrap_or((&head, ""));
        let headers = headers.to_ascii_lowercase();
        let mut body = Vec::new();
        if headers.contains("transfer-encoding: chunked") {
            loop {
                let line_end = loop {
                    if let Some(i) = scan::find(&self.buf, b"\r\n") {
                        break i;
                    }
                    self.fill().await?;
                };
                let size_text = String::from_utf8_lossy(&self.buf[..line_end]).into_owned();
                let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                    .map_err(|_| format!("bad chunk size {size_text:?}"))?;
                while self.buf.len() < line_end + 2 + size + 2 {
                    self.fill().await?;
                }
                body.extend_from_slice(&self.buf[line_end + 2..line_end + 2 + size]);
                self.buf.drain(..line_end + 2 + size + 2);
                if size == 0 {
                    break;
                }
            }
        } else {
            let len = headers
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .ok_or_else(|| format!("BOSH response without a length: {status}\n{headers}"))?;
            while self.buf.len() < len {
                self.fill().await?;
            }
            body.extend(self.buf.drain(..len));
        }
        Ok((status.to_string(), headers, String::from_utf8_lossy(&body).into_owned()))
    }

    fn next_body(&mut self, attrs: &str, payload: &str) -> String {
        self.rid += 1;
        format!("<body xmlns='{HTTPBIND}' rid='{}' sid='{}'{attrs}>{payload}</body>", self.rid, self.sid)
    }

    /// Sends a request and queues the elements its response carries.
    async fn exchange(&mut self, attrs: &str, payload: &str) -> Result<(), Error> {
        let req = self.next_body(attrs, payload);
        let resp = self.request(&req).await?;
        self.queue.extend(children(&resp));
        Ok(())
    }
}

/// The child elements of a `<body>`.
fn children(body: &str) -> Vec<String> {
    let mut s = Scanner::new();
    s.buf.extend_from_slice(body.as_bytes());
    let mut out = Vec::new();
    while let Some(ev) = s.next() {
        match ev {
            Event::Stanza(r) => out.push(String::from_utf8_lossy(s.slice(r)).into_owned()),
            Event::Open => {}
            Event::Close => break,
        }
    }
    out
}

impl Framed for Bosh {
    async fn send(&mut self, xml: &str) -> Result<(), Error> {
        self.exchange("", xml).await
    }

    async fn next(&mut self) -> Result<String, Error> {
        loop {
            if let Some(el) = self.queue.pop_front() {
                return Ok(el);
            }
            self.exchange("", "").await?;
        }
    }

    async fn open(&mut self, _domain: &str) -> Result<String, Error> {
        if let Some(f) = self.first_features.take() {
            self.opened = true;
            return Ok(f);
        }
        if self.opened {
            self.exchange(" xmpp:restart='true' xmlns:xmpp='urn:xmpp:xbosh'", "").await?;
        }
        self.opened = true;
        self.expect("features").await
    }
}

async fn bosh_login(http: Http, domain: String, user: String, password: String) -> Result<Bosh, Error> {
    let tcp = TcpStream::connect(http.addr).await.map_err(|e| format!("connect: {e}"))?;
    let _ = tcp.set_nodelay(true);
    let mut b = Bosh {
        tcp,
        host: http.addr.to_string(),
        path: http.bosh_path.clone(),
        sid: String::new(),
        rid: 1000,
        queue: VecDeque::new(),
        buf: Vec::with_capacity(8192),
        first_features: None,
        opened: false,
    };
    let created = b
        .request(&format!(
            "<body xmlns='{HTTPBIND}' rid='1000' to='{domain}' wait='{BOSH_WAIT}' hold='1' ver='1.11' xml:lang='en' \
             xmpp:version='1.0' xmlns:xmpp='urn:xmpp:xbosh'/>"
        ))
        .await?;
    let sid = scan::attr(created.as_bytes(), "sid").ok_or_else(|| format!("no sid in {created}"))?;
    b.sid = String::from_utf8_lossy(sid).into_owned();
    let mut els = children(&created);
    if let Some(i) = els.iter().position(|e| scan::name(e.as_bytes()).ends_with(b"features")) {
        b.first_features = Some(els.remove(i));
    }
    b.queue.extend(els);
    authenticate(&mut b, &domain, &user, &password).await?;
    Ok(b)
}

// ---------------------------------------------------------------- scenarios

fn rss(pid: Option<u32>) -> Option<u64> {
    pid.and_then(crate::cpu::process_rss_kib)
}

fn idle_report(name: &'static str, o: &Opts, n: usize, setup: Duration, before: Option<u64>) -> Report {
    let mut r = Report::new(name);
    r.add("sessions", n, "");
    r.num("setup_s", setup.as_secs_f64(), "s");
    if let (Some(b), Some(a)) = (before, rss(o.pid)) {
        r.add("server_rss_before_kib", b, "KiB");
        r.add("server_rss_after_kib", a, "KiB");
        r.num("server_rss_kib_per_session", a.saturating_sub(b) as f64 / n.max(1) as f64, "KiB");
    }
    r
}

/// `--concurrency` WebSocket sessions with initial presence, held `--hold` s.
pub async fn idle_ws(o: &Opts) -> Result<Report, Error> {
    let n = o.concurrency;
    o.need(n)?;
    let before = rss(o.pid);
    let indices: Vec<usize> = (1..=n).collect();
    let t0 = Instant::now();
    let sessions = ws_login_many(o, &indices).await?;
    let setup = t0.elapsed();
    let mut txs = Vec::with_capacity(n);
    for mut s in sessions {
        ws_send(&mut s.tx, "<presence xmlns='jabber:client'/>").await?;
        ws_drain(s.rx);
        txs.push(s.tx);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut r = idle_report("idle_ws", o, txs.len(), setup, before);
    let meter = CpuMeter::start(o.pid);
    tokio::time::sleep(o.hold).await;
    r.cpu(&meter, (n as u64).max(1), "session_held");
    for tx in txs {
        ws_close(tx).await;
    }
    Ok(r)
}

/// `--concurrency` BOSH sessions with initial presence, each with one
/// request held by the server at all times, held `--hold` s.
pub async fn idle_bosh(o: &Opts) -> Result<Report, Error> {
    let n = o.concurrency;
    o.need(n)?;
    let before = rss(o.pid);
    let indices: Vec<usize> = (1..=n).collect();
    let http = http_of(o)?.clone();
    let (domain, password) = (o.target.domain.clone(), o.password.clone());
    let t0 = Instant::now();
    let sessions =
        login_all(o, &indices, move |user| bosh_login(http.clone(), domain.clone(), user, password.clone())).await?;
    let setup = t0.elapsed();
    // One request in flight per session: the presence first, then empty
    // ones, each sent as soon as the one before is answered.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let answered = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut held = JoinSet::new();
    for mut b in sessions {
        let mut stop = stop_rx.clone();
        let answered = answered.clone();
        held.spawn(async move {
            let mut payload = "<presence xmlns='jabber:client'/>";
            loop {
                let req = b.next_body("", payload);
                payload = "";
                tokio::select! {
                    res = b.request(&req) => {
                        res?;
                        answered.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    _ = stop.changed() => break,
                }
            }
            // Ended below with a terminate on a connection of its own.
            Ok::<_, Error>(b)
        });
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut r = idle_report("idle_bosh", o, n, setup, before);
    let meter = CpuMeter::start(o.pid);
    tokio::time::sleep(o.hold).await;
    r.cpu(&meter, (n as u64).max(1), "session_held");
    r.add("requests_answered", answered.load(std::sync::atomic::Ordering::Relaxed), "");
    let _ = stop_tx.send(true);
    let mut errors = 0u64;
    let mut ended = Vec::new();
    while let Some(res) = held.join_next().await {
        match res.map_err(|e| e.to_string())? {
            Ok(b) => ended.push(b),
            Err(e) => {
                if errors == 0 {
                    eprintln!("BOSH session error while idle: {e}");
                }
                errors += 1;
            }
        }
    }
    r.add("errors", errors, "");
    // Terminate each session on a fresh connection: its own one holds a request.
    for b in ended.iter_mut() {
        let body = format!("<body xmlns='{HTTPBIND}' rid='{}' sid='{}' type='terminate'/>", b.rid + 1, b.sid);
        if let Ok(tcp) = TcpStream::connect(b.tcp.peer_addr().unwrap_or(o.target.addr)).await {
            let mut t = Bosh {
                tcp,
                host: b.host.clone(),
                path: b.path.clone(),
                sid: b.sid.clone(),
                rid: b.rid + 1,
                queue: VecDeque::new(),
                buf: Vec::new(),
                first_features: None,
                opened: true,
            };
            let _ = timeout(Duration::from_secs(2), t.request(&body)).await;
        }
    }
    Ok(r)
}

/// `messages` with both ends of every pair over WebSocket.
pub async fn messages_ws(o: &Opts) -> Result<Report, Error> {
    let p = o.pairs.max(1);
    let m = o.count as u64;
    o.need(2 * p)?;
    let indices: Vec<usize> = (1..=2 * p).collect();
    let mut sessions = ws_login_many(o, &indices).await?;
    for s in &mut sessions {
        ws_send(&mut s.tx, "<presence xmlns='jabber:client'/>").await?;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let limit = o.target.timeout;
    let meter = CpuMeter::start(o.pid);
    let t0 = Instant::now();
    let mut senders = JoinSet::new();
    let mut receivers = JoinSet::new();
    let mut it = sessions.into_iter();
    let mut pair = 0u64;
    let pace = (o.rate > 0.0).then(|| Duration::from_secs_f64(p as f64 / o.rate));
    while let (Some(tx), Some(rx)) = (it.next(), it.next()) {
        let window = Arc::new(Semaphore::new(o.window.max(1)));
        let to = rx.jid.clone();
        let WsSession { tx: mut tx_sink, rx: tx_stream, .. } = tx;
        ws_drain(tx_stream);
        let w = window.clone();
        senders.spawn(async move {
            use std::fmt::Write as _;
            let mut tick = pace.map(|every| {
                let mut t = tokio::time::interval(every);
                t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                t
            });
            let mut sent = 0u64;
            let mut xml = String::with_capacity(384);
            for seq in 0..m {
                if let Some(t) = tick.as_mut() {
                    t.tick().await;
                }
                let Ok(Ok(permit)) = timeout(limit, w.acquire()).await else { break };
                permit.forget();
                xml.clear();
                let _ = write!(
                    xml,
                    "<message xmlns='jabber:client' to='{to}' type='chat' id='m{seq}'><body>wxb:{pair}:{seq}:{}</body></message>",
                    now_us()
                );
                if ws_send(&mut tx_sink, &xml).await.is_err() {
                    break;
                }
                sent += 1;
            }
            (sent, tx_sink)
        });
        let WsSession { tx: rx_sink, rx: mut rx_stream, .. } = rx;
        receivers.spawn(async move {
            let mut deliveries = Deliveries::expecting(m);
            while deliveries.got < m {
                let Ok(Ok(st)) = timeout(limit, next_text(&mut rx_stream)).await else { break };
                if deliveries.record(st.as_bytes()) {
                    window.add_permits(1);
                }
            }
            ws_drain(rx_stream);
            (deliveries, rx_sink)
        });
        pair += 1;
    }
    let (mut sent, mut deliveries) = (0u64, Deliveries::default());
    let mut sinks = Vec::new();
    while let Some(res) = receivers.join_next().await {
        let (t, s) = res.map_err(|e| e.to_string())?;
        deliveries.merge(t);
        sinks.push(s);
    }
    let wall = t0.elapsed();
    while let Some(res) = senders.join_next().await {
        let (s, sink) = res.map_err(|e| e.to_string())?;
        sent += s;
        sinks.push(sink);
    }
    let name = if o.rate > 0.0 { "messages_ws_paced" } else { "messages_ws" };
    let r = crate::load::messages_report(name, o, p, m, sent, deliveries, wall, &meter);
    for s in sinks {
        ws_close(s).await;
    }
    Ok(r)
}
