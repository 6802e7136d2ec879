//! The load scenarios against any server at host:port:domain: logins, idle
//! sessions, 1:1 messages and iq round trips (MUC: `muc.rs`; PubSub:
//! `pubsub.rs`).
//!
//! Accounts are `{prefix}{i}@{domain}` for i in 1..=users, all with one
//! password. Every wait is bounded by `--timeout`; a scenario that loses
//! stanzas reports the loss rather than hanging.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio::io::{AsyncWriteExt as _, ReadHalf, WriteHalf};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::timeout;

use crate::conn::{self, Error, Reader, Session, Target, Tls};
use crate::report::{CpuMeter, Report};
use crate::scan::{self, find};

pub struct Opts {
    pub target: Target,
    pub pid: Option<u32>,
    pub label: String,
    pub prefix: String,
    pub password: String,
    /// Accounts that exist: `{prefix}1` ..= `{prefix}{users}`.
    pub users: usize,
    /// Logins in flight at once while setting up a scenario.
    pub login_concurrency: usize,
    pub concurrency: usize,
    pub count: usize,
    pub window: usize,
    pub pairs: usize,
    pub rooms: usize,
    pub occupants: usize,
    /// Occupants of each room that send (`muc`).
    pub senders: usize,
    /// Occupants of the large room (`muc`); 0 leaves it out.
    pub big_room: usize,
    /// Newcomers timed joining the large room, one after another.
    pub newcomers: usize,
    /// Messages sent to the large room, and their rate.
    pub big_count: usize,
    pub big_rate: f64,
    pub subscribers: usize,
    /// Subscribers of the large node (`pubsub`), each its own session; 0
    /// leaves it out.
    pub big_node: usize,
    /// Items published to the large node, one at a time.
    pub big_publishes: usize,
    pub hold: Duration,
    /// Messages per second over all senders (`messages`, `muc`); 0 sends as
    /// fast as the window allows.
    pub rate: f64,
    pub muc_domain: String,
    pub pubsub_domain: String,
    /// The web transports' endpoints (`idle --transport websocket|bosh`,
    /// `messages --transport websocket`).
    pub http: Option<crate::web::Http>,
}

impl Opts {
    fn user(&self, i: usize) -> String {
        format!("{}{i}", self.prefix)
    }

    pub(crate) fn need(&self, n: usize) -> Result<(), Error> {
        if n > self.users {
            return Err(format!("this scenario needs {n} accounts; --users says {} exist", self.users));
        }
        Ok(())
    }
}

fn epoch() -> Instant {
    static START: OnceLock<Instant> = OnceLock::new();
    *START.get_or_init(Instant::now)
}

pub(crate) fn now_us() -> u64 {
    epoch().elapsed().as_micros() as u64
}

/// `wxb:A:B:T` in a stanza: sender, sequence number, send time in µs.
pub(crate) fn token(st: &[u8]) -> Option<(u64, u64, u64)> {
    let i = find(st, b"wxb:")?;
    let mut parts = st[i + 4..].split(|&b| b == b':' || b == b'<');
    let mut next = || -> Option<u64> { std::str::from_utf8(parts.next()?).ok()?.parse().ok() };
    Some((next()?, next()?, next()?))
}

pub(crate) fn latency_us(sent_us: u64) -> u32 {
    now_us().saturating_sub(sent_us).min(u64::from(u32::MAX)) as u32
}

/// What a receiver counts of the numbered messages (`token`) it gets.
#[derive(Default)]
pub(crate) struct Deliveries {
    pub got: u64,
    pub disorder: u64,
    expected: u64,
    pub lat: Vec<u32>,
}

