//! A raw XMPP client: bytes on a socket, with just enough structure to
//! negotiate a stream (STARTTLS or direct TLS, SASL, bind) and read stanzas.
//! Every wait is bounded; a failed expectation panics with what was received.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ProtocolVersion, RootCertStore, SupportedProtocolVersion};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use waxwing_xml::Element;

use crate::frames::{self, Frame};
use crate::scram::{Binding, Hash, ScramClient, plain_message};
use crate::server::Server;

/// The default bound on every wait.
pub const TIMEOUT: Duration = Duration::from_secs(10);

pub const NS_CLIENT: &str = "jabber:client";
pub const NS_STREAMS: &str = "http://etherx.jabber.org/streams";
pub const NS_STREAM_ERRORS: &str = "urn:ietf:params:xml:ns:xmpp-streams";
pub const NS_STANZA_ERRORS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";
pub const NS_TLS: &str = "urn:ietf:params:xml:ns:xmpp-tls";
pub const NS_SASL: &str = "urn:ietf:params:xml:ns:xmpp-sasl";
pub const NS_BIND: &str = "urn:ietf:params:xml:ns:xmpp-bind";
pub const NS_PING: &str = "urn:xmpp:ping";

/// The SASL mechanisms the client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mech {
    ScramSha1,
    ScramSha256,
    ScramSha1Plus,
    ScramSha256Plus,
    Plain,
}

impl Mech {
    pub const ALL: [Mech; 5] =
        [Mech::ScramSha1, Mech::ScramSha256, Mech::ScramSha1Plus, Mech::ScramSha256Plus, Mech::Plain];

    pub fn name(self) -> &'static str {
        match self {
            Mech::ScramSha1 => "SCRAM-SHA-1",
            Mech::ScramSha256 => "SCRAM-SHA-256",
            Mech::ScramSha1Plus => "SCRAM-SHA-1-PLUS",
            Mech::ScramSha256Plus => "SCRAM-SHA-256-PLUS",
            Mech::Plain => "PLAIN",
        }
    }

    fn scram(self) -> Option<(Hash, bool)> {
        match self {
            Mech::ScramSha1 => Some((Hash::Sha1, false)),
            Mech::ScramSha256 => Some((Hash::Sha256, false)),
            Mech::ScramSha1Plus => Some((Hash::Sha1, true)),
            Mech::ScramSha256Plus => Some((Hash::Sha256, true)),
            Mech::Plain => None,
        }
    }
}

enum Io {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    Gone,
}

impl Io {
    async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Io::Plain(s) => s.read(buf).await,
            Io::Tls(s) => s.read(buf).await,
            Io::Gone => Err(io::Error::other("the connection was given up")),
        }
    }

    async fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            Io::Plain(s) => {
                s.write_all(data).await?;
                s.flush().await
            }
            Io::Tls(s) => {
                s.write_all(data).await?;
                s.flush().await
            }
            Io::Gone => Err(io::Error::other("the connection was given up")),
        }
    }

    async fn shutdown(&mut self) -> io::Result<()> {
        match self {
            Io::Plain(s) => s.shutdown().await,
            Io::Tls(s) => s.shutdown().await,
            Io::Gone => Ok(()),
        }
    }
}

/// Why reading stopped.
#[derive(Debug)]
pub enum ReadEnd {
    /// The peer closed the connection (a reset after data counts too).
    Eof,
    TimedOut,
    Io(io::Error),
}

pub struct RawClient {
    io: Io,
    /// Received bytes not yet consumed as frames.
    buf: Vec<u8>,
    /// Everything received, for failure messages.
    transcript: String,
    cert: PathBuf,
    pub domain: String,
    exporter: Option<Vec<u8>>,
    tls_version: Option<ProtocolVersion>,
    alpn: Option<Vec<u8>>,
    /// The stream features last received.
    pub features: Option<Element>,
    /// The full JID once bound.
    pub jid: Option<String>,
    /// A stream is open (header exchanged) and not yet due for a restart.
    stream_open: bool,
    next_id: u64,
}

impl RawClient {
    /// A TCP connection to the STARTTLS client port.
    pub async fn connect(server: &Server) -> RawClient {
        Self::connect_to(server.c2s_addr(), &server.cert_path()).await
    }

