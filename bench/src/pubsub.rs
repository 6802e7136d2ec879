//! The `pubsub` scenario (XEP-0060), in up to two reports:
//!
//! - `pubsub`: one node, `--subscribers` subscribe; the owner publishes
//!   `--count` items with `--window` publish iqs in flight: notifications/s,
//!   lost notifications, server CPU per notification.
//! - `pubsub_big`: one node with `--big-node` subscribers, each its own
//!   session (one subscription per connection, as real clients have); the
//!   owner publishes `--big-publishes` items one at a time, the server left
//!   to settle before each. Per publish: the time from sending it to the
//!   last subscriber's notification (the fan-out), server CPU per publish
//!   and per notification, lost notifications.
//!
//! Nodes are new on each run (named after the generator's pid), created by
//! account 1 with the service's defaults; subscribers subscribe their full
//! JID. Every wait is bounded by `--timeout`: a refused create, subscribe or
//! publish fails the scenario with the stanza named.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::ReadHalf;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::timeout;

use crate::conn::{Error, Reader, Session, Tls};
use crate::load::{self, Opts};
use crate::muc::{settle, text, wait_count};
use crate::report::{CpuMeter, CpuSum, Report};
use crate::scan;

const PUBSUB: &str = "http://jabber.org/protocol/pubsub";

/// Runs the parts `--subscribers` and `--big-node` ask for; each finished
/// part's report is in `out` even when a later part fails.
pub async fn run(o: &Opts, out: &mut Vec<Report>) -> Result<(), Error> {
    if o.subscribers == 0 && o.big_node == 0 {
        return Err("nothing to measure: --subscribers and --big-node are both 0".into());
    }
    let tag = format!("wxb{}", std::process::id());
    if o.subscribers > 0 {
        out.push(small(o, &tag).await?);
    }
    if o.big_node > 0 {
        out.push(big(o, &format!("{tag}big")).await?);
    }
    Ok(())
}

fn publish_stanza(ps: &str, node: &str, id: &str, seq: u64) -> String {
    format!(
        "<iq type='set' to='{ps}' id='{id}'><pubsub xmlns='{PUBSUB}'><publish node='{node}'>\
         <item id='i{seq}'><entry xmlns='urn:waxwing:bench'>wxb:0:{seq}:{}</entry></item></publish></pubsub></iq>",
        load::now_us()
    )
}

/// Creates `node` on the service as `owner`, with the service's defaults.
async fn create(owner: &mut Session, ps: &str, node: &str, limit: Duration) -> Result<(), Error> {
    let create =
        format!("<iq type='set' to='{ps}' id='create'><pubsub xmlns='{PUBSUB}'><create node='{node}'/></pubsub></iq>");
    owner.send(&create).await?;
    let (ok, answer) = load::await_iq(&mut owner.reader, "create", limit).await?;
    if !ok {
        return Err(format!("creating node {node} on {ps} ({create}): {answer}"));
    }
    Ok(())
}

/// Subscribes each session's full JID to `node`, `in_flight` at a time;
/// returns the sessions in the order given.
async fn subscribe_all(
    sessions: Vec<Session>,
    ps: &str,
    node: &str,
    limit: Duration,
    in_flight: usize,
) -> Result<Vec<Session>, Error> {
    let permits = Arc::new(Semaphore::new(in_flight.max(1)));
    let mut set = JoinSet::new();
    let n = sessions.len();
    for (pos, mut s) in sessions.into_iter().enumerate() {
        let (ps, node, permits) = (ps.to_string(), node.to_string(), permits.clone());
        set.spawn(async move {
            let _permit = permits.acquire_owned().await;
            let jid = s.jid.clone();
            let subscribe = format!(
                "<iq type='set' to='{ps}' id='sub'><pubsub xmlns='{PUBSUB}'><subscribe node='{node}' jid='{jid}'/></pubsub></iq>"
            );
            s.send(&subscribe).await?;
            let (ok, answer) = load::await_iq(&mut s.reader, "sub", limit)
                .await
                .map_err(|e| format!("subscribing {jid} to {node}: {e}"))?;
            if !ok {
                return Err(format!("subscribing {jid} to {node} ({subscribe}): {answer}"));
            }
            Ok::<_, Error>((pos, s))
        });
    }
    let mut out: Vec<Option<Session>> = (0..n).map(|_| None).collect();
    while let Some(res) = set.join_next().await {
        let (pos, s) = res.map_err(|e| e.to_string())??;
        out[pos] = Some(s);
    }
    Ok(out.into_iter().flatten().collect())
}