/// What `messages` and `messages_ws` report, from the pairs' deliveries:
/// `p` pairs of `m` messages each, `wall` the time to the last delivery.
#[allow(clippy::too_many_arguments)]
pub(crate) fn messages_report(
    name: &'static str,
    o: &Opts,
    p: usize,
    m: u64,
    sent: u64,
    deliveries: Deliveries,
    wall: Duration,
    meter: &CpuMeter,
) -> Report {
    let Deliveries { got, disorder, lat, .. } = deliveries;
    let mut r = Report::new(name);
    r.add("pairs", p, "");
    if o.rate > 0.0 {
        r.num("offered_rate", o.rate, "/s");
    }
    r.add("window", o.window, "per pair");
    r.add("sent", sent, "");
    r.add("delivered", got, "");
    r.add("lost", (p as u64 * m).saturating_sub(got), "");
    r.add("out_of_order", disorder, "");
    r.num("messages_per_s", got as f64 / wall.as_secs_f64(), "/s");
    r.latencies("latency", lat);
    r.cpu(meter, got, "message");
    r
}

impl Deliveries {
    pub fn expecting(m: u64) -> Self {
        Deliveries { lat: Vec::with_capacity(m as usize), ..Deliveries::default() }
    }

    /// Counts `st` if it is a numbered message; true when it was.
    pub fn record(&mut self, st: &[u8]) -> bool {
        if scan::name(st) != b"message" {
            return false;
        }
        let Some((_, seq, t)) = token(st) else { return false };
        self.lat.push(latency_us(t));
        if seq != self.expected {
            self.disorder += 1;
        }
        self.expected = seq + 1;
        self.got += 1;
        true
    }

    /// Adds another receiver's counts.
    pub fn merge(&mut self, other: Deliveries) {
        self.got += other.got;
        self.disorder += other.disorder;
        self.lat.extend(other.lat);
    }
}

/// Logs in accounts `indices` (1-based) with `resource`, at most
/// `login_concurrency` at a time; in the order given.
pub(crate) async fn login_many(o: &Opts, indices: &[usize], resource: &str) -> Result<Vec<Session>, Error> {
    login_many_at(o, &o.target, indices, resource).await
}

/// `login_many` at another server than `--server` (the receiving side of `s2s`):
/// the same account names and password.
pub(crate) async fn login_many_at(
    o: &Opts,
    target: &Target,
    indices: &[usize],
    resource: &str,
) -> Result<Vec<Session>, Error> {
    let sem = Arc::new(Semaphore::new(o.login_concurrency.max(1)));
    let mut set = JoinSet::new();
    for (pos, &i) in indices.iter().enumerate() {
        let (target, user, password, resource, sem) =
            (target.clone(), o.user(i), o.password.clone(), resource.to_string(), sem.clone());
        set.spawn(async move {
            let _permit = sem.acquire_owned().await;
            (pos, conn::login(&target, &user, &password, &resource).await)
        });
    }
    let mut out: Vec<Option<Session>> = (0..indices.len()).map(|_| None).collect();
    while let Some(res) = set.join_next().await {
        let (pos, s) = res.map_err(|e| e.to_string())?;
        out[pos] = Some(s?);
    }
    Ok(out.into_iter().flatten().collect())
}

/// Reads and discards everything until the connection ends: keeps a socket
/// whose stanzas nobody measures from backing up.
pub(crate) fn drain(mut reader: Reader<ReadHalf<Tls>>) {
    tokio::spawn(async move { while reader.next().await.is_ok() {} });
}

/// Sends up to `count` stanzas, the `seq`th written into the buffer by
/// `stanza`, with at most as many unanswered as `window` has permits (the
/// reading side gives them back), one per `pace` when set. Stops early when
/// the window stays shut past `limit` or the connection fails. Returns how
/// many went out, and the writer for closing later.
pub(crate) async fn send_windowed(
    mut writer: WriteHalf<Tls>,
    window: Arc<Semaphore>,
    count: u64,
    limit: Duration,
    pace: Option<Duration>,
    mut stanza: impl FnMut(u64, &mut String),
) -> (u64, WriteHalf<Tls>) {
    let mut xml = String::with_capacity(384);
    let mut tick = pace.map(|every| {
        let mut t = tokio::time::interval(every);
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        t
    });
    let mut sent = 0;
    for seq in 0..count {
        if let Some(t) = tick.as_mut() {
            t.tick().await;
        }
        let Ok(Ok(permit)) = timeout(limit, window.acquire()).await else { break };
        permit.forget();
        xml.clear();
        stanza(seq, &mut xml);
        if conn::send(&mut writer, &xml).await.is_err() {
            break;
        }
        sent += 1;
    }
    (sent, writer)
}

