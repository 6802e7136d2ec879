//! A bound client session: stanzas in from a reader task, stanzas out from
//! the router, and liveness (whitespace keepalives, XEP-0199 pings).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};
use waxwing_xml::{Element, StreamErrorCondition as Cond, ns};

use super::C2s;
use super::negotiate::Bound;
use crate::router::Outbound;
use crate::stream;
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
    let Bound { reader, mut writer, session, mut outbound, peer, slot: _slot } = bound;
    let router = ctx.router.clone();
    router.session_started(&session);
    tracing::debug!(%peer, jid = %session.jid, "session started");

    // Boxed events: the channel's slots are allocated up front, and an
    // idle session should not pay for 32 of them at full size.
    let (in_tx, mut inbound) = mpsc::channel::<Box<Result<StreamEvent, StreamReadError>>>(INBOUND_QUEUE);
    let reader_task = tokio::spawn(stream::read_events(reader, in_tx));

    let limits = &ctx.config.limits;
    let ping_interval = Duration::from_secs(limits.ping_interval_secs);
    let ping_timeout = Duration::from_secs(limits.ping_timeout_secs);
    let keepalive = Duration::from_secs(limits.keepalive_secs);
    let domain = session.jid.domain().to_string();

    let mut last_read = Instant::now();
    let mut ping: Option<(String, Instant)> = None;
    let mut ping_seq: u64 = 0;
    // Empty: `recv_many` then reserves only what a batch brings.
    let mut batch: Vec<Outbound> = Vec::new();
    let mut pieces: Vec<Arc<str>> = Vec::new();

    let closing: Option<(Cond, String)> = loop {
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
            ev = inbound.recv() => {
                last_read = Instant::now();
                match ev.map(|ev| *ev) {
                    Some(Ok(StreamEvent::Stanza(el))) => {
                        if let Some((id, _)) = &ping
                            && is_pong(&el, id)
                        {
                            ping = None;
                            continue;
                        }
                        if let Err((c, t)) = router.from_client(&session, el) {
                            break Some((c, t));
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

/// The client's answer to our ping: a result, or an error (a client without
/// XEP-0199 still proves it is alive by answering).
fn is_pong(el: &Element, id: &str) -> bool {
    el.name == "iq" && el.attr("id") == Some(id) && matches!(el.attr("type"), Some("result" | "error"))
}