// ---------------------------------------------------------------- many items, a few subscribers

async fn small(o: &Opts, tag: &str) -> Result<Report, Error> {
    let (subs, m) = (o.subscribers, o.count as u64);
    o.need(subs + 1)?;
    let limit = o.target.timeout;
    let ps = o.pubsub_domain.clone();
    let node = tag.to_string();
    let indices: Vec<usize> = (1..=subs + 1).collect();
    let mut sessions = load::login_many(o, &indices, "wxb").await?;
    let mut owner = sessions.remove(0);
    create(&mut owner, &ps, &node, limit).await?;
    let subscribed = subscribe_all(sessions, &ps, &node, limit, o.login_concurrency).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let meter = CpuMeter::start(o.pid);
    let t0 = Instant::now();
    let window = Arc::new(Semaphore::new(o.window.max(1)));
    let Session { reader: mut owner_reader, writer: owner_writer, .. } = owner;
    let publisher = tokio::spawn(load::send_windowed(owner_writer, window.clone(), m, limit, None, move |seq, xml| {
        xml.push_str(&publish_stanza(&ps, &node, &format!("pub{seq}"), seq));
    }));
    let acks = tokio::spawn(async move {
        let (mut ok, mut failed) = (0u64, 0u64);
        while ok + failed < m {
            let Ok(Ok(st)) = timeout(limit, owner_reader.stanza()).await else { break };
            if scan::name(st) == b"iq" && scan::attr(st, "id").is_some_and(|id| id.starts_with(b"pub")) {
                if scan::attr(st, "type") == Some(b"result") {
                    ok += 1;
                } else {
                    if failed == 0 {
                        eprintln!("publish failed: {}", String::from_utf8_lossy(st));
                    }
                    failed += 1;
                }
                window.add_permits(1);
            }
        }
        load::drain(owner_reader);
        (ok, failed)
    });
    let mut receivers = JoinSet::new();
    for s in subscribed {
        let Session { mut reader, writer, .. } = s;
        receivers.spawn(async move {
            let mut got = 0u64;
            let mut lat = Vec::with_capacity(m as usize);
            while got < m {
                let Ok(Ok(st)) = timeout(limit, reader.stanza()).await else { break };
                if scan::name(st) != b"message" {
                    continue;
                }
                let Some((_, _, t)) = load::token(st) else { continue };
                lat.push(load::latency_us(t));
                got += 1;
            }
            load::drain(reader);
            (got, lat, writer)
        });
    }
    let (mut got, mut lat, mut writers) = (0u64, Vec::new(), Vec::new());
    while let Some(res) = receivers.join_next().await {
        let (g, l, w) = res.map_err(|e| e.to_string())?;
        got += g;
        lat.extend(l);
        writers.push(w);
    }
    let wall = t0.elapsed();
    let (published, failed) = acks.await.map_err(|e| e.to_string())?;
    writers.push(publisher.await.map_err(|e| e.to_string())?.1);
    let mut r = Report::new("pubsub");
    r.add("subscribers", subs, "");
    r.add("published", published, "");
    r.add("publish_errors", failed, "");
    r.add("notifications", got, "");
    r.add("lost", (subs as u64 * m).saturating_sub(got), "");
    r.num("notifications_per_s", got as f64 / wall.as_secs_f64(), "/s");
    r.latencies("latency", lat);
    r.cpu(&meter, got, "notification");
    for w in writers {
        load::close_writer(w).await;
    }
    Ok(r)
}

