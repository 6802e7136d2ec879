//! One outgoing connection: dial, authenticate our domain, then write the
//! queued stanzas until the connection idles out or breaks.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until, timeout_at};
use waxwing_xml::{StanzaErrorCondition as Cond, StreamErrorCondition as StreamCond, ns};

use super::dial::{self, DialError, Dialled};
use super::wire::{self, DIALBACK};
use super::{Reader, S2s, Writer};
use crate::xml::{Stanza, StreamEvent, StreamReadError};

/// Stanzas written per flush.
const WRITE_BATCH: usize = 128;

pub(super) async fn run(ctx: Arc<S2s>, local: String, remote: String, id: u64, mut rx: mpsc::Receiver<Stanza>) {
    let deadline = Instant::now() + Duration::from_secs(ctx.config.s2s.connect_timeout_secs);
    let established = match timeout_at(deadline, establish(&ctx, &local, &remote, deadline)).await {
        Ok(r) => r,
        Err(_) => Err(DialError::new(Cond::RemoteServerTimeout, format!("'{remote}' was not reached in time"))),
    };
    let (reader, writer) = match established {
        Ok(rw) => rw,
        Err(e) => {
            tracing::info!(local, remote, "server-to-server connection failed: {}", e.why);
            ctx.forget_link(&local, &remote, id);
            rx.close();
            while let Some(stanza) = rx.recv().await {
                ctx.bounce(&stanza, e.condition, &e.why);
            }
            return;
        }
    };
    tracing::info!(local, remote, "server-to-server connection ready");
    let lost = pump(&ctx, reader, writer, &mut rx).await;
    ctx.forget_link(&local, &remote, id);
    for stanza in lost {
        ctx.bounce(&stanza, Cond::RemoteServerTimeout, &format!("the connection to '{remote}' was lost"));
    }
    // What was queued but not yet written goes out on a new connection.
    rx.close();
    while let Some(stanza) = rx.recv().await {
        if let Err(err) = ctx.enqueue(&local, &remote, stanza.clone())
            && let Some(router) = ctx.router()
        {
            router.reply_error(&stanza, err);
        }
    }
    tracing::debug!(local, remote, "server-to-server connection closed");
}

/// Dials and authenticates `local` to `remote`: SASL EXTERNAL where
/// offered, else dialback.
async fn establish(ctx: &S2s, local: &str, remote: &str, deadline: Instant) -> Result<(Reader, Writer), DialError> {
    let Dialled { mut reader, mut writer, stream_id, offered, tls, peer_certs } =
        dial::dial(ctx, local, remote, deadline).await?;
    let s2s = &ctx.config.s2s;
    if s2s.require_valid_certificate && !(tls && ctx.trust.proves(&peer_certs, remote)) {
        let why = format!("'{remote}' presented no certificate that proves its domain (s2s.require_valid_certificate)");
        return Err(give_up(&mut writer, StreamCond::PolicyViolation, why).await);
    }
    if offered.external && tls {
        let authzid = base64::engine::general_purpose::STANDARD.encode(local);
        let auth = format!("<auth xmlns='{}' mechanism='EXTERNAL'>{authzid}</auth>", ns::SASL);
        dial::send(&mut writer, &auth).await?;
        let answer = dial::next_element(&mut reader).await?;
        if answer.is("success", ns::SASL) {
            let mut reader = reader.restart();
            dial::exchange_headers(&mut reader, &mut writer, local, remote).await?;
            tracing::info!(local, remote, "server-to-server connection authenticated by SASL EXTERNAL");
            return Ok((reader, writer));
        }
        tracing::debug!(local, remote, "SASL EXTERNAL refused; trying dialback: {answer}");
    }
    if !s2s.dialback || !offered.dialback {
        let why = format!("'{remote}' did not accept our certificate, and dialback is not offered on both sides");
        return Err(give_up(&mut writer, StreamCond::NotAuthorized, why).await);
    }
    let key = ctx.secret.key(remote, local, &stream_id);
    dial::send(&mut writer, &wire::db("result", local, remote, None, Some(&key), None)).await?;
    loop {
        let el = dial::next_element(&mut reader).await?;
        if !(el.is("result", DIALBACK) && el.attr("from") == Some(remote) && el.attr("to") == Some(local)) {
            continue;
        }
        return match el.attr("type") {
            Some("valid") => {
                tracing::info!(local, remote, "server-to-server connection authenticated by dialback");
                Ok((reader, writer))
            }
            other => {
                let why = format!("'{remote}' refused dialback for '{local}' ({})", other.unwrap_or("no type"));
                let _ = writer.send("</stream:stream>").await;
                writer.shutdown().await;
                Err(DialError::new(Cond::RemoteServerNotFound, why))
            }
        };
    }
}

