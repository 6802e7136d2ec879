//! A stream another server opened to us: header checks, STARTTLS, SASL
//! EXTERNAL, then dialback requests and stanzas for the pairs of domains
//! it has proven.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use rustls::pki_types::CertificateDer;
use tokio::io::split;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until, timeout_at};
use waxwing_xml::{Element, StreamErrorCondition as Cond, ns};

use super::wire::{self, DIALBACK};
use super::{Reader, S2s, Writer, verify};
use crate::stream::{self, BoxIo, StreamWriter};
use crate::xml::{StreamEvent, StreamHeader, StreamReadError, StreamReader};

struct Closed;

/// Dialback requests one stream may have waiting for their verification.
const MAX_VERIFYING: usize = 16;

struct Incoming {
    ctx: Arc<S2s>,
    peer: SocketAddr,
    reader: Option<Reader>,
    writer: Writer,
    tls: bool,
    certs: Vec<CertificateDer<'static>>,
    header_sent: bool,
    /// Our domain, from the header's `to`.
    local: String,
    /// The peer's domain, from the header's `from` (optional for dialback).
    remote: Option<String>,
    stream_id: String,
    /// (remote, local) pairs the peer has proven.
    proven: HashSet<(String, String)>,
    /// Dialback verifications in flight: each makes us dial a server the
    /// peer names, so one stream may not start them without bound.
    verifying: usize,
    deadline: Instant,
}

/// A dialback verification finished.
struct Verified {
    remote: String,
    local: String,
    outcome: Result<bool, String>,
}

pub(super) async fn serve(ctx: Arc<S2s>, tcp: TcpStream, peer: SocketAddr, direct_tls: bool) {
    ctx.incoming.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    serve_counted(&ctx, tcp, peer, direct_tls).await;
    ctx.incoming.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
}

async fn serve_counted(ctx: &Arc<S2s>, tcp: TcpStream, peer: SocketAddr, direct_tls: bool) {
    let ctx = ctx.clone();
    let deadline = Instant::now() + Duration::from_secs(ctx.config.limits.negotiation_timeout_secs);
    let mut certs = Vec::new();
    let io: BoxIo = if direct_tls {
        let acceptor = tokio_rustls::TlsAcceptor::from(ctx.tls.s2s_direct.clone());
        match timeout_at(deadline, acceptor.accept(tcp)).await {
            Ok(Ok(tls)) => {
                certs = client_certs(tls.get_ref().1);
                Box::new(tls)
            }
            _ => return tracing::debug!(%peer, "s2s direct TLS handshake failed"),
        }
    } else {
        Box::new(tcp)
    };
    let (r, w) = split(io);
    let mut conn = Incoming {
        reader: Some(StreamReader::new(r, ctx.limits())),
        writer: StreamWriter::new(w),
        ctx,
        peer,
        tls: direct_tls,
        certs,
        header_sent: false,
        local: String::new(),
        remote: None,
        stream_id: String::new(),
        proven: HashSet::new(),
        verifying: 0,
        deadline,
    };
    if let Ok(first) = conn.negotiate().await {
        conn.run(first).await;
    }
}

fn client_certs(conn: &rustls::ServerConnection) -> Vec<CertificateDer<'static>> {
    conn.peer_certificates().map(|c| c.iter().map(|c| c.clone().into_owned()).collect()).unwrap_or_default()
}

impl Incoming {
    /// Writes the stream error (after our header, if not yet sent) and closes.
    async fn fail(&mut self, condition: Cond, text: &str) -> Closed {
        tracing::debug!(peer = %self.peer, "closing s2s stream: {condition}: {text}");
        let mut out = String::new();
        if !self.header_sent {
            let from = if self.local.is_empty() { None } else { Some(self.local.as_str()) };
            out.push_str(&wire::header(from.unwrap_or(""), None, Some(&stream::new_id())));
        }
        out.push_str(&stream::error_and_close(condition, Some(text)));
        let _ = self.writer.send(&out).await;
        self.writer.shutdown().await;
        Closed
    }