    pub async fn connect_to(addr: SocketAddr, cert: &Path) -> RawClient {
        let tcp = timeout_at(Instant::now() + TIMEOUT, TcpStream::connect(addr))
            .await
            .unwrap_or_else(|_| panic!("connecting to {addr} timed out"))
            .unwrap_or_else(|e| panic!("connecting to {addr}: {e}"));
        let _ = tcp.set_nodelay(true);
        RawClient {
            io: Io::Plain(tcp),
            buf: Vec::new(),
            transcript: String::new(),
            cert: cert.to_path_buf(),
            domain: "localhost".into(),
            exporter: None,
            tls_version: None,
            alpn: None,
            features: None,
            jid: None,
            stream_open: false,
            next_id: 0,
        }
    }

    /// A connection to the direct-TLS port (XEP-0368), handshake done, ALPN `xmpp-client` offered.
    pub async fn connect_direct_tls(server: &Server) -> RawClient {
        Self::connect_direct_tls_with(server, None).await
    }

    /// Direct TLS restricted to one protocol version.
    pub async fn connect_direct_tls_with(
        server: &Server,
        version: Option<&'static SupportedProtocolVersion>,
    ) -> RawClient {
        let mut c = Self::connect_to(server.direct_tls_addr(), &server.cert_path()).await;
        c.upgrade(version, vec![b"xmpp-client".to_vec()]).await;
        c
    }

    // ---------------------------------------------------------------- bytes

    /// Sends text; panics if the connection refuses it.
    pub async fn send(&mut self, data: &str) {
        if let Err(e) = self.try_send(data.as_bytes()).await {
            panic!("sending {data:?}: {e}\nreceived so far: {}", self.transcript);
        }
    }