pub(crate) async fn close_writer(mut w: WriteHalf<Tls>) {
    let _ = conn::send(&mut w, "</stream:stream>").await;
    let _ = w.shutdown().await;
}

/// Waits for the iq with this id; true when it is a result.
pub(crate) async fn await_iq(
    r: &mut Reader<ReadHalf<Tls>>,
    id: &str,
    limit: Duration,
) -> Result<(bool, String), Error> {
    timeout(limit, async {
        loop {
            let st = r.stanza().await?;
            if scan::name(st) == b"iq" && scan::attr(st, "id") == Some(id.as_bytes()) {
                let ok = scan::attr(st, "type") == Some(b"result");
                return Ok((ok, String::from_utf8_lossy(st).into_owned()));
            }
        }
    })
    .await
    .map_err(|_| format!("no answer to iq '{id}' within {limit:?}"))?
}

// ---------------------------------------------------------------- login

pub async fn login(o: &Opts) -> Result<Report, Error> {
    let accounts = o.users.min(o.count.max(1)).min(200);
    o.need(1)?;
    // Warm-up: one login per account fills the client's salted-password cache.
    for chunk in (1..=accounts).collect::<Vec<_>>().chunks(o.login_concurrency.max(1)) {
        for s in login_many(o, chunk, "warm").await? {
            s.close().await;
        }
    }
    let next = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let lat = Arc::new(Mutex::new(Vec::with_capacity(o.count)));
    let meter = CpuMeter::start(o.pid);
    let t0 = Instant::now();
    let mut set = JoinSet::new();
    for _ in 0..o.concurrency.max(1) {
        let (target, next, errors, lat) = (o.target.clone(), next.clone(), errors.clone(), lat.clone());
        let (prefix, password, count) = (o.prefix.clone(), o.password.clone(), o.count);
        set.spawn(async move {
            let (mut mine, mut closing) = (Vec::new(), Vec::new());
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= count {
                    break;
                }
                let user = format!("{prefix}{}", n % accounts + 1);
                let t = Instant::now();
                match conn::login(&target, &user, &password, "login").await {
                    Ok(s) => {
                        mine.push(t.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                        // The server's close is awaited off this worker's path,
                        // but before the CPU reading: teardown is part of a login's cost.
                        closing.push(tokio::spawn(s.close()));
                    }
                    Err(e) => {
                        if errors.fetch_add(1, Ordering::Relaxed) < 3 {
                            eprintln!("login error: {e}");
                        }
                    }
                }
            }
            if let Ok(mut l) = lat.lock() {
                l.extend(mine);
            }
            closing
        });
    }
    let mut closing = Vec::new();
    while let Some(res) = set.join_next().await {
        closing.extend(res.map_err(|e| e.to_string())?);
    }
    let wall = t0.elapsed();
    for c in closing {
        let _ = c.await;
    }
    let lat = std::mem::take(&mut *lat.lock().map_err(|e| e.to_string())?);
    let ok = lat.len() as u64;
    let mut r = Report::new("login");
    r.add("concurrency", o.concurrency, "");
    r.add("logins", ok, "");
    r.add("errors", errors.load(Ordering::Relaxed), "");
    r.num("logins_per_s", ok as f64 / wall.as_secs_f64(), "/s");
    r.latencies("login", lat);
    r.cpu(&meter, ok, "login");
    Ok(r)
}

// ---------------------------------------------------------------- idle

