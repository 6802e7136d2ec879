//! Dialling another server: find it, connect, encrypt (STARTTLS or direct
//! TLS), and read the features it offers to an encrypted stream. What the
//! connection is for (authenticating our domain, or asking to verify a
//! dialback key) is the caller's business.

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::split;
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};
use waxwing_xml::{Element, StanzaErrorCondition as Cond, ns};

use super::wire::{self, Offered};
use super::{Reader, S2s, Writer};
use crate::stream::{BoxIo, StreamWriter};
use crate::xml::{StreamEvent, StreamReader};

/// A stream to a peer, encrypted when it had to be, features read.
pub struct Dialled {
    pub reader: Reader,
    pub writer: Writer,
    /// The id the peer gave this stream: the dialback key is bound to it.
    pub stream_id: String,
    pub offered: Offered,
    pub tls: bool,
    /// The peer's certificate chain, leaf first.
    pub peer_certs: Vec<CertificateDer<'static>>,
}

/// Why a peer could not be reached; the condition its waiting stanzas bounce with.
#[derive(Debug)]
pub struct DialError {
    pub condition: Cond,
    pub why: String,
}

impl DialError {
    pub fn new(condition: Cond, why: impl Into<String>) -> Self {
        DialError { condition, why: why.into() }
    }
}

/// Tries each place the peer may be reached until one gives an encrypted
/// stream (or, where TLS is not required and not offered, a plain one).
pub async fn dial(ctx: &S2s, local: &str, remote: &str, deadline: Instant) -> Result<Dialled, DialError> {
    let targets = ctx.resolver.targets(&ctx.config.s2s, remote).await;
    if targets.is_empty() {
        return Err(DialError::new(
            Cond::RemoteServerNotFound,
            format!("'{remote}' offers no server-to-server service"),
        ));
    }
    let mut last = DialError::new(Cond::RemoteServerNotFound, format!("no address found for '{remote}'"));
    for target in targets {
        for addr in ctx.resolver.addresses(&target).await {
            // One address may not eat the whole budget of the others.
            let attempt = deadline.min(Instant::now() + Duration::from_secs(10));
            let tcp = match timeout_at(attempt, TcpStream::connect(addr)).await {
                Ok(Ok(tcp)) => tcp,
                Ok(Err(e)) => {
                    last = DialError::new(Cond::RemoteServerNotFound, format!("connecting to {addr}: {e}"));
                    continue;
                }
                Err(_) => {
                    last = DialError::new(Cond::RemoteServerTimeout, format!("connecting to {addr} timed out"));
                    continue;
                }
            };
            let _ = tcp.set_nodelay(true);
            match timeout_at(deadline, open(ctx, tcp, local, remote, target.direct_tls)).await {
                Ok(Ok(d)) => return Ok(d),
                Ok(Err(e)) => {
                    tracing::debug!(%addr, remote, "dialling failed: {}", e.why);
                    last = e;
                }
                Err(_) => {
                    return Err(DialError::new(Cond::RemoteServerTimeout, format!("{addr} did not answer in time")));
                }
            }
        }
    }
    Err(last)
}

async fn open(ctx: &S2s, tcp: TcpStream, local: &str, remote: &str, direct_tls: bool) -> Result<Dialled, DialError> {
    let mut certs = Vec::new();
    let io: BoxIo = if direct_tls {
        let tls = handshake(ctx, Box::new(tcp), local, remote, true).await?;
        certs = peer_certs(&tls);
        Box::new(tls)
    } else {
        Box::new(tcp)
    };
    let mut tls = direct_tls;
    let (r, w) = split(io);
    let mut reader = StreamReader::new(r, ctx.limits());
    let mut writer = StreamWriter::new(w);
    loop {
        let (stream_id, features) = exchange_headers(&mut reader, &mut writer, local, remote).await?;
        let offered = Offered::read(&features);
        if tls {
            return Ok(Dialled { reader, writer, stream_id, offered, tls, peer_certs: certs });
        }
        if !offered.starttls {
            if ctx.config.s2s.require_tls {
                return Err(DialError::new(
                    Cond::RemoteServerNotFound,
                    format!("'{remote}' does not offer TLS, which s2s.require_tls asks for"),
                ));
            }
            return Ok(Dialled { reader, writer, stream_id, offered, tls, peer_certs: certs });
        }
        send(&mut writer, &format!("<starttls xmlns='{}'/>", ns::TLS)).await?;
        let el = next_element(&mut reader).await?;
        if !el.is("proceed", ns::TLS) {
            return Err(DialError::new(Cond::RemoteServerNotFound, format!("'{remote}' refused STARTTLS: {el}")));
        }
        let read_half = reader
            .into_inner()
            .map_err(|e| DialError::new(Cond::RemoteServerNotFound, format!("STARTTLS with '{remote}': {e}")))?;
        let io = read_half.unsplit(writer.into_inner());
        let stream = handshake(ctx, io, local, remote, false).await?;
        certs = peer_certs(&stream);
        let io: BoxIo = Box::new(stream);
        let (r, w) = split(io);
        reader = StreamReader::new(r, ctx.limits());
        writer = StreamWriter::new(w);
        tls = true;
    }
}