    /// Sends bytes; the error is the caller's (the server may already have closed).
    pub async fn try_send(&mut self, data: &[u8]) -> io::Result<()> {
        match timeout_at(Instant::now() + TIMEOUT, self.io.write_all(data)).await {
            Ok(r) => r,
            Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "write timed out")),
        }
    }

    /// Closes our sending side (TCP FIN, or TLS close_notify then FIN).
    pub async fn shutdown_write(&mut self) {
        let _ = timeout_at(Instant::now() + TIMEOUT, self.io.shutdown()).await;
    }

    /// Reads once more into the buffer.
    async fn fill(&mut self, deadline: Instant) -> Result<usize, ReadEnd> {
        let mut chunk = [0u8; 16 * 1024];
        match timeout_at(deadline, self.io.read(&mut chunk)).await {
            Err(_) => Err(ReadEnd::TimedOut),
            Ok(Ok(0)) => Err(ReadEnd::Eof),
            Ok(Ok(n)) => {
                self.buf.extend_from_slice(&chunk[..n]);
                self.transcript.push_str(&String::from_utf8_lossy(&chunk[..n]));
                Ok(n)
            }
            Ok(Err(e))
                if matches!(
                    e.kind(),
                    io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
                ) =>
            {
                Err(ReadEnd::Eof)
            }
            Ok(Err(e)) => Err(ReadEnd::Io(e)),
        }
    }

    /// The received, unconsumed text (up to an incomplete UTF-8 sequence).
    pub fn pending(&self) -> &str {
        match std::str::from_utf8(&self.buf) {
            Ok(s) => s,
            Err(e) => std::str::from_utf8(&self.buf[..e.valid_up_to()]).unwrap_or(""),
        }
    }

    /// Everything received on this connection so far.
    pub fn transcript(&self) -> &str {
        &self.transcript
    }

    /// Reads until `pred` holds for the unconsumed text, which is returned (not consumed).
    pub async fn read_until(&mut self, pred: impl Fn(&str) -> bool, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            if pred(self.pending()) {
                return self.pending().to_string();
            }
            if let Err(end) = self.fill(deadline).await {
                panic!("waiting for a condition on the received text: {end:?}\nunconsumed: {:?}", self.pending());
            }
        }
    }

    /// Reads until the unconsumed text contains `needle`.
    pub async fn read_until_contains(&mut self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            if self.pending().contains(needle) {
                return self.pending().to_string();
            }
            if let Err(end) = self.fill(deadline).await {
                panic!("waiting for {needle:?}: {end:?}\nunconsumed: {:?}", self.pending());
            }
        }
    }

    /// Everything until the server closes the connection; consumes it.
    pub async fn read_to_close(&mut self, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            match self.fill(deadline).await {
                Ok(_) => {}
                Err(ReadEnd::Eof) => break,
                Err(end) => panic!(
                    "waiting for the server to close the connection: {end:?}\nunconsumed: {:?}",
                    String::from_utf8_lossy(&self.buf)
                ),
            }
        }
        let text = String::from_utf8_lossy(&self.buf).into_owned();
        self.buf.clear();
        text
    }

    /// Whether the server has closed the connection within `timeout`, with
    /// anything received meanwhile kept unconsumed.
    pub async fn closed_within(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            match self.fill(deadline).await {
                Ok(_) => {}
                Err(ReadEnd::Eof) => return true,
                Err(_) => return false,
            }
        }
    }

    // --------------------------------------------------------------- frames

    /// The next top-level frame, or why there was none.
    pub async fn try_next_frame(&mut self, timeout: Duration) -> Result<Frame, ReadEnd> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some((frame, used)) = frames::split(self.pending()) {
                self.buf.drain(..used);
                return Ok(frame);
            }
            self.fill(deadline).await?;
        }
    }

    pub async fn next_frame(&mut self, timeout: Duration) -> Frame {
        match self.try_next_frame(timeout).await {
            Ok(f) => f,
            Err(end) => panic!("expected more from the server: {end:?}\nreceived: {}", self.transcript),
        }
    }

    /// The next stanza or other top-level element (whitespace skipped).
    pub async fn next_element(&mut self) -> Element {
        self.next_element_within(TIMEOUT).await
    }

    pub async fn next_element_within(&mut self, timeout: Duration) -> Element {
        match self.next_frame(timeout).await {
            Frame::Element(raw) => frames::parse_stanza(&raw).unwrap_or_else(|e| panic!("{e}")),
            other => panic!("expected an element, got {other:?}\nreceived: {}", self.transcript),
        }
    }

    /// The next element for which `pred` holds; others are skipped.
    pub async fn next_where(&mut self, what: &str, pred: impl Fn(&Element) -> bool) -> Element {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let el = self.element_before(what, deadline).await;
            if pred(&el) {
                return el;
            }
        }
    }

    /// Every element received until (and including) the first that `stop`
    /// accepts, in arrival order.
    pub async fn until(&mut self, what: &str, stop: impl Fn(&Element) -> bool) -> Vec<Element> {
        let deadline = Instant::now() + TIMEOUT;
        let mut seen = Vec::new();
        loop {
            let el = self.element_before(what, deadline).await;
            let done = stop(&el);
            seen.push(el);
            if done {
                return seen;
            }
        }
    }

    /// Everything the server sent this client up to the answer to a ping of
    /// our own, the answer left out: a session's stanzas leave in order, so
    /// that answer comes after everything queued for the session before it.
    pub async fn drain(&mut self) -> Vec<Element> {
        let id = self.new_id("sync");
        let to = self.domain.clone();
        self.send(&format!("<iq type='get' id='{id}' to='{to}'><ping xmlns='urn:xmpp:ping'/></iq>")).await;
        let mut seen =
            self.until("the sync ping's answer", |e| e.name == "iq" && e.attr("id") == Some(id.as_str())).await;
        seen.pop();
        seen
    }

    /// The next element, which `what` names in the panic if none comes by `deadline`.
    async fn element_before(&mut self, what: &str, deadline: Instant) -> Element {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.try_next_frame(left).await {
            Ok(Frame::Element(raw)) => frames::parse_stanza(&raw).unwrap_or_else(|e| panic!("{e}")),
            Ok(other) => panic!("waiting for {what}, got {other:?}\nreceived: {}", self.transcript),
            Err(end) => panic!("waiting for {what}: {end:?}\nreceived: {}", self.transcript),
        }
    }

    /// The next `<message/>` (presence and other stanzas are skipped).
    pub async fn next_message(&mut self) -> Element {
        self.next_where("a message", |e| e.name == "message").await
    }

    /// Reads until the server closes and checks that it ended the stream with
    /// `<stream:error><CONDITION xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>...`,
    /// then `</stream:stream>`, then nothing. Returns the error element.
    pub async fn expect_stream_error(&mut self, condition: &str) -> Element {
        let text = self.read_to_close(TIMEOUT).await;
        check_stream_error(&text, condition).unwrap_or_else(|e| {
            panic!(
                "expected stream error <{condition}/>: {e}\nlast received: {text:?}\nwhole transcript: {}",
                self.transcript
            )
        })
    }

    // -------------------------------------------------------------- streams

    /// The stream header a client sends.
    pub fn header_for(to: &str) -> String {
        format!(
            "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
             xmlns:stream='http://etherx.jabber.org/streams' to='{to}' version='1.0' xml:lang='en'>"
        )
    }

    /// Opens (or restarts) the stream to `to` and returns the server's features.
    pub async fn open_stream(&mut self, to: &str) -> Element {
        self.domain = to.to_string();
        self.send(&Self::header_for(to)).await;
        self.read_server_header().await;
        let features = self.next_element().await;
        assert!(features.is("features", NS_STREAMS), "expected <stream:features/>, got {features}");
        self.features = Some(features.clone());
        self.stream_open = true;
        features
    }

    /// Reads the server's `<?xml?>` and `<stream:stream>`; returns the header tag.
    pub async fn read_server_header(&mut self) -> String {
        loop {
            match self.next_frame(TIMEOUT).await {
                Frame::Decl(_) => continue,
                Frame::Header(h) => {
                    assert!(h.contains(NS_STREAMS), "stream header without the streams namespace: {h}");
                    assert!(h.contains("jabber:client"), "stream header without jabber:client: {h}");
                    assert!(h.contains("version='1.0'") || h.contains("version=\"1.0\""), "header version: {h}");
                    return h;
                }
                other => panic!("expected the server's stream header, got {other:?}\nreceived: {}", self.transcript),
            }
        }
    }

    /// The mechanism names in the last features.
    pub fn mechanisms(&self) -> Vec<String> {
        let Some(f) = &self.features else { return Vec::new() };
        let Some(m) = f.child("mechanisms", NS_SASL) else { return Vec::new() };
        m.elements().filter(|e| e.name == "mechanism").map(|e| e.text()).collect()
    }

    pub fn is_tls(&self) -> bool {
        matches!(self.io, Io::Tls(_))
    }

    pub fn tls_version(&self) -> Option<ProtocolVersion> {
        self.tls_version
    }

    pub fn alpn(&self) -> Option<&[u8]> {
        self.alpn.as_deref()
    }

    /// The RFC 9266 tls-exporter value of this connection (TLS only).
    pub fn exporter(&self) -> Option<Vec<u8>> {
        self.exporter.clone()
    }

    /// `<starttls/>`, `<proceed/>`, the handshake; the stream must then be reopened.
    pub async fn starttls(&mut self) {
        self.starttls_with(None).await;
    }

    pub async fn starttls_with(&mut self, version: Option<&'static SupportedProtocolVersion>) {
        self.send(&format!("<starttls xmlns='{NS_TLS}'/>")).await;
        let el = self.next_element().await;
        assert!(el.is("proceed", NS_TLS), "expected <proceed/>, got {el}");
        assert!(self.buf.is_empty(), "bytes after <proceed/>: {:?}", self.pending());
        self.upgrade(version, Vec::new()).await;
    }

    async fn upgrade(&mut self, version: Option<&'static SupportedProtocolVersion>, alpn: Vec<Vec<u8>>) {
        let Io::Plain(tcp) = std::mem::replace(&mut self.io, Io::Gone) else {
            panic!("TLS is already on");
        };
        let config = client_config(&self.cert, version, alpn);
        let name = ServerName::try_from(self.domain.clone()).expect("a valid server name");
        let tls = match timeout_at(Instant::now() + TIMEOUT, TlsConnector::from(config).connect(name, tcp)).await {
            Ok(Ok(tls)) => tls,
            Ok(Err(e)) => panic!("TLS handshake with the server failed: {e}"),
            Err(_) => panic!("TLS handshake with the server timed out"),
        };
        let conn = tls.get_ref().1;
        self.tls_version = conn.protocol_version();
        self.alpn = conn.alpn_protocol().map(|a| a.to_vec());
        self.exporter =
            conn.export_keying_material([0u8; 32], b"EXPORTER-Channel-Binding", None).ok().map(|a| a.to_vec());
        self.io = Io::Tls(Box::new(tls));
        self.stream_open = false;
    }

    // ----------------------------------------------------------------- SASL

    /// One SASL attempt. `Ok` on `<success/>` (the SCRAM server signature
    /// checked); `Err` with the `<failure/>` element otherwise.
    pub async fn auth(&mut self, mech: Mech, user: &str, password: &str) -> Result<(), Element> {
        let user = localpart(user);
        match mech.scram() {
            None => {
                let msg = B64.encode(plain_message(user, password));
                self.send(&format!("<auth xmlns='{NS_SASL}' mechanism='PLAIN'>{msg}</auth>")).await;
                let el = self.next_element().await;
                match el.name.as_str() {
                    "success" if el.ns == NS_SASL => {
                        self.stream_open = false;
                        Ok(())
                    }
                    "failure" if el.ns == NS_SASL => Err(el),
                    _ => panic!("unexpected answer to PLAIN: {el}"),
                }
            }
            Some((hash, plus)) => {
                let binding = if plus {
                    Binding::Exporter(self.exporter.clone().expect("-PLUS needs a TLS connection"))
                } else {
                    Binding::None
                };
                self.auth_scram(mech, hash, binding, user, password).await
            }
        }
    }

    /// A SCRAM exchange with an explicit channel-binding choice (to forge one, say).
    pub async fn auth_scram(
        &mut self,
        mech: Mech,
        hash: Hash,
        binding: Binding,
        user: &str,
        password: &str,
    ) -> Result<(), Element> {
        let mut scram = ScramClient::new(hash, localpart(user), password, binding);
        let first = B64.encode(scram.client_first());
        self.send(&format!("<auth xmlns='{NS_SASL}' mechanism='{}'>{first}</auth>", mech.name())).await;
        let challenge = self.next_element().await;
        if challenge.is("failure", NS_SASL) {
            return Err(challenge);
        }
        assert!(challenge.is("challenge", NS_SASL), "expected a challenge, got {challenge}");
        let server_first = decode_sasl(&challenge.text());
        let fin = scram.client_final(&server_first).unwrap_or_else(|e| panic!("server-first-message: {e}"));
        self.send(&format!("<response xmlns='{NS_SASL}'>{}</response>", B64.encode(fin))).await;
        let mut outcome = self.next_element().await;
        if outcome.is("challenge", NS_SASL) {
            // Servers may send the verifier in a challenge, then an empty success.
            let server_final = decode_sasl(&outcome.text());
            scram.verify_server_final(&server_final).unwrap_or_else(|e| panic!("{e}"));
            self.send(&format!("<response xmlns='{NS_SASL}'/>")).await;
            outcome = self.next_element().await;
            assert!(outcome.is("success", NS_SASL), "expected <success/>, got {outcome}");
            self.stream_open = false;
            return Ok(());
        }
        if outcome.is("failure", NS_SASL) {
            return Err(outcome);
        }
        assert!(outcome.is("success", NS_SASL), "expected <success/> or <failure/>, got {outcome}");
        let server_final = decode_sasl(&outcome.text());
        scram.verify_server_final(&server_final).unwrap_or_else(|e| panic!("server-final-message: {e}"));
        self.stream_open = false;
        Ok(())
    }

    // ----------------------------------------------------------------- bind

    /// Binds a resource (or lets the server pick one); returns the full JID.
    pub async fn bind(&mut self, resource: Option<&str>) -> String {
        match self.try_bind(resource).await {
            Ok(jid) => jid,
            Err(el) => panic!("binding failed: {el}"),
        }
    }

    /// Binds; `Err` with the iq error.
    pub async fn try_bind(&mut self, resource: Option<&str>) -> Result<String, Element> {
        let id = self.new_id("bind");
        let inner = match resource {
            Some(r) => format!("<resource>{}</resource>", waxwing_xml::escape_text(r)),
            None => String::new(),
        };
        self.send(&format!("<iq type='set' id='{id}'><bind xmlns='{NS_BIND}'>{inner}</bind></iq>")).await;
        let el = self.next_element().await;
        assert!(el.is("iq", NS_CLIENT) && el.attr("id") == Some(id.as_str()), "expected the bind result, got {el}");
        if el.attr("type") == Some("error") {
            return Err(el);
        }
        assert_eq!(el.attr("type"), Some("result"), "bind answer: {el}");
        let jid = el
            .child("bind", NS_BIND)
            .and_then(|b| b.child("jid", NS_BIND))
            .map(|j| j.text())
            .unwrap_or_else(|| panic!("bind result without a JID: {el}"));
        self.jid = Some(jid.clone());
        Ok(jid)
    }

    // ---------------------------------------------------------------- login

    /// Connects with STARTTLS and reopens the stream: ready for `<auth/>` or
    /// in-band registration, the two things a stream may do before login.
    pub async fn connect_tls(server: &Server) -> RawClient {
        let mut c = RawClient::connect(server).await;
        c.open_stream("localhost").await;
        c.starttls().await;
        c.open_stream("localhost").await;
        c
    }

    /// Connects (STARTTLS), authenticates with SCRAM-SHA-256 and binds a server-chosen resource.
    pub async fn login(server: &Server, user: &str, password: &str) -> RawClient {
        Self::login_with(server, user, password, Mech::ScramSha256, None).await
    }

    /// Connects (STARTTLS), authenticates with `mech` and binds `resource`.
    pub async fn login_with(
        server: &Server,
        user: &str,
        password: &str,
        mech: Mech,
        resource: Option<&str>,
    ) -> RawClient {
        let mut c = RawClient::connect(server).await;
        c.authenticate_and_bind(user, password, mech, resource).await;
        c
    }

    /// The whole dance from wherever the connection is: stream open (unless
    /// already), STARTTLS (if not on TLS yet), SASL, stream restart, bind.
    /// Returns the full JID.
    pub async fn authenticate_and_bind(
        &mut self,
        user: &str,
        password: &str,
        mech: Mech,
        resource: Option<&str>,
    ) -> String {
        let domain = domain_of(user).to_string();
        if !self.stream_open {
            self.open_stream(&domain).await;
        }
        if !self.is_tls() {
            self.starttls().await;
            self.open_stream(&domain).await;
        }
        let offered = self.mechanisms();
        assert!(offered.iter().any(|m| m == mech.name()), "{} is not offered: {offered:?}", mech.name());
        if let Err(f) = self.auth(mech, user, password).await {
            panic!("{} authentication as {user} failed: {f}", mech.name());
        }
        let features = self.open_stream(&domain).await;
        assert!(features.child("bind", NS_BIND).is_some(), "no <bind/> offered after authentication: {features}");
        self.bind(resource).await
    }

    /// A fresh stanza id with a prefix.
    pub fn new_id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}-{}", self.next_id)
    }

    /// Sends available presence with `priority` and waits for its reflection:
    /// by then the server has recorded it (and told the plugins).
    pub async fn available(&mut self, priority: i8) {
        let me = self.jid.clone().expect("bound");
        self.send(&format!("<presence><priority>{priority}</priority></presence>")).await;
        self.next_where("my own presence reflected", |e| e.name == "presence" && e.attr("from") == Some(me.as_str()))
            .await;
    }

    /// Sends an iq (`type`, `to`, payload XML) and waits for the answer with the same id.
    pub async fn iq(&mut self, ty: &str, to: Option<&str>, payload: &str) -> Element {
        let id = self.new_id("iq");
        let to = to.map(|t| format!(" to='{t}'")).unwrap_or_default();
        self.send(&format!("<iq type='{ty}' id='{id}'{to}>{payload}</iq>")).await;
        self.next_where(&format!("the answer to iq {id}"), |e| e.name == "iq" && e.attr("id") == Some(id.as_str()))
            .await
    }

    /// Ends the stream politely and waits for the server's `</stream:stream>` and close.
    pub async fn close(mut self) {
        self.send("</stream:stream>").await;
        let text = self.read_to_close(TIMEOUT).await;
        assert!(text.contains("</stream:stream>"), "the server did not close the stream: {text:?}");
    }
}