    async fn next_event(&mut self) -> Result<StreamEvent, Closed> {
        let deadline = self.deadline;
        let Some(reader) = self.reader.as_mut() else { return Err(Closed) };
        match timeout_at(deadline, reader.next()).await {
            Err(_) => Err(self.fail(Cond::ConnectionTimeout, "stream negotiation took too long").await),
            Ok(Ok(ev)) => Ok(ev),
            Ok(Err(StreamReadError::Stream(c, t))) => Err(self.fail(c, &t).await),
            Ok(Err(_)) => Err(Closed),
        }
    }

    async fn next_element(&mut self) -> Result<Element, Closed> {
        loop {
            match self.next_event().await? {
                StreamEvent::Stanza(el) => return Ok(el),
                StreamEvent::Keepalive => continue,
                StreamEvent::Close => {
                    let _ = self.writer.send("</stream:stream>").await;
                    return Err(Closed);
                }
                StreamEvent::Open(_) => return Err(self.fail(Cond::BadFormat, "unexpected stream header").await),
            }
        }
    }

    /// Header, STARTTLS and SASL EXTERNAL, each restarting the stream.
    /// Returns the first element of the authenticated (or dialback) phase.
    async fn negotiate(&mut self) -> Result<Element, Closed> {
        let mut sasl_done = false;
        loop {
            let header = match self.next_event().await? {
                StreamEvent::Open(h) => h,
                _ => return Err(self.fail(Cond::BadFormat, "expected a stream header").await),
            };
            self.open(&header, sasl_done).await?;
            if sasl_done {
                return self.next_element().await;
            }
            let el = self.next_element().await?;
            if el.is("starttls", ns::TLS) && !self.tls {
                self.starttls().await?;
                continue;
            }
            if el.is("auth", ns::SASL) {
                if self.external(&el).await? {
                    sasl_done = true;
                    let reader = self.reader.take().ok_or(Closed)?;
                    self.reader = Some(reader.restart());
                    self.header_sent = false;
                    continue;
                }
                // A failed EXTERNAL leaves the stream open for dialback.
                return self.next_element().await;
            }
            return Ok(el);
        }
    }

    /// Checks the peer's header (RFC 6120 §4.7) and answers with ours and the features.
    async fn open(&mut self, header: &StreamHeader, sasl_done: bool) -> Result<(), Closed> {
        let Some(to) = header.attr("to").map(str::to_string) else {
            return Err(self.fail(Cond::ImproperAddressing, "a server's stream header needs a 'to' attribute").await);
        };
        if !self.ctx.is_local(&to) {
            return Err(self.fail(Cond::HostUnknown, &format!("'{to}' is not served here")).await);
        }
        self.local = to;
        if header.default_ns.as_deref() != Some(ns::SERVER) {
            return Err(self.fail(Cond::InvalidNamespace, "the content namespace must be 'jabber:server'").await);
        }
        self.remote = match header.attr("from") {
            None => None,
            Some(from) => match jid::DomainPart::new(from) {
                Ok(d) if !self.ctx.is_local(d.as_str()) => Some(d.to_string()),
                _ => return Err(self.fail(Cond::InvalidFrom, &format!("'{from}' is not a peer's domain")).await),
            },
        };
        match header.attr("version").map(stream::parse_version) {
            Some(Some((major, _))) if major >= 1 => {}
            _ => return Err(self.fail(Cond::UnsupportedVersion, "this server speaks XMPP 1.0 streams").await),
        }
        self.stream_id = stream::new_id();
        let s2s = &self.ctx.config.s2s;
        let external =
            self.tls && !sasl_done && self.remote.as_deref().is_some_and(|r| self.ctx.trust.proves(&self.certs, r));
        let features = if sasl_done {
            wire::features(true, s2s.require_tls, false, false)
        } else {
            wire::features(self.tls, s2s.require_tls, external, s2s.dialback)
        };
        let mut out = wire::header(&self.local, self.remote.as_deref(), Some(&self.stream_id));
        self.header_sent = true;
        out.push_str(&features);
        self.writer.send(&out).await.map_err(|_| Closed)
    }