// ---------------------------------------------------------------- a few items, many subscribers

/// What the subscribers of the large node have received, per publish.
struct Fan {
    /// Notifications of each publish, duplicates not counted.
    got: Vec<AtomicU64>,
    /// The latest notification of each publish: µs after it was sent.
    last_us: Vec<AtomicU64>,
    /// The earliest.
    first_us: Vec<AtomicU64>,
    /// A second notification of the same item to the same subscriber.
    duplicates: AtomicU64,
    latencies: Mutex<Vec<u32>>,
}

/// Reads a subscriber's stream until it ends, counting each publish's
/// notification once.
async fn listen(mut reader: Reader<ReadHalf<Tls>>, fan: Arc<Fan>) {
    let mut seen = vec![false; fan.got.len()];
    while let Ok(st) = reader.stanza().await {
        if scan::name(st) != b"message" {
            continue;
        }
        let Some((_, seq, sent)) = load::token(st) else { continue };
        let l = load::latency_us(sent);
        let i = seq as usize;
        let Some(seen) = seen.get_mut(i) else { continue };
        if std::mem::replace(seen, true) {
            fan.duplicates.fetch_add(1, Relaxed);
            continue;
        }
        fan.last_us[i].fetch_max(u64::from(l), Relaxed);
        fan.first_us[i].fetch_min(u64::from(l), Relaxed);
        if let Ok(mut all) = fan.latencies.lock() {
            all.push(l);
        }
        // Counted last: whoever waits on the count then sees the latencies.
        fan.got[i].fetch_add(1, Relaxed);
    }
}

fn median(v: &[u64]) -> u64 {
    let mut s = v.to_vec();
    s.sort_unstable();
    s.get(s.len() / 2).copied().unwrap_or(0)
}