/// Closes a stream we will not use with a stream error saying why, so the
/// peer's log tells its operator; the stanzas waiting for it bounce with
/// `remote-server-not-found`.
async fn give_up(writer: &mut Writer, condition: StreamCond, why: String) -> DialError {
    let _ = writer.send(&crate::stream::error_and_close(condition, Some(&why))).await;
    writer.shutdown().await;
    DialError::new(Cond::RemoteServerNotFound, why)
}

/// Writes queued stanzas until the queue closes, the peer closes, the
/// connection breaks or idles out. Returns the stanzas that were being
/// written when it broke (they may or may not have arrived).
async fn pump(ctx: &S2s, reader: Reader, mut writer: Writer, rx: &mut mpsc::Receiver<Stanza>) -> Vec<Stanza> {
    let (in_tx, mut inbound) = mpsc::channel(8);
    let reader_task = tokio::spawn(crate::stream::read_events(reader, in_tx));
    let idle = Duration::from_secs(ctx.config.s2s.idle_timeout_secs);
    let keepalive = Duration::from_secs(ctx.config.limits.keepalive_secs);
    let mut shutdown = ctx.shutdown.subscribe();
    let mut last_used = Instant::now();
    let mut batch = Vec::new();
    let mut lost = Vec::new();
    loop {
        let wake = (last_used + idle).min(Instant::from_std(writer.last_write()) + keepalive);
        tokio::select! {
            n = rx.recv_many(&mut batch, WRITE_BATCH) => {
                if n == 0 {
                    let _ = writer.send("</stream:stream>").await;
                    break;
                }
                last_used = Instant::now();
                let pieces: Vec<String> = batch.iter().map(to_server_xml).collect();
                if writer.send_all(&pieces).await.is_err() {
                    lost = std::mem::take(&mut batch);
                    break;
                }
                batch.clear();
            }
            ev = inbound.recv() => match ev {
                Some(Ok(StreamEvent::Stanza(el))) if el.is("error", ns::STREAMS) => {
                    let condition = el.first_element().map(|c| c.name.clone()).unwrap_or_default();
                    tracing::info!("the peer closed an outgoing server-to-server stream: {condition}");
                    break;
                }
                Some(Ok(StreamEvent::Keepalive | StreamEvent::Stanza(_))) => {}
                Some(Ok(StreamEvent::Close)) => {
                    let _ = writer.send("</stream:stream>").await;
                    break;
                }
                Some(Err(StreamReadError::Stream(c, t))) => {
                    let _ = writer.send(&crate::stream::error_and_close(c, Some(&t))).await;
                    break;
                }
                _ => break,
            },
            _ = sleep_until(wake) => {
                if Instant::now() >= last_used + idle {
                    let _ = writer.send("</stream:stream>").await;
                    break;
                }
                if writer.send(" ").await.is_err() {
                    break;
                }
            }
            _ = super::stopping(&mut shutdown) => {
                let _ = writer.send(&crate::stream::error_and_close(
                    waxwing_xml::StreamErrorCondition::SystemShutdown,
                    Some("the server is shutting down"),
                )).await;
                break;
            }
        }
    }
    reader_task.abort();
    writer.shutdown().await;
    lost
}

/// The kernel keeps stanzas in `jabber:client`; a server stream carries them in `jabber:server`.
fn to_server_xml(stanza: &Stanza) -> String {
    let mut el = stanza.el.clone();
    el.map_ns(ns::CLIENT, ns::SERVER);
    el.to_xml_in(ns::SERVER)
}