    async fn starttls(&mut self) -> Result<(), Closed> {
        self.writer.send(&format!("<proceed xmlns='{}'/>", ns::TLS)).await.map_err(|_| Closed)?;
        let reader = self.reader.take().ok_or(Closed)?;
        let read_half = match reader.into_inner() {
            Ok(r) => r,
            Err(StreamReadError::Stream(c, t)) => return Err(self.fail(c, &t).await),
            Err(_) => return Err(Closed),
        };
        let placeholder: BoxIo = Box::new(tokio::io::duplex(64).0);
        let write_half = std::mem::replace(&mut self.writer, StreamWriter::new(split(placeholder).1)).into_inner();
        let acceptor = tokio_rustls::TlsAcceptor::from(self.ctx.tls.s2s_starttls.clone());
        let tls = match timeout_at(self.deadline, acceptor.accept(read_half.unsplit(write_half))).await {
            Ok(Ok(tls)) => tls,
            _ => {
                tracing::debug!(peer = %self.peer, "s2s STARTTLS handshake failed");
                return Err(Closed);
            }
        };
        self.certs = client_certs(tls.get_ref().1);
        let io: BoxIo = Box::new(tls);
        let (r, w) = split(io);
        self.reader = Some(StreamReader::new(r, self.ctx.limits()));
        self.writer = StreamWriter::new(w);
        self.tls = true;
        self.header_sent = false;
        Ok(())
    }

    /// SASL EXTERNAL (XEP-0178): the certificate must prove the domain the
    /// peer claims (its header's `from`, or the authorization identity).
    async fn external(&mut self, auth: &Element) -> Result<bool, Closed> {
        let failure = |cond: &str| format!("<failure xmlns='{}'><{cond}/></failure>", ns::SASL);
        if auth.attr("mechanism") != Some("EXTERNAL") || !self.tls {
            self.writer.send(&failure("invalid-mechanism")).await.map_err(|_| Closed)?;
            return Ok(false);
        }
        let text = auth.text();
        let text = text.trim();
        let authzid = match text {
            "" | "=" => None,
            b64 => {
                match base64::engine::general_purpose::STANDARD.decode(b64).ok().and_then(|b| String::from_utf8(b).ok())
                {
                    Some(id) => Some(id),
                    None => {
                        self.writer.send(&failure("incorrect-encoding")).await.map_err(|_| Closed)?;
                        return Ok(false);
                    }
                }
            }
        };
        let identity = match (authzid, &self.remote) {
            (Some(id), Some(from)) if &id != from => {
                self.writer.send(&failure("invalid-authzid")).await.map_err(|_| Closed)?;
                return Ok(false);
            }
            (Some(id), _) => id,
            (None, Some(from)) => from.clone(),
            (None, None) => {
                self.writer.send(&failure("not-authorized")).await.map_err(|_| Closed)?;
                return Ok(false);
            }
        };
        if self.ctx.is_local(&identity) || !self.ctx.trust.proves(&self.certs, &identity) {
            self.writer.send(&failure("not-authorized")).await.map_err(|_| Closed)?;
            return Ok(false);
        }
        self.writer.send(&format!("<success xmlns='{}'/>", ns::SASL)).await.map_err(|_| Closed)?;
        tracing::info!(remote = identity, local = self.local, "server-to-server stream authenticated by SASL EXTERNAL");
        self.proven.insert((identity.clone(), self.local.clone()));
        self.remote = Some(identity);
        Ok(true)
    }

