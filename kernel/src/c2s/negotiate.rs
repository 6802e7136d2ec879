//! From TCP accept to a bound resource: stream header, STARTTLS, SASL,
//! resource binding (RFC 6120 §4–§7). Sequential: nothing else is written
//! to the client until it has bound a resource.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout_at};
use waxwing_xml::{Element, StanzaError, StanzaErrorCondition, StreamErrorCondition as Cond, ns};

use super::{C2s, features, registration, sasl_exchange};
use crate::router::{BindError, Outbound, Session};
use crate::sasl::Mechanism;
use crate::stream::{self, BoxIo, StreamWriter};
use crate::tenants::ConnectionSlot;
use crate::xml::{StreamEvent, StreamHeader, StreamLimits, StreamReadError, StreamReader};

pub type Reader = StreamReader<ReadHalf<BoxIo>>;
pub type Writer = StreamWriter<WriteHalf<BoxIo>>;

/// A client that has bound a resource, handed to the session loop.
pub struct Bound {
    pub reader: Reader,
    pub writer: Writer,
    pub session: Arc<Session>,
    pub outbound: mpsc::UnboundedReceiver<Outbound>,
    pub peer: SocketAddr,
    pub(super) slot: ConnectionSlot,
}

/// The negotiation ended; what was owed to the client has been written.
pub struct Closed;

pub(super) struct Conn<'a> {
    pub ctx: &'a Arc<C2s>,
    pub peer: SocketAddr,
    pub reader: Option<Reader>,
    pub writer: Writer,
    pub tls: bool,
    pub exporter: Option<Vec<u8>>,
    header_sent: bool,
    pub domain: String,
    lang: String,
    deadline: Instant,
    pub username: Option<String>,
    pub failed_auths: u32,
    slot: Option<ConnectionSlot>,
}

pub fn limits(ctx: &C2s) -> StreamLimits {
    let config = ctx.config();
    let l = &config.limits;
    StreamLimits { max_stanza_bytes: l.max_stanza_bytes, max_depth: l.max_depth, max_attributes: l.max_attributes }
}

pub async fn negotiate(ctx: &Arc<C2s>, tcp: TcpStream, peer: SocketAddr, direct_tls: bool) -> Option<Bound> {
    let deadline = Instant::now() + std::time::Duration::from_secs(ctx.config().limits.negotiation_timeout_secs);
    let (io, exporter): (BoxIo, Option<Vec<u8>>) = if direct_tls {
        let acceptor = tokio_rustls::TlsAcceptor::from(ctx.tls.direct.clone());
        match timeout_at(deadline, acceptor.accept(tcp)).await {
            Ok(Ok(tls)) => {
                let exporter = crate::tls::exporter_binding(tls.get_ref().1);
                (Box::new(tls), exporter)
            }
            Ok(Err(e)) => {
                tracing::debug!(%peer, "TLS handshake failed: {e}");
                return None;
            }
            Err(_) => return None,
        }
    } else {
        (Box::new(tcp), None)
    };
    negotiate_io(ctx, io, peer, direct_tls, exporter, deadline).await
}

/// The negotiation over a transport the caller has set up: `secure` when it
/// is encrypted already (or a WebSocket the HTTP layer vouches for), so no
/// STARTTLS is offered.
pub async fn negotiate_io(
    ctx: &Arc<C2s>,
    io: BoxIo,
    peer: SocketAddr,
    secure: bool,
    exporter: Option<Vec<u8>>,
    deadline: Instant,
) -> Option<Bound> {
    let (r, w) = tokio::io::split(io);
    let first_domain = ctx.router.domains().into_iter().next().unwrap_or_default();
    let mut conn = Conn {
        ctx,
        peer,
        reader: Some(StreamReader::new(r, limits(ctx))),
        writer: StreamWriter::new(w),
        tls: secure,
        exporter,
        header_sent: false,
        domain: first_domain,
        lang: "en".into(),
        deadline,
        username: None,
        failed_auths: 0,
        slot: None,
    };
    conn.run().await.ok()
}

