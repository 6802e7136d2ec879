//! One lean client connection: TCP, STARTTLS, SCRAM, bind, then stanzas as
//! byte ranges. Works against any RFC 6120 server (Waxwing, Prosody, ejabberd).

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::scan::{self, Event, Scanner};
use crate::scram::{Hash, Scram};

/// Where to connect and whom to trust.
#[derive(Clone)]
pub struct Target {
    pub addr: SocketAddr,
    pub domain: String,
    pub tls: Arc<ClientConfig>,
    pub timeout: Duration,
}

impl Target {
    /// Without `resume`, every connection makes a full TLS handshake (no
    /// session tickets): the conservative cost of a login.
    pub fn new(addr: SocketAddr, domain: &str, ca: &Path, timeout: Duration, resume: bool) -> Result<Target, String> {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(ca)
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
            .map_err(|e| format!("reading {}: {e}", ca.display()))?;
        let mut roots = RootCertStore::empty();
        for c in certs {
            roots.add(c).map_err(|e| format!("{}: {e}", ca.display()))?;
        }
        if roots.is_empty() {
            return Err(format!("{} holds no certificate", ca.display()));
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        if !resume {
            config.resumption = rustls::client::Resumption::disabled();
        }
        Ok(Target { addr, domain: domain.to_string(), tls: Arc::new(config), timeout })
    }
}

pub type Error = String;

fn io_err(what: &str, e: io::Error) -> Error {
    format!("{what}: {e}")
}

/// The reading side of a connection: bytes in, top-level elements out.
pub struct Reader<R> {
    rd: R,
    pub scan: Scanner,
}

impl<R: AsyncRead + Unpin> Reader<R> {
    pub fn new(rd: R) -> Self {
        Reader { rd, scan: Scanner::new() }
    }

    /// The next event; `Err` on end of stream or an i/o error.
    pub async fn next(&mut self) -> Result<Event, Error> {
        loop {
            if let Some(ev) = self.scan.next() {
                return Ok(ev);
            }
            self.scan.compact();
            let buf = &mut self.scan.buf;
            if buf.capacity() - buf.len() < 4096 {
                buf.reserve(8192);
            }
            let n = self.rd.read_buf(buf).await.map_err(|e| io_err("read", e))?;
            if n == 0 {
                return Err("the server closed the connection".into());
            }
        }
    }

    /// The next top-level element, as bytes valid until the next call.
    pub async fn stanza(&mut self) -> Result<&[u8], Error> {
        loop {
            match self.next().await? {
                Event::Stanza(r) => return Ok(self.scan.slice(r)),
                Event::Open => {}
                Event::Close => return Err("the server closed the stream".into()),
            }
        }
    }

    async fn expect_open(&mut self) -> Result<(), Error> {
        match self.next().await? {
            Event::Open => Ok(()),
            other => Err(format!("expected a stream header, got {other:?}")),
        }
    }

    /// The next element, which must be named `want`; returns it as text.
    async fn expect(&mut self, want: &str) -> Result<String, Error> {
        let st = self.stanza().await?;
        if scan::name(st) != want.as_bytes() && !scan::name(st).ends_with(format!(":{want}").as_bytes()) {
            return Err(format!("expected <{want}>, got {}", String::from_utf8_lossy(st)));
        }
        Ok(String::from_utf8_lossy(st).into_owned())
    }
}

pub type Tls = TlsStream<TcpStream>;

/// A bound session, split so a reader and a writer task can run at once.
pub struct Session {
    pub jid: String,
    pub reader: Reader<ReadHalf<Tls>>,
    pub writer: WriteHalf<Tls>,
}

impl Session {
    pub async fn send(&mut self, xml: &str) -> Result<(), Error> {
        send(&mut self.writer, xml).await
    }

    /// Sends `</stream:stream>` and waits (bounded) for the server's close.
    pub async fn close(mut self) {
        let _ = send(&mut self.writer, "</stream:stream>").await;
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            while let Ok(ev) = self.reader.next().await {
                if ev == Event::Close {
                    break;
                }
            }
        })
        .await;
        let _ = self.writer.shutdown().await;
    }
}

pub async fn send<W: AsyncWrite + Unpin>(w: &mut W, xml: &str) -> Result<(), Error> {
    w.write_all(xml.as_bytes()).await.map_err(|e| io_err("write", e))?;
    w.flush().await.map_err(|e| io_err("flush", e))
}

fn header(domain: &str) -> String {
    format!(
        "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' \
         to='{domain}' version='1.0' xml:lang='en'>"
    )
}