async fn handshake(
    ctx: &S2s,
    io: BoxIo,
    local: &str,
    remote: &str,
    direct_tls: bool,
) -> Result<tokio_rustls::client::TlsStream<BoxIo>, DialError> {
    let config =
        ctx.dial_config(local, direct_tls).map_err(|e| DialError::new(Cond::InternalServerError, format!("{e:#}")))?;
    let name = ServerName::try_from(remote.to_string())
        .map_err(|e| DialError::new(Cond::RemoteServerNotFound, format!("'{remote}' is no TLS server name: {e}")))?;
    tokio_rustls::TlsConnector::from(config)
        .connect(name, io)
        .await
        .map_err(|e| DialError::new(Cond::RemoteServerNotFound, format!("TLS with '{remote}': {e}")))
}

fn peer_certs(tls: &tokio_rustls::client::TlsStream<BoxIo>) -> Vec<CertificateDer<'static>> {
    tls.get_ref().1.peer_certificates().map(|c| c.iter().map(|c| c.clone().into_owned()).collect()).unwrap_or_default()
}

/// Sends our header; reads the peer's header and features.
pub async fn exchange_headers(
    reader: &mut Reader,
    writer: &mut Writer,
    local: &str,
    remote: &str,
) -> Result<(String, Element), DialError> {
    send(writer, &wire::header(local, Some(remote), None)).await?;
    let header = match next_event(reader).await? {
        StreamEvent::Open(h) => h,
        other => {
            return Err(DialError::new(Cond::RemoteServerNotFound, format!("expected a stream header, got {other:?}")));
        }
    };
    if header.default_ns.as_deref() != Some(ns::SERVER) {
        return Err(DialError::new(
            Cond::RemoteServerNotFound,
            format!("'{remote}' did not open a jabber:server stream"),
        ));
    }
    let stream_id = header.attr("id").unwrap_or_default().to_string();
    if stream_id.is_empty() {
        return Err(DialError::new(Cond::RemoteServerNotFound, format!("'{remote}' gave the stream no id")));
    }
    let features = next_element(reader).await?;
    if !features.is("features", ns::STREAMS) {
        return Err(DialError::new(Cond::RemoteServerNotFound, format!("'{remote}' sent no stream features")));
    }
    Ok((stream_id, features))
}

pub async fn send(writer: &mut Writer, data: &str) -> Result<(), DialError> {
    writer.send(data).await.map_err(|e| DialError::new(Cond::RemoteServerNotFound, format!("writing: {e}")))
}

async fn next_event(reader: &mut Reader) -> Result<StreamEvent, DialError> {
    reader.next().await.map_err(|e| DialError::new(Cond::RemoteServerNotFound, format!("reading: {e}")))
}

/// The next element; a stream error or close from the peer ends the attempt.
pub async fn next_element(reader: &mut Reader) -> Result<Element, DialError> {
    loop {
        match next_event(reader).await? {
            StreamEvent::Stanza(el) if el.is("error", ns::STREAMS) => {
                let cond = el.elements().next().map(|c| c.name.clone()).unwrap_or_default();
                return Err(DialError::new(Cond::RemoteServerNotFound, format!("the peer closed the stream: {cond}")));
            }
            StreamEvent::Stanza(el) => return Ok(el),
            StreamEvent::Keepalive => continue,
            StreamEvent::Close | StreamEvent::Open(_) => {
                return Err(DialError::new(Cond::RemoteServerNotFound, "the peer closed the stream"));
            }
        }
    }
}

/// The client config shared by every dial for one local domain.
pub fn client_config(ctx: &S2s, local: &str, direct_tls: bool) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let own = ctx.tls.certs.choose(Some(local));
    Ok(Arc::new(crate::tls::dial_config(&crate::tls::provider(), own, direct_tls)?))
}
