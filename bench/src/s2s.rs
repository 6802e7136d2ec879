//! The `s2s` scenario: 1:1 chat messages across server-to-server.
//!
//! `--pairs` senders `{prefix}1..` log in at `--server` (`--domain`), as many
//! receivers with the same names at `--to-server` (`--to-domain`); sender i
//! sends `--count` chat messages to receiver i's full JID, at most
//! `--window` unread, paced at `--rate` over all pairs when set (reported as
//! `s2s_paced`). Nobody has anyone in a roster: a chat message to a full JID
//! (or with `--bare` to the bare JID of a receiver with one available
//! session) is delivered without a subscription on Waxwing, Prosody and
//! ejabberd.
//!
//! Before anything is measured, each sender sends `WARM_ROUNDS` messages
//! one round at a time and each round waits until every receiver has read
//! its message: the servers' connections to each other are dialled and
//! authenticated (dialback) then, not during the measurement; then both
//! servers are left to settle. The measured phase runs from the first send
//! to the last delivery: messages/s, latency (send time in the body, read
//! back on arrival), lost, bounced (error messages back to a sender), and
//! the CPU time of both servers (`--pid`, `--to-pid`) over the messages
//! delivered, each and summed.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::timeout;

use crate::conn::{Error, Session, Target};
use crate::load::{self, Deliveries, Opts, now_us, send_windowed};
use crate::report::{CpuMeter, Report};
use crate::scan::{self, find};

/// Warm-up messages per pair, one round at a time.
const WARM_ROUNDS: usize = 3;

/// The receiving server.
pub struct Remote {
    pub target: Target,
    pub pid: Option<u32>,
    pub label: String,
    /// Messages to the receivers' bare JIDs rather than their full JIDs.
    pub bare: bool,
}

fn is_error_message(st: &[u8]) -> bool {
    scan::name(st) == b"message" && scan::attr(st, "type") == Some(b"error")
}

pub async fn run(o: &Opts, to: &Remote) -> Result<Report, Error> {
    let p = o.pairs.max(1);
    let m = o.count as u64;
    o.need(p)?;
    let indices: Vec<usize> = (1..=p).collect();
    let mut senders = load::login_many(o, &indices, "wxb").await?;
    let mut receivers = load::login_many_at(o, &to.target, &indices, "wxb").await?;
    for s in senders.iter_mut().chain(receivers.iter_mut()) {
        s.send("<presence/>").await?;
    }
    let limit = o.target.timeout;

    let t_warm = Instant::now();
    warm_up(&mut senders, &mut receivers, to.bare, 3 * limit).await?;
    let warmup = t_warm.elapsed();
    crate::muc::settle(o.pid, 3 * limit).await;
    crate::muc::settle(to.pid, 3 * limit).await;

    let bounced = Arc::new(AtomicU64::new(0));
    let first_bounce: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
    let from_meter = CpuMeter::start(o.pid);
    let to_meter = CpuMeter::start(to.pid);
    let t0 = Instant::now();
    let mut sending = JoinSet::new();
    let mut receiving = JoinSet::new();
    for (pair, (tx, rx)) in senders.into_iter().zip(receivers).enumerate() {
        let window = Arc::new(Semaphore::new(o.window.max(1)));
        let dest = destination(&rx, to.bare);
        let Session { reader: mut tx_reader, writer: tx_writer, .. } = tx;
        // What comes back to a sender: only bounces, counted.
        let (bounced, first_bounce) = (bounced.clone(), first_bounce.clone());
        tokio::spawn(async move {
            while let Ok(st) = tx_reader.stanza().await {
                if is_error_message(st) {
                    bounced.fetch_add(1, Relaxed);
                    if let Ok(mut first) = first_bounce.lock() {
                        first.get_or_insert_with(|| String::from_utf8_lossy(st).into_owned());
                    }
                }
            }
        });
        let pace = (o.rate > 0.0).then(|| Duration::from_secs_f64(p as f64 / o.rate));
        sending.spawn(send_windowed(tx_writer, window.clone(), m, limit, pace, move |seq, xml| {
            use std::fmt::Write as _;
            let _ = write!(
                xml,
                "<message to='{dest}' type='chat' id='m{seq}'><body>wxb:{pair}:{seq}:{}</body></message>",
                now_us()
            );
        }));
        let Session { reader: mut rx_reader, writer: rx_writer, .. } = rx;
        receiving.spawn(async move {
            let mut deliveries = Deliveries::expecting(m);
            while deliveries.got < m {
                let Ok(Ok(st)) = timeout(limit, rx_reader.stanza()).await else { break };
                if deliveries.record(st) {
                    window.add_permits(1);
                }
            }
            load::drain(rx_reader);
            (deliveries, rx_writer)
        });
    }
    let (mut sent, mut deliveries) = (0u64, Deliveries::default());
    let mut writers = Vec::new();
    while let Some(res) = receiving.join_next().await {
        let (t, w) = res.map_err(|e| e.to_string())?;
        deliveries.merge(t);
        writers.push(w);
    }
    let Deliveries { got, disorder, lat, .. } = deliveries;
    let wall = t0.elapsed();
    let (from_cpu, own) = from_meter.stop();
    let (to_cpu, _) = to_meter.stop();
    while let Some(res) = sending.join_next().await {
        let (s, w) = res.map_err(|e| e.to_string())?;
        sent += s;
        writers.push(w);
    }

    let mut r = Report::new(if o.rate > 0.0 { "s2s_paced" } else { "s2s" });
    r.add("from", o.label.as_str(), "");
    r.add("to", to.label.as_str(), "");
    r.add("pairs", p, "");
    r.add("to_jid", if to.bare { "bare" } else { "full" }, "");
    if o.rate > 0.0 {
        r.num("offered_rate", o.rate, "/s");
    }
    r.add("window", o.window, "per pair");
    r.num("warmup_s", warmup.as_secs_f64(), "s");
    r.add("sent", sent, "");
    r.add("delivered", got, "");
    r.add("lost", (p as u64 * m).saturating_sub(got), "");
    r.add("bounced", bounced.load(Relaxed), "");
    r.add("out_of_order", disorder, "");
    r.num("messages_per_s", got as f64 / wall.as_secs_f64(), "/s");
    r.latencies("latency", lat);
    let secs = wall.as_secs_f64().max(1e-9);
    let per_msg = |d: Duration| d.as_secs_f64() * 1e6 / got.max(1) as f64;
    if let Some((c, _)) = from_cpu {
        r.num("sender_cpu_us_per_message", per_msg(c), "µs");
    }
    if let Some((c, _)) = to_cpu {
        r.num("receiver_cpu_us_per_message", per_msg(c), "µs");
    }
    if let (Some((a, pa)), Some((b, pb))) = (from_cpu, to_cpu) {
        r.num("server_cpu_us_per_message", per_msg(a + b), "µs");
        r.add("server_cpu_source", if pa && pb { "schedstat" } else { "ticks" }, "");
    }
    if let Some((c, _)) = from_cpu {
        r.num("sender_cpu_pct", c.as_secs_f64() * 100.0 / secs, "% of one core");
    }
    if let Some((c, _)) = to_cpu {
        r.num("receiver_cpu_pct", c.as_secs_f64() * 100.0 / secs, "% of one core");
    }
    r.num("loadgen_cpu_pct", own.as_secs_f64() * 100.0 / secs, "% of one core");
    if let Some(b) = first_bounce.lock().ok().and_then(|f| f.clone()) {
        eprintln!("note: a sender got its message back as an error: {b}");
    }
    for w in writers {
        load::close_writer(w).await;
    }
    Ok(r)
}