pub async fn idle(o: &Opts) -> Result<Report, Error> {
    let n = o.concurrency;
    o.need(n)?;
    let rss = |pid: Option<u32>| pid.and_then(crate::cpu::process_rss_kib);
    let before = rss(o.pid);
    let indices: Vec<usize> = (1..=n).collect();
    let t0 = Instant::now();
    let mut sessions = login_many(o, &indices, "idle").await?;
    let setup = t0.elapsed();
    for s in &mut sessions {
        s.send("<presence/>").await?;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss(o.pid);
    let meter = CpuMeter::start(o.pid);
    tokio::time::sleep(o.hold).await;
    let mut r = Report::new("idle");
    r.add("sessions", sessions.len(), "");
    r.num("setup_s", setup.as_secs_f64(), "s");
    if let (Some(b), Some(a)) = (before, after) {
        r.add("server_rss_before_kib", b, "KiB");
        r.add("server_rss_after_kib", a, "KiB");
        r.num("server_rss_kib_per_session", a.saturating_sub(b) as f64 / n.max(1) as f64, "KiB");
    }
    r.cpu(&meter, (n as u64).max(1), "session_held");
    for s in sessions {
        let Session { reader, writer, .. } = s;
        drain(reader);
        close_writer(writer).await;
    }
    Ok(r)
}

// ---------------------------------------------------------------- messages

pub async fn messages(o: &Opts) -> Result<Report, Error> {
    let p = o.pairs.max(1);
    let m = o.count as u64;
    o.need(2 * p)?;
    let indices: Vec<usize> = (1..=2 * p).collect();
    let mut sessions = login_many(o, &indices, "wxb").await?;
    for s in &mut sessions {
        s.send("<presence/>").await?;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let limit = o.target.timeout;
    let meter = CpuMeter::start(o.pid);
    let t0 = Instant::now();
    let mut senders = JoinSet::new();
    let mut receivers = JoinSet::new();
    let mut it = sessions.into_iter();
    let mut pair = 0u64;
    while let (Some(tx), Some(rx)) = (it.next(), it.next()) {
        let window = Arc::new(Semaphore::new(o.window.max(1)));
        let to = rx.jid.clone();
        let Session { reader: tx_reader, writer: tx_writer, .. } = tx;
        drain(tx_reader);
        let pace = (o.rate > 0.0).then(|| Duration::from_secs_f64(p as f64 / o.rate));
        senders.spawn(send_windowed(tx_writer, window.clone(), m, limit, pace, move |seq, xml| {
            use std::fmt::Write as _;
            let _ = write!(
                xml,
                "<message to='{to}' type='chat' id='m{seq}'><body>wxb:{pair}:{seq}:{}</body></message>",
                now_us()
            );
        }));
        let Session { reader: mut rx_reader, writer: rx_writer, .. } = rx;
        receivers.spawn(async move {
            let mut deliveries = Deliveries::expecting(m);
            while deliveries.got < m {
                let Ok(Ok(st)) = timeout(limit, rx_reader.stanza()).await else { break };
                if deliveries.record(st) {
                    window.add_permits(1);
                }
            }
            drain(rx_reader);
            (deliveries, rx_writer)
        });
        pair += 1;
    }
    let (mut sent, mut deliveries) = (0u64, Deliveries::default());
    let mut writers = Vec::new();
    while let Some(res) = receivers.join_next().await {
        let (t, w) = res.map_err(|e| e.to_string())?;
        deliveries.merge(t);
        writers.push(w);
    }
    let wall = t0.elapsed();
    while let Some(res) = senders.join_next().await {
        let (s, w) = res.map_err(|e| e.to_string())?;
        sent += s;
        writers.push(w);
    }
    let name = if o.rate > 0.0 { "messages_paced" } else { "messages" };
    let r = messages_report(name, o, p, m, sent, deliveries, wall, &meter);
    for w in writers {
        close_writer(w).await;
    }
    Ok(r)
}

// ---------------------------------------------------------------- iq

/// XEP-0199 pings to the server from `concurrency` sessions, one in flight
/// each: answered by Waxwing's ping plugin (or its kernel, without the
/// plugin), Prosody's mod_ping, ejabberd's mod_ping.
pub async fn iq(o: &Opts) -> Result<Report, Error> {
    let c = o.concurrency.max(1);
    o.need(c)?;
    let indices: Vec<usize> = (1..=c).collect();
    let sessions = login_many(o, &indices, "wxb").await?;
    let per = (o.count / c).max(1);
    let limit = o.target.timeout;
    let domain = o.target.domain.clone();
    // Warm-up outside the measurement.
    let mut warmed = Vec::new();
    for mut s in sessions {
        for k in 0..20 {
            s.send(&format!("<iq type='get' to='{domain}' id='w{k}'><ping xmlns='urn:xmpp:ping'/></iq>")).await?;
            await_iq(&mut s.reader, &format!("w{k}"), limit).await?;
        }
        warmed.push(s);
    }
    let meter = CpuMeter::start(o.pid);
    let t0 = Instant::now();
    let mut set = JoinSet::new();
    for mut s in warmed {
        let domain = domain.clone();
        set.spawn(async move {
            let (mut lat, mut errors) = (Vec::with_capacity(per), 0u64);
            for k in 0..per {
                let id = format!("q{k}");
                let t = Instant::now();
                if s.send(&format!("<iq type='get' to='{domain}' id='{id}'><ping xmlns='urn:xmpp:ping'/></iq>"))
                    .await
                    .is_err()
                {
                    break;
                }
                match await_iq(&mut s.reader, &id, limit).await {
                    Ok((true, _)) => lat.push(t.elapsed().as_micros().min(u128::from(u32::MAX)) as u32),
                    Ok((false, answer)) => {
                        if errors == 0 {
                            eprintln!("ping answered with an error: {answer}");
                        }
                        errors += 1;
                    }
                    Err(_) => break,
                }
            }
            (lat, errors, s)
        });
    }
    let (mut lat, mut errors, mut sessions) = (Vec::new(), 0u64, Vec::new());
    while let Some(res) = set.join_next().await {
        let (l, e, s) = res.map_err(|e| e.to_string())?;
        lat.extend(l);
        errors += e;
        sessions.push(s);
    }
    let wall = t0.elapsed();
    let ok = lat.len() as u64;
    let mut r = Report::new("iq");
    r.add("concurrency", c, "");
    r.add("answered", ok, "");
    r.add("errors", errors, "");
    r.num("iq_per_s", ok as f64 / wall.as_secs_f64(), "/s");
    r.latencies("rtt", lat);
    r.cpu(&meter, ok, "iq");
    for s in sessions {
        s.close().await;
    }
    Ok(r)
}

// ---------------------------------------------------------------- register

/// Creates the accounts by in-band registration (XEP-0077): for servers that
/// allow it (the side-by-side script's ejabberd). An existing account counts
/// as done.
pub async fn register(o: &Opts) -> Result<Report, Error> {
    let next = Arc::new(AtomicUsize::new(1));
    let (created, existed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let t0 = Instant::now();
    let mut set = JoinSet::new();
    for _ in 0..o.login_concurrency.max(1) {
        let (target, next, created, existed) = (o.target.clone(), next.clone(), created.clone(), existed.clone());
        let (prefix, password, users) = (o.prefix.clone(), o.password.clone(), o.users);
        set.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i > users {
                    return Ok::<_, Error>(());
                }
                let (mut r, features) = conn::pre_auth(&target).await?;
                if !features.contains("jabber.org/features/iq-register") {
                    return Err(format!("the server offers no in-band registration: {features}"));
                }
                r.write(&format!(
                    "<iq type='set' id='reg'><query xmlns='jabber:iq:register'><username>{prefix}{i}</username>\
                     <password>{password}</password></query></iq>"
                ))
                .await?;
                let answer = timeout(target.timeout, r.stanza()).await.map_err(|_| "registration timed out")??;
                if scan::attr(answer, "type") == Some(b"result") {
                    created.fetch_add(1, Ordering::Relaxed);
                } else if find(answer, b"conflict").is_some() {
                    existed.fetch_add(1, Ordering::Relaxed);
                } else {
                    return Err(format!("registering {prefix}{i}: {}", String::from_utf8_lossy(answer)));
                }
                let _ = r.write("</stream:stream>").await;
            }
        });
    }
    while let Some(res) = set.join_next().await {
        res.map_err(|e| e.to_string())??;
    }
    let mut r = Report::new("register");
    r.add("created", created.load(Ordering::Relaxed), "");
    r.add("existed", existed.load(Ordering::Relaxed), "");
    r.num("seconds", t0.elapsed().as_secs_f64(), "s");
    Ok(r)
}
