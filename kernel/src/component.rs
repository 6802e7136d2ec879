//! External components (XEP-0114): a program that serves one domain,
//! connected over a `jabber:component:accept` stream after proving it
//! knows that domain's shared secret. It gets every stanza to its domain
//! and may send only from it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use ring::digest;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout_at};
use waxwing_xml::{Element, StreamErrorCondition as Cond, escape_attr, ns};

use crate::config::Config;
use crate::router::{Outbound, Router};
use crate::stream::{self, StreamWriter};
use crate::xml::{StreamEvent, StreamLimits, StreamReadError, StreamReader};

pub struct Components {
    secrets: HashMap<String, String>,
    router: Arc<Router>,
    limits: StreamLimits,
    negotiation: Duration,
}

impl Components {
    pub fn new(config: &Config, router: Arc<Router>) -> Arc<Self> {
        let l = &config.limits;
        Arc::new(Components {
            secrets: config.components.iter().map(|c| (c.domain.clone(), c.secret.clone())).collect(),
            router,
            limits: StreamLimits {
                max_stanza_bytes: l.max_stanza_bytes,
                max_depth: l.max_depth,
                max_attributes: l.max_attributes,
            },
            negotiation: Duration::from_secs(l.negotiation_timeout_secs),
        })
    }
}

/// Binds a component listener; returns the bound address.
pub async fn listen(
    ctx: Arc<Components>,
    addr: SocketAddr,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind(addr).await.with_context(|| format!("binding component port {addr}"))?;
    let local = listener.local_addr()?;
    let task = stream::accept_loop(listener, move |tcp, peer| serve(ctx.clone(), tcp, peer));
    Ok((local, task))
}

/// XEP-0114 §3: the handshake is the hex SHA-1 of the stream id and the secret.
fn handshake_digest(stream_id: &str, secret: &str) -> String {
    let d = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, format!("{stream_id}{secret}").as_bytes());
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

async fn serve(ctx: Arc<Components>, tcp: TcpStream, peer: SocketAddr) {
    let (r, w) = tcp.into_split();
    let mut reader = StreamReader::new(r, ctx.limits);
    let mut writer = StreamWriter::new(w);
    let deadline = Instant::now() + ctx.negotiation;
    let id = stream::new_id();
    let mut header_sent = false;
    let result = async {
        let header = match timeout_at(deadline, reader.next()).await {
            Ok(Ok(StreamEvent::Open(h))) => h,
            Ok(Err(StreamReadError::Stream(c, t))) => return Err((c, t)),
            Err(_) => return Err((Cond::ConnectionTimeout, "no stream header in time".into())),
            _ => return Err((Cond::BadFormat, "expected a stream header".into())),
        };
        if header.default_ns.as_deref() != Some(ns::COMPONENT) {
            return Err((Cond::InvalidNamespace, format!("the content namespace must be '{}'", ns::COMPONENT)));
        }
        let Some(domain) = header.attr("to").map(str::to_string) else {
            return Err((Cond::ImproperAddressing, "the stream header needs 'to': the component's domain".into()));
        };
        let Some(secret) = ctx.secrets.get(&domain) else {
            return Err((Cond::HostUnknown, format!("no component is configured for '{domain}'")));
        };
        let out = format!(
            "<?xml version='1.0'?><stream:stream xmlns='{}' xmlns:stream='{}' from='{}' id='{}'>",
            ns::COMPONENT,
            ns::STREAMS,
            escape_attr(&domain),
            id
        );
        writer.send(&out).await.map_err(|_| (Cond::UndefinedCondition, String::new()))?;
        header_sent = true;
        let el = loop {
            match timeout_at(deadline, reader.next()).await {
                Ok(Ok(StreamEvent::Stanza(el))) => break el,
                Ok(Ok(StreamEvent::Keepalive)) => continue,
                Ok(Err(StreamReadError::Stream(c, t))) => return Err((c, t)),
                Err(_) => return Err((Cond::ConnectionTimeout, "no handshake in time".into())),
                _ => return Err((Cond::NotAuthorized, "send the handshake first".into())),
            }
        };
        if !el.is("handshake", ns::COMPONENT) {
            return Err((Cond::NotAuthorized, "send the handshake first".into()));
        }
        let want = handshake_digest(&id, secret);
        if !el.text().trim().eq_ignore_ascii_case(&want) {
            return Err((Cond::NotAuthorized, "the handshake does not match the shared secret".into()));
        }
        Ok(domain)
    }
    .await;
    let domain = match result {
        Ok(d) => d,
        Err((c, t)) => {
            tracing::debug!(%peer, "closing component stream: {c}: {t}");
            let mut out = String::new();
            if !header_sent {
                out.push_str(&format!(
                    "<?xml version='1.0'?><stream:stream xmlns='{}' xmlns:stream='{}' id='{id}'>",
                    ns::COMPONENT,
                    ns::STREAMS
                ));
            }
            out.push_str(&stream::error_and_close(c, Some(&t)));
            let _ = writer.send(&out).await;
            return;
        }
    };
    let (tx, rx) = mpsc::unbounded_channel();
    if ctx.router.component_joined(&domain, tx.clone()).is_err() {
        let _ =
            writer.send(&stream::error_and_close(Cond::Conflict, Some("this component is already connected"))).await;
        return;
    }
    tracing::info!(%peer, domain, "component connected");
    if writer.send("<handshake/>").await.is_ok() {
        run(&ctx.router, &domain, reader, writer, rx).await;
    }
    ctx.router.component_left(&domain, &tx);
    tracing::info!(%peer, domain, "component disconnected");
}