async fn big(o: &Opts, node: &str) -> Result<Report, Error> {
    let (n, k) = (o.big_node, o.big_publishes.max(1));
    o.need(n + 1)?;
    let limit = o.target.timeout;
    let ps = o.pubsub_domain.clone();
    // Not `wxb`: the first part's sessions may still be closing.
    let indices: Vec<usize> = (1..=n + 1).collect();
    let t0 = Instant::now();
    let mut sessions = load::login_many(o, &indices, "wxbig").await?;
    let login_time = t0.elapsed();
    let mut owner = sessions.remove(0);
    create(&mut owner, &ps, node, limit).await?;
    settle(o.pid, 3 * limit).await;
    let sub_meter = CpuMeter::start(o.pid);
    let t0 = Instant::now();
    let subscribed = subscribe_all(sessions, &ps, node, limit, o.login_concurrency).await?;
    let subscribe_time = t0.elapsed();
    let mut sub_cpu = CpuSum::default();
    sub_cpu.add(&sub_meter);

    let fan = Arc::new(Fan {
        got: (0..k).map(|_| AtomicU64::new(0)).collect(),
        last_us: (0..k).map(|_| AtomicU64::new(0)).collect(),
        first_us: (0..k).map(|_| AtomicU64::new(u64::MAX)).collect(),
        duplicates: AtomicU64::new(0),
        latencies: Mutex::new(Vec::with_capacity(n * k)),
    });
    let mut writers = Vec::with_capacity(n + 1);
    for s in subscribed {
        let Session { reader, writer, .. } = s;
        tokio::spawn(listen(reader, fan.clone()));
        writers.push(writer);
    }

    // One publish at a time, measured from its send to its last notification.
    let n64 = n as u64;
    let (mut cpu, mut each_cpu) = (CpuSum::default(), Vec::with_capacity(k));
    let (mut acks, mut fanouts, mut firsts, mut missing) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut wall = Duration::ZERO;
    for seq in 0..k as u64 {
        settle(o.pid, 3 * limit).await;
        let i = seq as usize;
        let id = format!("big{seq}");
        let meter = CpuMeter::start(o.pid);
        let t = Instant::now();
        let publish = publish_stanza(&ps, node, &id, seq);
        owner.send(&publish).await?;
        let (ok, answer) = load::await_iq(&mut owner.reader, &id, limit)
            .await
            .map_err(|e| format!("publish {seq} to {node} with {n} subscribers: {e}"))?;
        acks.push(t.elapsed().as_micros() as u64);
        if !ok {
            return Err(format!(
                "publish {seq} to {node} with {n} subscribers ({}): {}",
                text(publish.as_bytes()),
                answer
            ));
        }
        let (reached, _) = wait_count(&fan.got[i], n64, limit).await;
        let mut one = CpuSum::default();
        one.add(&meter);
        cpu.add(&meter);
        if let Some(c) = one.server() {
            each_cpu.push(c.as_micros() as u64);
        }
        let last = fan.last_us[i].load(Relaxed);
        fanouts.push(last);
        let first = fan.first_us[i].load(Relaxed);
        firsts.push(if first == u64::MAX { 0 } else { first });
        missing.push(n64 - reached.min(n64));
        wall += Duration::from_micros(last);
        if reached < n64 {
            eprintln!("note: publish {seq}: {reached} of {n} subscribers notified; none more within {limit:?}");
        }
    }
    let got: u64 = fan.got.iter().map(|g| g.load(Relaxed)).sum();

    let mut r = Report::new("pubsub_big");
    r.add("subscribers", n, "each its own session");
    r.add("publishes", k, "one at a time");
    r.num("login_s", login_time.as_secs_f64(), "s (logins, all sessions)");
    r.num("subscribe_s", subscribe_time.as_secs_f64(), "s (subscriptions)");
    if let Some(c) = sub_cpu.server() {
        r.num("server_cpu_us_per_subscription", c.as_secs_f64() * 1e6 / n.max(1) as f64, "µs");
    }
    r.add("notifications", got, "");
    r.add("lost", (n64 * k as u64).saturating_sub(got), "");
    r.add("lost_each", missing, "per publish");
    r.add("duplicates", fan.duplicates.load(Relaxed), "");
    r.add("fanout_p50_us", median(&fanouts), "µs (publish sent → last subscriber's notification, median)");
    r.add("fanout_max_us", fanouts.iter().max().copied().unwrap_or(0), "µs");
    r.add("fanout_each_us", fanouts, "µs");
    r.add("first_p50_us", median(&firsts), "µs (publish sent → first notification, median)");
    r.add("ack_p50_us", median(&acks), "µs (publish sent → its iq result, median)");
    r.num("notifications_per_s", got as f64 / wall.as_secs_f64().max(1e-9), "/s (over the fan-outs)");
    r.latencies("latency", std::mem::take(&mut *fan.latencies.lock().map_err(|e| e.to_string())?));
    if let Some(c) = cpu.server() {
        r.num("server_cpu_us_per_publish", c.as_secs_f64() * 1e6 / k as f64, "µs");
        r.add("server_cpu_each_us", each_cpu, "µs");
    }
    r.cpu_sum(&cpu, got, "notification");

    // The node goes (its subscribers are told, which their readers absorb),
    // then every stream; the server settles before anything else is measured.
    let delete = format!(
        "<iq type='set' to='{ps}' id='wxb-delete'><pubsub xmlns='{PUBSUB}#owner'><delete node='{node}'/></pubsub></iq>"
    );
    if owner.send(&delete).await.is_ok()
        && let Err(e) = load::await_iq(&mut owner.reader, "wxb-delete", limit).await
    {
        eprintln!("note: deleting {node}: {e}");
    }
    let Session { reader, writer, .. } = owner;
    load::drain(reader);
    writers.push(writer);
    for w in writers {
        load::close_writer(w).await;
    }
    settle(o.pid, 3 * limit).await;
    Ok(r)
}
