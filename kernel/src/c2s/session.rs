//! A bound client session: stanzas in from a reader task, stanzas out from
//! the router, and liveness (whitespace keepalives, XEP-0199 pings).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};
use waxwing_xml::{Element, StanzaError, StanzaErrorCondition, StreamErrorCondition as Cond, ns};

use super::C2s;
use super::negotiate::Bound;
use crate::router::{Outbound, Router, Session};
use crate::stream;
use crate::tenants::{Admit, Throttle};
use crate::xml::{StreamEvent, StreamReadError};

/// Stanzas the reader may parse ahead of the session loop: back-pressure on
/// a client that sends faster than it can be routed.
const INBOUND_QUEUE: usize = 64;
/// Outbound stanzas written per flush.
const WRITE_BATCH: usize = 128;
/// Batch buffers larger than this are let go after a burst: an idle session
/// should cost little memory (most sessions are idle most of the time).
const KEEP_BATCH_CAPACITY: usize = 16;

pub async fn run(ctx: &Arc<C2s>, bound: Bound) {
    let Bound { reader, mut writer, session, mut outbound, peer, slot } = bound;
    let router = ctx.router.clone();
    let tenant = slot.tenant().clone();
    router.session_started(&session);
    let mut throttle = tenant.throttle();
    // A stanza over the tenant's rates, held back while the session stops
    // reading, and when to ask the rates again.
    let mut held: Option<(Element, Instant)> = None;
    tracing::debug!(%peer, jid = %session.jid, "session started");

    // Boxed events: the channel's slots are allocated up front, and an
    // idle session should not pay for 32 of them at full size.
    let (in_tx, mut inbound) = mpsc::channel::<Box<Result<StreamEvent, StreamReadError>>>(INBOUND_QUEUE);
    let reader_task = tokio::spawn(stream::read_events(reader, in_tx));

    let (ping_interval, ping_timeout, keepalive) = {
        let limits = &ctx.config().limits;
        (
            Duration::from_secs(limits.ping_interval_secs),
            Duration::from_secs(limits.ping_timeout_secs),
            Duration::from_secs(limits.keepalive_secs),
        )
    };
    let domain = session.jid.domain().to_string();

    let mut last_read = Instant::now();
    let mut ping: Option<(String, Instant)> = None;
    let mut ping_seq: u64 = 0;
    // Empty: `recv_many` then reserves only what a batch brings.
    let mut batch: Vec<Outbound> = Vec::new();
    let mut pieces: Vec<Arc<str>> = Vec::new();

    // A tenant removed while this session was being bound: its sessions were
    // closed before this one joined the table (removal unserves the tenant
    // first, then closes what its table holds), so this one closes itself.
    // Checked once: from here on the removal's close reaches it.
    let removed = !router.host(&domain).is_some_and(|now| Arc::ptr_eq(&now, &tenant));
    let closing: Option<(Cond, String)> = loop {
        if removed {
            break Some((Cond::HostGone, "this host is no longer served here".into()));
        }
        let wake = match &ping {
            Some((_, sent)) => *sent + ping_timeout,
            None => last_read + ping_interval,
        }
        .min(Instant::from_std(writer.last_write()) + keepalive);

        tokio::select! {
            n = outbound.recv_many(&mut batch, WRITE_BATCH) => {
                if n == 0 {
                    break None;
                }
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
                if !pieces.is_empty() && writer.send_all(&pieces).await.is_err() {
                    break None;
                }
                pieces.clear();
                if batch.capacity() > KEEP_BATCH_CAPACITY {
                    batch = Vec::new();
                    pieces = Vec::new();
                }
                if let Some(c) = close {
                    break Some(c);
                }
            }
            () = sleep_until(held.as_ref().map_or(wake, |(_, at)| *at)), if held.is_some() => {
                let Some((el, _)) = held.take() else { continue };
                match pass(&mut throttle, &router, &session, el) {
                    Ok(still) => held = still,
                    Err(closing) => break Some(closing),
                }
            }
            ev = inbound.recv(), if held.is_none() => {
                last_read = Instant::now();
                match ev.map(|ev| *ev) {
                    Some(Ok(StreamEvent::Stanza(el))) => {
                        if let Some((id, _)) = &ping
                            && is_pong(&el, id)
                        {
                            ping = None;
                            continue;
                        }
                        match pass(&mut throttle, &router, &session, el) {
                            Ok(still) => held = still,
                            Err(closing) => break Some(closing),
                        }
                    }
                    Some(Ok(StreamEvent::Keepalive)) => {}
                    Some(Ok(StreamEvent::Close)) => {
                        let _ = writer.send("</stream:stream>").await;
                        break None;
                    }
                    Some(Ok(StreamEvent::Open(_))) => break Some((Cond::BadFormat, "unexpected stream header".into())),
                    Some(Err(StreamReadError::Stream(c, t))) => break Some((c, t)),
                    Some(Err(StreamReadError::Eof | StreamReadError::Io(_))) | None => break None,
                }
            }
            _ = sleep_until(wake) => {
                let now = Instant::now();
                if let Some((_, sent)) = &ping
                    && now >= *sent + ping_timeout
                {
                    break Some((Cond::ConnectionTimeout, "no reply to ping".into()));
                }
                if ping.is_none() && now >= last_read + ping_interval {
                    ping_seq += 1;
                    let id = format!("wx-ping-{ping_seq}");
                    let iq = Element::new("iq", ns::CLIENT)
                        .with_attr("type", "get")
                        .with_attr("id", id.clone())
                        .with_attr("from", domain.clone())
                        .with_attr("to", session.jid.to_string())
                        .with_child(Element::new("ping", ns::PING));
                    if writer.send(&iq.to_xml_in(ns::CLIENT)).await.is_err() {
                        break None;
                    }
                    ping = Some((id, now));
                } else if Instant::from_std(writer.last_write()) + keepalive <= now
                    && writer.send(" ").await.is_err()
                {
                    break None;
                }
            }
        }
    };

    if let Some((condition, text)) = closing {
        tracing::debug!(%peer, jid = %session.jid, "closing session: {condition}: {text}");
        let _ = writer.send(&stream::error_and_close(condition, Some(&text))).await;
    }
    reader_task.abort();
    writer.shutdown().await;
    router.session_ended(&session);
    tracing::debug!(%peer, jid = %session.jid, "session ended");
}