/// TCP, then STARTTLS; returns the TLS stream with its features read.
async fn tls(target: &Target) -> Result<(Reader<Tls>, String), Error> {
    let tcp = TcpStream::connect(target.addr).await.map_err(|e| io_err("connect", e))?;
    let _ = tcp.set_nodelay(true);
    let mut plain = Reader::new(tcp);
    send(&mut plain.rd, &header(&target.domain)).await?;
    plain.expect_open().await?;
    let features = plain.expect("features").await?;
    if !features.contains("starttls") {
        return Err(format!("no STARTTLS offered: {features}"));
    }
    send(&mut plain.rd, "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>").await?;
    plain.expect("proceed").await?;
    let name = ServerName::try_from(target.domain.clone()).map_err(|e| e.to_string())?;
    let stream =
        TlsConnector::from(target.tls.clone()).connect(name, plain.rd).await.map_err(|e| io_err("TLS handshake", e))?;
    let mut r = Reader::new(stream);
    send(&mut r.rd, &header(&target.domain)).await?;
    r.expect_open().await?;
    let features = r.expect("features").await?;
    Ok((r, features))
}

/// A TLS stream up to (not including) authentication: for in-band registration.
pub async fn pre_auth(target: &Target) -> Result<(Reader<Tls>, String), Error> {
    tls(target).await
}

impl<R: AsyncRead + AsyncWrite + Unpin> Reader<R> {
    pub async fn write(&mut self, xml: &str) -> Result<(), Error> {
        send(&mut self.rd, xml).await
    }
}

/// TLS + SCRAM + bind; `resource` is requested as is.
pub async fn login(target: &Target, user: &str, password: &str, resource: &str) -> Result<Session, Error> {
    tokio::time::timeout(target.timeout, login_inner(target, user, password, resource))
        .await
        .map_err(|_| format!("login of {user} took longer than {:?}", target.timeout))?
}

async fn login_inner(target: &Target, user: &str, password: &str, resource: &str) -> Result<Session, Error> {
    let (mut r, features) = tls(target).await?;
    let hash = if features.contains(">SCRAM-SHA-256<") {
        Hash::Sha256
    } else if features.contains(">SCRAM-SHA-1<") {
        Hash::Sha1
    } else {
        return Err(format!("no SCRAM-SHA-1 or -256 offered: {features}"));
    };
    let mut scram = Scram::new(hash, user, password);
    r.write(&format!(
        "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='{}'>{}</auth>",
        hash.mechanism(),
        B64.encode(scram.client_first())
    ))
    .await?;
    let challenge = r.expect("challenge").await?;
    let server_first = decode(scan::first_text(challenge.as_bytes()))?;
    let fin = scram.client_final(&server_first)?;
    r.write(&format!("<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>{}</response>", B64.encode(fin))).await?;
    let success = r.expect("success").await.map_err(|e| format!("{user}: authentication failed: {e}"))?;
    scram.verify(&decode(scan::first_text(success.as_bytes()))?)?;
    r.scan.restart();
    r.write(&header(&target.domain)).await?;
    r.expect_open().await?;
    let features = r.expect("features").await?;
    r.write(&format!(
        "<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>{resource}</resource></bind></iq>"
    ))
    .await?;
    let bound = r.expect("iq").await?;
    if scan::attr(bound.as_bytes(), "type") != Some(b"result") {
        return Err(format!("bind failed: {bound}"));
    }
    let jid = String::from_utf8_lossy(scan::first_text(scan_jid(bound.as_bytes()))).into_owned();
    // RFC 3921's session establishment, where a server still requires it.
    if let Some(i) = features.find("xmpp-session") {
        let after = &features[i..];
        let optional = after.find("</session>").is_some_and(|end| after[..end].contains("optional"));
        if !optional {
            r.write("<iq type='set' id='sess1'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>").await?;
            r.expect("iq").await?;
        }
    }
    let Reader { rd, scan } = r;
    let (rd, writer) = tokio::io::split(rd);
    Ok(Session { jid, reader: Reader { rd, scan }, writer })
}

fn decode(b64: &[u8]) -> Result<String, Error> {
    let raw = B64.decode(b64).map_err(|e| format!("SASL payload is not base64: {e}"))?;
    String::from_utf8(raw).map_err(|e| e.to_string())
}

/// The `<jid>` element inside a bind result.
fn scan_jid(st: &[u8]) -> &[u8] {
    match scan::find(st, b"<jid") {
        Some(i) => &st[i..],
        None => b"",
    }
}