    /// The stream after negotiation: dialback requests, verifications
    /// coming back, and stanzas.
    async fn run(mut self, first: Element) {
        let Some(reader) = self.reader.take() else { return };
        let (in_tx, mut inbound) = mpsc::channel(64);
        let reader_task = tokio::spawn(stream::read_events(reader, in_tx));
        let (verified_tx, mut verified) = mpsc::unbounded_channel::<Verified>();
        let idle = Duration::from_secs(self.ctx.config.s2s.idle_timeout_secs);
        let mut shutdown = self.ctx.shutdown.subscribe();
        let mut last_read = Instant::now();
        let mut pending = Some(first);
        let closing: Option<(Cond, String)> = loop {
            if let Some(el) = pending.take() {
                match self.element(el, &verified_tx).await {
                    Ok(()) => continue,
                    Err(close) => break close,
                }
            }
            tokio::select! {
                ev = inbound.recv() => {
                    last_read = Instant::now();
                    match ev {
                        Some(Ok(StreamEvent::Stanza(el))) => pending = Some(el),
                        Some(Ok(StreamEvent::Keepalive)) => {}
                        Some(Ok(StreamEvent::Close)) => {
                            let _ = self.writer.send("</stream:stream>").await;
                            break None;
                        }
                        Some(Ok(StreamEvent::Open(_))) => break Some((Cond::BadFormat, "unexpected stream header".into())),
                        Some(Err(StreamReadError::Stream(c, t))) => break Some((c, t)),
                        _ => break None,
                    }
                }
                Some(v) = verified.recv() => {
                    if self.verified(v).await.is_err() {
                        break None;
                    }
                }
                _ = sleep_until(last_read + idle) => break Some((Cond::ConnectionTimeout, "idle too long".into())),
                _ = super::stopping(&mut shutdown) => {
                    break Some((Cond::SystemShutdown, "the server is shutting down".into()));
                }
            }
        };
        if let Some((c, t)) = closing {
            tracing::debug!(peer = %self.peer, "closing s2s stream: {c}: {t}");
            let _ = self.writer.send(&stream::error_and_close(c, Some(&t))).await;
        }
        reader_task.abort();
        self.writer.shutdown().await;
    }

    /// One element of the authenticated phase. `Err` closes the stream with that error.
    async fn element(
        &mut self,
        el: Element,
        verified_tx: &mpsc::UnboundedSender<Verified>,
    ) -> Result<(), Option<(Cond, String)>> {
        if el.is("error", ns::STREAMS) {
            // The peer is closing with its reason; answering with an error of our own would be noise.
            let condition = el.first_element().map(|c| c.name.clone()).unwrap_or_default();
            tracing::info!(peer = %self.peer, "the peer closed its server-to-server stream: {condition}");
            let _ = self.writer.send("</stream:stream>").await;
            return Err(None);
        }
        if el.ns == DIALBACK && el.name == "result" && el.attr("type").is_none() {
            return self.dialback_request(el, verified_tx);
        }
        if el.ns == DIALBACK && el.name == "verify" && el.attr("type").is_none() {
            return self.verify_request(el).await;
        }
        if el.ns != ns::SERVER || !matches!(el.name.as_str(), "message" | "presence" | "iq") {
            if self.proven.is_empty() {
                return Err(Some((Cond::NotAuthorized, "authenticate first (SASL EXTERNAL or dialback)".into())));
            }
            return Err(Some((Cond::UnsupportedStanzaType, format!("<{}/> in '{}' is not a stanza", el.name, el.ns))));
        }
        if self.proven.is_empty() {
            return Err(Some((Cond::NotAuthorized, "authenticate first (SASL EXTERNAL or dialback)".into())));
        }
        let (Some(from), Some(to)) = (el.attr("from"), el.attr("to")) else {
            return Err(Some((Cond::ImproperAddressing, "a stanza between servers needs 'from' and 'to'".into())));
        };
        let (Ok(from), Ok(to)) = (jid::Jid::new(from), jid::Jid::new(to)) else {
            return Err(Some((Cond::ImproperAddressing, "'from' or 'to' is not a valid address".into())));
        };
        let pair = (from.domain().to_string(), to.domain().to_string());
        if !self.proven.contains(&pair) {
            if !self.proven.iter().any(|(r, _)| *r == pair.0) {
                return Err(Some((Cond::InvalidFrom, format!("'{}' was not authenticated on this stream", pair.0))));
            }
            if !self.ctx.is_local(&pair.1) {
                return Err(Some((Cond::HostUnknown, format!("'{}' is not served here", pair.1))));
            }
            return Err(Some((Cond::InvalidFrom, format!("'{}' was not authenticated for '{}'", pair.0, pair.1))));
        }
        if let Some(router) = self.ctx.router() {
            router.from_edge(el, ns::SERVER);
        }
        Ok(())
    }