/// The text of a message's `<body/>`, or "".
pub fn body(m: &Element) -> String {
    m.child("body", "jabber:client").map(|b| b.text()).unwrap_or_default()
}

/// The localpart of `user@domain`, or `user` itself.
pub fn localpart(user: &str) -> &str {
    user.split_once('@').map_or(user, |(l, _)| l)
}

/// The domain of `user@domain`, `localhost` without one.
pub fn domain_of(user: &str) -> &str {
    user.split_once('@').map_or("localhost", |(_, d)| d.split('/').next().unwrap_or(d))
}

fn decode_sasl(text: &str) -> String {
    let t = text.trim();
    if t.is_empty() || t == "=" {
        return String::new();
    }
    let bytes = B64.decode(t).unwrap_or_else(|e| panic!("the server sent bad base64 {t:?}: {e}"));
    String::from_utf8(bytes).unwrap_or_else(|e| panic!("SASL data is not UTF-8: {e}"))
}

/// A client config trusting only the server's generated certificate.
pub fn client_config(
    cert: &Path,
    version: Option<&'static SupportedProtocolVersion>,
    alpn: Vec<Vec<u8>>,
) -> Arc<ClientConfig> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .unwrap_or_else(|e| panic!("server bug: its generated certificate {} cannot be loaded: {e}", cert.display()));
    assert!(!certs.is_empty(), "server bug: {} holds no certificate", cert.display());
    let mut roots = RootCertStore::empty();
    for c in certs {
        roots.add(c).unwrap_or_else(|e| panic!("server bug: {} is not a usable certificate: {e}", cert.display()));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider);
    let builder = match version {
        Some(v) => builder.with_protocol_versions(&[v]),
        None => builder.with_safe_default_protocol_versions(),
    }
    .expect("protocol versions supported by ring");
    let mut config = builder.with_root_certificates(roots).with_no_client_auth();
    config.alpn_protocols = alpn;
    Arc::new(config)
}