/// A client's stanza through the tenant's rates: routed, held (returned
/// with when to ask again) or refused. `Err` closes the stream.
fn pass(
    throttle: &mut Throttle,
    router: &Router,
    session: &Arc<Session>,
    el: Element,
) -> Result<Option<(Element, Instant)>, (Cond, String)> {
    match throttle.admit() {
        Admit::Now => router.from_client(session, el).map(|()| None),
        Admit::Wait(wait) => Ok(Some((el, Instant::now() + wait))),
        Admit::Refuse => {
            refuse(router, session, el, throttle.domain());
            Ok(None)
        }
    }
}

/// A stanza over the tenant's rates that waited as long as it may: the
/// sender hears `<resource-constraint/>` (RFC 6120 §8.3.3.18, type `wait`:
/// retry later), an error is never answered with an error.
fn refuse(router: &Router, session: &Arc<Session>, el: Element, domain: &str) {
    if el.attr("type") == Some("error") {
        return;
    }
    let err = StanzaError::new(StanzaErrorCondition::ResourceConstraint)
        .with_text(format!("{domain} allows no more stanzas per second now: send more slowly"));
    router.refuse_from_client(session, el, err);
}

/// The client's answer to our ping: a result, or an error (a client without
/// XEP-0199 still proves it is alive by answering).
fn is_pong(el: &Element, id: &str) -> bool {
    el.name == "iq" && el.attr("id") == Some(id) && matches!(el.attr("type"), Some("result" | "error"))
}