/// Where a receiver's messages go: its full JID, or its bare JID.
fn destination(rx: &Session, bare: bool) -> String {
    if bare { rx.jid.split('/').next().unwrap_or(&rx.jid).to_string() } else { rx.jid.clone() }
}

/// `WARM_ROUNDS` rounds of one message per pair, each round read by every
/// receiver before the next is sent. A message that does not arrive within
/// `limit` fails the scenario, with any error the sender got back.
async fn warm_up(senders: &mut [Session], receivers: &mut [Session], bare: bool, limit: Duration) -> Result<(), Error> {
    for round in 0..WARM_ROUNDS {
        for (tx, rx) in senders.iter_mut().zip(receivers.iter()) {
            tx.send(&format!(
                "<message to='{}' type='chat' id='warm{round}'><body>wxb-warm-{round}</body></message>",
                destination(rx, bare)
            ))
            .await?;
        }
        let want = format!("wxb-warm-{round}<");
        for (tx, rx) in senders.iter_mut().zip(receivers.iter_mut()) {
            let arrived = timeout(limit, async {
                loop {
                    let st = rx.reader.stanza().await?;
                    if scan::name(st) == b"message" && find(st, want.as_bytes()).is_some() {
                        return Ok::<_, Error>(());
                    }
                }
            })
            .await;
            match arrived {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(format!("warm-up: {}: {e}", rx.jid)),
                Err(_) => {
                    // Whatever the sender got back says why.
                    let mut back = String::new();
                    while let Ok(Ok(st)) = timeout(Duration::from_millis(200), tx.reader.stanza()).await {
                        if is_error_message(st) {
                            back = String::from_utf8_lossy(st).into_owned();
                            break;
                        }
                    }
                    return Err(format!(
                        "warm-up: {} got no message from {} within {limit:?} (round {}){}",
                        rx.jid,
                        tx.jid,
                        round + 1,
                        if back.is_empty() { String::new() } else { format!("; the sender got back: {back}") }
                    ));
                }
            }
        }
    }
    Ok(())
}