    /// `<db:result>` with a key: the peer claims a domain; ask its
    /// authoritative server, answer when it replies.
    fn dialback_request(
        &mut self,
        el: Element,
        verified_tx: &mpsc::UnboundedSender<Verified>,
    ) -> Result<(), Option<(Cond, String)>> {
        let s2s = &self.ctx.config.s2s;
        if !s2s.dialback {
            return Err(Some((Cond::UnsupportedStanzaType, "dialback is not offered here".into())));
        }
        if s2s.require_tls && !self.tls {
            return Err(Some((Cond::PolicyViolation, "encrypt the stream first (STARTTLS)".into())));
        }
        let (Some(from), Some(to)) = (el.attr("from"), el.attr("to")) else {
            return Err(Some((Cond::ImproperAddressing, "<db:result/> needs 'from' and 'to'".into())));
        };
        if !self.ctx.is_local(to) {
            return Err(Some((Cond::HostUnknown, format!("'{to}' is not served here"))));
        }
        let remote = match jid::DomainPart::new(from) {
            Ok(d) if !self.ctx.is_local(d.as_str()) => d.to_string(),
            _ => return Err(Some((Cond::InvalidFrom, format!("'{from}' is not a peer's domain")))),
        };
        if s2s.require_valid_certificate && !self.ctx.trust.proves(&self.certs, &remote) {
            return Err(Some((
                Cond::NotAuthorized,
                format!("the certificate does not prove '{remote}', and this server requires that it does"),
            )));
        }
        if self.verifying >= MAX_VERIFYING {
            return Err(Some((
                Cond::PolicyViolation,
                format!("more than {MAX_VERIFYING} dialback requests at once on one stream"),
            )));
        }
        self.verifying += 1;
        let (ctx, local, id, key, tx) =
            (self.ctx.clone(), to.to_string(), self.stream_id.clone(), el.text(), verified_tx.clone());
        tokio::spawn(async move {
            let outcome = verify::ask(&ctx, &local, &remote, &id, key.trim()).await.map_err(|e| e.why);
            let _ = tx.send(Verified { remote, local, outcome });
        });
        Ok(())
    }

    async fn verified(&mut self, v: Verified) -> Result<(), Closed> {
        self.verifying = self.verifying.saturating_sub(1);
        let answer = match &v.outcome {
            Ok(true) => {
                tracing::info!(remote = v.remote, local = v.local, "server-to-server stream authenticated by dialback");
                self.proven.insert((v.remote.clone(), v.local.clone()));
                wire::db("result", &v.local, &v.remote, None, None, Some("valid"))
            }
            Ok(false) => wire::db("result", &v.local, &v.remote, None, None, Some("invalid")),
            Err(why) => {
                tracing::info!(remote = v.remote, "dialback verification failed: {why}");
                let mut out = format!("<db:result from='{}' to='{}' type='error'>", v.local, v.remote);
                out.push_str("<error type='cancel'><remote-server-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></db:result>");
                out
            }
        };
        self.writer.send(&answer).await.map_err(|_| Closed)
    }

    /// `<db:verify>`: we are the authoritative server; is the key ours?
    async fn verify_request(&mut self, el: Element) -> Result<(), Option<(Cond, String)>> {
        let (Some(from), Some(to), Some(id)) = (el.attr("from"), el.attr("to"), el.attr("id")) else {
            return Err(Some((Cond::ImproperAddressing, "<db:verify/> needs 'from', 'to' and 'id'".into())));
        };
        let valid = self.ctx.is_local(to) && self.ctx.secret.verify(from, to, id, &el.text());
        let answer = wire::db("verify", to, from, Some(id), None, Some(if valid { "valid" } else { "invalid" }));
        self.writer.send(&answer).await.map_err(|_| None)
    }
}