async fn run(
    router: &Arc<Router>,
    domain: &str,
    reader: StreamReader<tokio::net::tcp::OwnedReadHalf>,
    mut writer: StreamWriter<tokio::net::tcp::OwnedWriteHalf>,
    mut outbound: mpsc::UnboundedReceiver<Outbound>,
) {
    let (in_tx, mut inbound) = mpsc::channel(64);
    let reader_task = tokio::spawn(stream::read_events(reader, in_tx));
    let mut batch = Vec::new();
    let closing: Option<(Cond, String)> = loop {
        tokio::select! {
            n = outbound.recv_many(&mut batch, 128) => {
                if n == 0 {
                    break None;
                }
                let mut pieces = Vec::with_capacity(n);
                let mut close = None;
                for out in batch.drain(..) {
                    match out {
                        Outbound::Stanza(xml) => pieces.push(xml),
                        Outbound::Close(c, t) => {
                            close = Some((c, t.unwrap_or_default()));
                            break;
                        }
                    }
                }
                if writer.send_all(&pieces).await.is_err() {
                    break None;
                }
                if close.is_some() {
                    break close;
                }
            }
            ev = inbound.recv() => match ev {
                Some(Ok(StreamEvent::Stanza(el))) => {
                    if let Err(close) = from_component(router, domain, el) {
                        break Some(close);
                    }
                }
                Some(Ok(StreamEvent::Keepalive)) => {}
                Some(Ok(StreamEvent::Close)) => {
                    outbound.close();
                    let _ = writer.send("</stream:stream>").await;
                    break None;
                }
                Some(Ok(StreamEvent::Open(_))) => break Some((Cond::BadFormat, "unexpected stream header".into())),
                Some(Err(StreamReadError::Stream(c, t))) => break Some((c, t)),
                _ => break None,
            }
        }
    };
    // Free the domain before the component can see its stream end: one
    // that reconnects at once must not find it still taken (`conflict`).
    // Stanzas routed to it from now on bounce with service-unavailable.
    outbound.close();
    if let Some((c, t)) = closing {
        tracing::debug!(domain, "closing component stream: {c}: {t}");
        let _ = writer.send(&stream::error_and_close(c, Some(&t))).await;
    }
    reader_task.abort();
    writer.shutdown().await;
    // What was queued but never written is answered, not lost.
    while let Ok(out) = outbound.try_recv() {
        if let Outbound::Stanza(xml) = out {
            bounce(router, &xml);
        }
    }
}

/// Answers a stanza the component never got with `service-unavailable`.
fn bounce(router: &Router, xml: &str) {
    let Ok(mut el) = Element::parse(&format!("<wrap xmlns='{}'>{xml}</wrap>", ns::COMPONENT)) else { return };
    let Some(waxwing_xml::Node::Element(mut stanza)) = el.children.pop() else { return };
    stanza.map_ns(ns::COMPONENT, ns::CLIENT);
    if let Ok(stanza) = crate::xml::Stanza::parse(stanza) {
        router
            .reply_error(&stanza, waxwing_xml::StanzaError::new(waxwing_xml::StanzaErrorCondition::ServiceUnavailable));
    }
}

/// A stanza from the component: it speaks only for its own domain.
fn from_component(router: &Router, domain: &str, el: Element) -> Result<(), (Cond, String)> {
    if el.ns != ns::COMPONENT || !matches!(el.name.as_str(), "message" | "presence" | "iq") {
        return Err((Cond::UnsupportedStanzaType, format!("<{}/> in '{}' is not a stanza", el.name, el.ns)));
    }
    let from_ok = el.attr("from").and_then(|f| jid::Jid::new(f).ok()).is_some_and(|j| j.domain().as_str() == domain);
    if !from_ok {
        return Err((Cond::InvalidFrom, format!("a component for '{domain}' sends only from '{domain}'")));
    }
    if el.attr("to").is_none_or(|t| jid::Jid::new(t).is_err()) {
        return Err((Cond::ImproperAddressing, "a component's stanza needs a valid 'to'".into()));
    }
    router.from_edge(el, ns::COMPONENT);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_handshake_is_sha1_of_id_and_secret() {
        // Worked out independently: `printf 3BF96D32secret | sha1sum`.
        assert_eq!(handshake_digest("3BF96D32", "secret"), "b09ea9b3b7f586be8a08d0a3dd7466f110aeb136");
    }
}