/// Checks a stream's final text: `<stream:error>` with `condition` first,
/// then `</stream:stream>`, then nothing. Returns the error element.
pub fn check_stream_error(text: &str, condition: &str) -> Result<Element, String> {
    let frames = frames::split_all(text);
    let pos = frames
        .iter()
        .position(|f| matches!(f, Frame::Element(raw) if raw.starts_with("<stream:error")))
        .ok_or_else(|| format!("no <stream:error> in {frames:?}"))?;
    let Frame::Element(raw) = &frames[pos] else { unreachable!() };
    let el = frames::parse_stanza(raw)?;
    if !el.is("error", NS_STREAMS) {
        return Err(format!("not a stream error: {el}"));
    }
    let first = el.first_element().ok_or("empty <stream:error>")?;
    if !(first.name == condition && first.ns == NS_STREAM_ERRORS) {
        return Err(format!("the condition is <{} xmlns='{}'/>, not <{condition}/>: {el}", first.name, first.ns));
    }
    if frames[pos + 1..] != [Frame::Close] {
        return Err(format!("after the stream error came {:?}, not just </stream:stream>", &frames[pos + 1..]));
    }
    Ok(el)
}

/// The stanza error condition of an `type='error'` stanza, e.g. `service-unavailable`.
pub fn stanza_error_condition(el: &Element) -> Option<String> {
    let err = el.child("error", NS_CLIENT)?;
    err.elements().find(|e| e.ns == NS_STANZA_ERRORS && e.name != "text").map(|e| e.name.clone())
}

/// The `type` attribute of an error stanza's `<error/>` (cancel, modify, ...).
pub fn stanza_error_type(el: &Element) -> Option<String> {
    el.child("error", NS_CLIENT)?.attr("type").map(str::to_string)
}