impl Conn<'_> {
    async fn run(&mut self) -> Result<Bound, Closed> {
        loop {
            let header = self.read_header().await?;
            self.open(&header).await?;
            if self.stanzas_until_restart().await? {
                continue;
            }
            return self.bind_loop().await;
        }
    }

    fn reader(&mut self) -> Result<&mut Reader, Closed> {
        self.reader.as_mut().ok_or(Closed)
    }

    /// Reads the next event within the negotiation deadline.
    pub async fn next_event(&mut self) -> Result<StreamEvent, Closed> {
        let deadline = self.deadline;
        let mut shutdown = self.ctx.shutdown.subscribe();
        let reader = self.reader()?;
        // Dropping the read on shutdown is fine: the stream is closed right after.
        let read = tokio::select! {
            r = timeout_at(deadline, reader.next()) => Some(r),
            _ = shutdown.wait_for(|stopping| *stopping) => None,
        };
        match read {
            None => Err(self.fail(Cond::SystemShutdown, "the server is shutting down").await),
            Some(Err(_)) => Err(self.fail(Cond::ConnectionTimeout, "stream negotiation took too long").await),
            Some(Ok(Ok(ev))) => Ok(ev),
            Some(Ok(Err(StreamReadError::Stream(c, t)))) => Err(self.fail(c, &t).await),
            Some(Ok(Err(StreamReadError::Eof | StreamReadError::Io(_)))) => Err(Closed),
        }
    }

    /// The next top-level element; a closed stream ends the negotiation.
    pub async fn next_element(&mut self) -> Result<Element, Closed> {
        loop {
            match self.next_event().await? {
                StreamEvent::Stanza(el) => return Ok(el),
                StreamEvent::Keepalive => continue,
                StreamEvent::Close => {
                    let _ = self.writer.send("</stream:stream>").await;
                    self.writer.shutdown().await;
                    return Err(Closed);
                }
                StreamEvent::Open(_) => return Err(self.fail(Cond::BadFormat, "unexpected stream header").await),
            }
        }
    }

    async fn read_header(&mut self) -> Result<StreamHeader, Closed> {
        match self.next_event().await? {
            StreamEvent::Open(h) => Ok(h),
            _ => Err(self.fail(Cond::BadFormat, "expected a stream header").await),
        }
    }

    /// Writes the stream error (after our header, if not yet sent) and closes.
    pub async fn fail(&mut self, condition: Cond, text: &str) -> Closed {
        tracing::debug!(peer = %self.peer, "closing stream: {condition}: {text}");
        let mut out = String::new();
        if !self.header_sent {
            out.push_str(&stream::header(ns::CLIENT, &self.domain, None, &stream::new_id(), &self.lang));
        }
        out.push_str(&stream::error_and_close(condition, Some(text)));
        let _ = self.writer.send(&out).await;
        self.writer.shutdown().await;
        Closed
    }

    /// Checks the client's stream header (RFC 6120 §4.7) and answers with ours and the features.
    async fn open(&mut self, header: &StreamHeader) -> Result<(), Closed> {
        if let Some(lang) = header.attr("xml:lang") {
            self.lang = lang.chars().take(35).collect();
        }
        if header.default_ns.as_deref() != Some(ns::CLIENT) {
            return Err(self.fail(Cond::InvalidNamespace, "the content namespace must be 'jabber:client'").await);
        }
        let Some(to) = header.attr("to") else {
            return Err(self.fail(Cond::ImproperAddressing, "the stream header needs a 'to' attribute").await);
        };
        let to = jid::DomainPart::new(to).map(|d| d.to_string()).unwrap_or_else(|_| to.to_string());
        if !self.ctx.router.serves(&to) {
            return Err(self.fail(Cond::HostUnknown, &format!("'{to}' is not served here")).await);
        }
        if self.domain != to {
            if self.slot.is_some() {
                return Err(self.fail(Cond::HostUnknown, "the stream was restarted for another host").await);
            }
            self.domain = to;
        }
        if let Some(from) = header.attr("from")
            && jid::Jid::new(from).is_err()
        {
            return Err(self.fail(Cond::InvalidFrom, &format!("'{from}' is not a valid JID")).await);
        }
        match header.attr("version").map(stream::parse_version) {
            Some(Some((major, _))) if major >= 1 => {}
            _ => return Err(self.fail(Cond::UnsupportedVersion, "this server speaks XMPP 1.0 streams").await),
        }
        if self.slot.is_none() {
            let Some(tenant) = self.ctx.router.host(&self.domain) else {
                return Err(self.fail(Cond::HostUnknown, &format!("'{}' is not served here", self.domain)).await);
            };
            match tenant.admit_connection() {
                Some(slot) => self.slot = Some(slot),
                None => {
                    return Err(self.fail(Cond::ResourceConstraint, "this host has too many connections").await);
                }
            }
        }
        let mut out = stream::header(ns::CLIENT, &self.domain, None, &stream::new_id(), &self.lang);
        self.header_sent = true;
        out.push_str(&self.features());
        self.writer.send(&out).await.map_err(|_| Closed)
    }

    fn mechanisms(&self) -> Vec<Mechanism> {
        Mechanism::offered(self.tls, self.exporter.is_some(), self.ctx.config().sasl.allow_plain)
    }

    fn features(&self) -> String {
        let plugins = self.ctx.router.plugins().vhost(&self.domain);
        if self.username.is_some() {
            let offered = plugins.as_ref().map(|vp| vp.stream_features()).unwrap_or_default();
            let caps = plugins.as_ref().and_then(|vp| vp.caps_ver());
            features::bind(&offered.after_auth, caps.as_deref())
        } else if !self.tls {
            features::before_tls(self.ctx.config().tls.require_starttls, &self.mechanisms())
        } else {
            let offered = plugins.as_ref().map(|vp| vp.stream_features()).unwrap_or_default();
            features::sasl(&self.mechanisms(), self.exporter.is_some(), &offered.before_auth)
        }
    }

    /// Whether an element is an iq this stream may send before
    /// authenticating: over TLS, one a plugin route takes unauthenticated
    /// (XEP-0077 registration).
    fn is_registration(&self, el: &Element) -> bool {
        self.tls
            && el.is("iq", ns::CLIENT)
            && self.ctx.router.plugins().vhost(&self.domain).is_some_and(|vp| vp.takes_unauthenticated(el))
    }

    /// Handles elements until the stream restarts (true) or, once
    /// authenticated, until binding can start (false).
    async fn stanzas_until_restart(&mut self) -> Result<bool, Closed> {
        if self.username.is_some() {
            return Ok(false);
        }
        loop {
            let el = self.next_element().await?;
            match (el.ns.as_str(), el.name.as_str()) {
                (ns::TLS, "starttls") if !self.tls => {
                    self.starttls().await?;
                    return Ok(true);
                }
                (ns::SASL, "auth") => {
                    if sasl_exchange::authenticate(self, &el).await? {
                        let reader = self.reader.take().ok_or(Closed)?;
                        self.reader = Some(reader.restart());
                        self.header_sent = false;
                        return Ok(true);
                    }
                }
                _ if self.is_registration(&el) => registration::handle(self, el).await?,
                _ => return Err(self.fail(Cond::NotAuthorized, "authenticate first").await),
            }
        }
    }

    async fn starttls(&mut self) -> Result<(), Closed> {
        self.writer.send(&format!("<proceed xmlns='{}'/>", ns::TLS)).await.map_err(|_| Closed)?;
        let reader = self.reader.take().ok_or(Closed)?;
        let read_half = match reader.into_inner() {
            Ok(r) => r,
            Err(StreamReadError::Stream(c, t)) => return Err(self.fail(c, &t).await),
            Err(_) => return Err(Closed),
        };
        let write_half = std::mem::replace(&mut self.writer, detached_writer()).into_inner();
        let io = read_half.unsplit(write_half);
        let acceptor = tokio_rustls::TlsAcceptor::from(self.ctx.tls.starttls.clone());
        let tls = match timeout_at(self.deadline, acceptor.accept(io)).await {
            Ok(Ok(tls)) => tls,
            Ok(Err(e)) => {
                tracing::debug!(peer = %self.peer, "STARTTLS handshake failed: {e}");
                return Err(Closed);
            }
            Err(_) => return Err(Closed),
        };
        self.exporter = crate::tls::exporter_binding(tls.get_ref().1);
        let io: BoxIo = Box::new(tls);
        let (r, w) = tokio::io::split(io);
        self.reader = Some(StreamReader::new(r, limits(self.ctx)));
        self.writer = StreamWriter::new(w);
        self.tls = true;
        self.header_sent = false;
        Ok(())
    }

    /// Resource binding (RFC 6120 §7), and the legacy session iq some clients still send.
    async fn bind_loop(&mut self) -> Result<Bound, Closed> {
        let Some(username) = self.username.clone() else { return Err(Closed) };
        loop {
            let el = self.next_element().await?;
            if !(el.ns == ns::CLIENT && el.name == "iq" && el.attr("type") == Some("set")) {
                return Err(self.fail(Cond::NotAuthorized, "bind a resource first").await);
            }
            let id = el.attr("id").unwrap_or("").to_string();
            if el.child("session", ns::SESSION).is_some() {
                self.send_iq_result(&id, None).await?;
                continue;
            }
            let Some(bind) = el.child("bind", ns::BIND) else {
                return Err(self.fail(Cond::NotAuthorized, "bind a resource first").await);
            };
            let requested = bind.child("resource", ns::BIND).map(|r| r.text()).filter(|r| !r.is_empty());
            // The tenant this connection was counted against; removed
            // meanwhile, it takes no new session.
            let tenant = match (&self.slot, self.ctx.router.host(&self.domain)) {
                (Some(slot), Some(now)) if Arc::ptr_eq(slot.tenant(), &now) => now,
                _ => return Err(self.fail(Cond::HostGone, "this host is no longer served here").await),
            };
            let (tx, rx) = mpsc::unbounded_channel();
            match tenant.sessions.bind(&username, requested.as_deref(), tx) {
                Ok(session) => {
                    session.set_peer(self.peer);
                    let jid = Element::new("bind", ns::BIND)
                        .with_child(Element::new("jid", ns::BIND).with_text(session.jid.to_string()));
                    self.send_iq_result(&id, Some(jid)).await?;
                    return self.take_bound(session, rx);
                }
                Err(BindError::BadResource(why)) => {
                    let err = StanzaError::new(StanzaErrorCondition::BadRequest).with_text(format!("resource: {why}"));
                    let reply = err.reply_to(&el);
                    self.writer.send(&reply.to_xml_in(ns::CLIENT)).await.map_err(|_| Closed)?;
                }
            }
        }
    }

    async fn send_iq_result(&mut self, id: &str, payload: Option<Element>) -> Result<(), Closed> {
        let mut iq = Element::new("iq", ns::CLIENT).with_attr("type", "result").with_attr("id", id);
        if let Some(p) = payload {
            iq.push_child(p);
        }
        self.writer.send(&iq.to_xml_in(ns::CLIENT)).await.map_err(|_| Closed)
    }

    fn take_bound(
        &mut self,
        session: Arc<Session>,
        outbound: mpsc::UnboundedReceiver<Outbound>,
    ) -> Result<Bound, Closed> {
        let reader = self.reader.take().ok_or(Closed)?;
        let writer = std::mem::replace(&mut self.writer, detached_writer());
        let slot = self.slot.take().ok_or(Closed)?;
        Ok(Bound { reader, writer, session, outbound, peer: self.peer, slot })
    }
}

/// Stands in for the writer while the real one is moved out (for the TLS
/// upgrade, or to the session loop); writes to it go nowhere.
fn detached_writer() -> Writer {
    let (placeholder, _) = tokio::io::duplex(64);
    let io: BoxIo = Box::new(placeholder);
    StreamWriter::new(tokio::io::split(io).1)
}
