//! The `muc` scenario (XEP-0045), in up to three reports:
//!
//! - `muc`: `--rooms` rooms of `--occupants`; `--senders` occupants of each
//!   send `--count` groupchat messages, paced at `--rate` over all senders
//!   (0: as fast as the window allows), at most `--window` each whose echo
//!   has not come back. Every occupant's copy is a delivery: a message to a
//!   room of K occupants is K deliveries, the sender's echo included.
//!   Server CPU per delivery, lost deliveries, latency.
//! - `muc_join`: one room of `--big-room` occupants; `--newcomers` other
//!   accounts join it one after another (join, measure, leave). The time from
//!   sending the join presence to the newcomer's self-presence (status 110),
//!   which comes after the occupant list; server CPU per join, from the join
//!   presence until every occupant has been told of the newcomer.
//! - `muc_big`: one occupant of that room sends `--big-count` messages at
//!   `--big-rate`: deliveries to every occupant, as for `muc`.
//!
//! Rooms are new on each run (named after the generator's pid). The first
//! joiner creates each room: its self-presence must carry status 201, then it
//! unlocks the room as an instant room (an empty owner form) before anyone
//! else joins. Joins ask for no history. Every wait is bounded by
//! `--timeout`: a refused join or a missing self-presence fails the scenario
//! with the room and the stanza named. Rooms are destroyed at the end (one
//! presence per occupant instead of every leave told to every other), and the
//! server is given time to settle before anything is measured.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{ReadHalf, WriteHalf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::{sleep, timeout};

use crate::conn::{self, Error, Reader, Session, Tls};
use crate::cpu;
use crate::load::{self, Opts};
use crate::report::{CpuMeter, CpuSum, Report};
use crate::scan::{self, find};

const MUC: &str = "http://jabber.org/protocol/muc";

/// Runs the parts `--rooms` and `--big-room` ask for; each finished part's
/// report is in `out` even when a later part fails.
pub async fn run(o: &Opts, out: &mut Vec<Report>) -> Result<(), Error> {
    if o.rooms == 0 && o.big_room == 0 {
        return Err("nothing to measure: --rooms and --big-room are both 0".into());
    }
    let tag = format!("wxb{}", std::process::id());
    if o.rooms > 0 {
        out.push(rooms(o, &tag).await?);
    }
    if o.big_room > 0 {
        big_room(o, &tag, out).await?;
    }
    Ok(())
}

// ---------------------------------------------------------------- stanzas and waits

fn join_stanza(occupant: &str) -> String {
    format!("<presence to='{occupant}'><x xmlns='{MUC}'><history maxstanzas='0'/></x></presence>")
}

/// A stanza for an error message, cut at 600 characters.
pub(crate) fn text(st: &[u8]) -> String {
    let s = String::from_utf8_lossy(st);
    if s.chars().count() > 600 { format!("{}…", s.chars().take(600).collect::<String>()) } else { s.into_owned() }
}

/// Whether the stanza carries `<status code='CODE'/>`.
fn status(st: &[u8], code: &str) -> bool {
    find(st, format!("code='{code}'").as_bytes()).is_some() || find(st, format!("code=\"{code}\"").as_bytes()).is_some()
}

/// Whether a presence is an occupant's (room@service/nick), not the room's
/// own (ejabberd sends the room's entity caps from its bare JID).
fn from_occupant(st: &[u8]) -> bool {
    scan::attr(st, "from").is_some_and(|f| f.contains(&b'/'))
}

fn from_is(st: &[u8], jid: &str) -> bool {
    scan::attr(st, "from").is_some_and(|f| f.eq_ignore_ascii_case(jid.as_bytes()))
}

/// What a join read up to its self-presence.
struct Joined {
    /// Occupants' presences from the room, the self-presence included.
    presences: u64,
    self_presence: String,
}

/// Reads until the self-presence of `occupant` (room@service/nick, with
/// status 110). A presence error, the stream's end or `limit` without it
/// fails, naming the room and the stanza sent.
async fn await_self(reader: &mut Reader<ReadHalf<Tls>>, occupant: &str, limit: Duration) -> Result<Joined, Error> {
    let mut presences = 0u64;
    let waited = timeout(limit, async {
        loop {
            let st = reader.stanza().await.map_err(|e| format!("joining {occupant}: {e}"))?;
            if scan::name(st) != b"presence" {
                continue;
            }
            if scan::attr(st, "type") == Some(b"error") {
                return Err(format!("joining {occupant}: the server refused: {}", text(st)));
            }
            if !from_occupant(st) {
                continue;
            }
            presences += 1;
            if from_is(st, occupant) && status(st, "110") {
                return Ok(text(st));
            }
        }
    })
    .await;
    match waited {
        Ok(Ok(self_presence)) => Ok(Joined { presences, self_presence }),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(format!(
            "joining {occupant}: no self-presence (status 110) within {limit:?} of sending {}; {presences} presences \
             from occupants meanwhile",
            join_stanza(occupant)
        )),
    }
}

/// Joins as the first occupant, which creates the room: the self-presence
/// must say 201 (created); then unlocks it as an instant room and waits for
/// the result. Returns the presences read.
async fn create(s: &mut Session, room: &str, nick: &str, limit: Duration) -> Result<u64, Error> {
    let occupant = format!("{room}/{nick}");
    s.send(&join_stanza(&occupant)).await?;
    let joined = await_self(&mut s.reader, &occupant, limit).await.map_err(|e| format!("creating {room}: {e}"))?;
    if !status(joined.self_presence.as_bytes(), "201") {
        return Err(format!(
            "creating {room}: the self-presence has no status 201 (room created): {}",
            joined.self_presence
        ));
    }
    let form = format!(
        "<iq type='set' to='{room}' id='wxb-cfg'><query xmlns='{MUC}#owner'><x xmlns='jabber:x:data' type='submit'/></query></iq>"
    );
    s.send(&form).await?;
    let mut presences = joined.presences;
    let answer = timeout(limit, async {
        loop {
            let st = s.reader.stanza().await?;
            match scan::name(st) {
                b"presence" if from_occupant(st) => presences += 1,
                b"iq" if scan::attr(st, "id") == Some(b"wxb-cfg") => {
                    return Ok::<_, Error>((scan::attr(st, "type") == Some(b"result"), text(st)));
                }
                _ => {}
            }
        }
    })
    .await;
    match answer {
        Ok(Ok((true, _))) => Ok(presences),
        Ok(Ok((false, answer))) => Err(format!("configuring {room} as an instant room ({form}): {answer}")),
        Ok(Err(e)) => Err(format!("configuring {room} as an instant room: {e}")),
        Err(_) => Err(format!("configuring {room} as an instant room: no answer within {limit:?} to {form}")),
    }
}

/// Leaves and waits (bounded) for its own unavailable presence.
async fn leave(s: &mut Session, occupant: &str, limit: Duration) -> Result<(), Error> {
    s.send(&format!("<presence to='{occupant}' type='unavailable'/>")).await?;
    timeout(limit, async {
        loop {
            let st = s.reader.stanza().await?;
            if scan::name(st) == b"presence" && scan::attr(st, "type") == Some(b"unavailable") && from_is(st, occupant)
            {
                return Ok(());
            }
        }
    })
    .await
    .map_err(|_| format!("leaving {occupant}: no unavailable self-presence within {limit:?}"))?
}

/// What the occupants of one part have received since they joined.
struct Tally {
    /// Occupants' presences.
    presences: AtomicU64,
    /// Groupchat messages carrying a `wxb:` token.
    messages: AtomicU64,
    latencies: Mutex<Vec<u32>>,
    /// Open (true): the occupants' streams are read. Closed while a newcomer
    /// joins, so that the generator's reading of every occupant's copy of
    /// its presence does not delay the newcomer's own stream: the kernel
    /// buffers what the server sends them meanwhile.
    gate: watch::Sender<bool>,
}

impl Tally {
    fn new() -> Arc<Tally> {
        Arc::new(Tally {
            presences: AtomicU64::new(0),
            messages: AtomicU64::new(0),
            latencies: Mutex::new(Vec::new()),
            gate: watch::Sender::new(true),
        })
    }
}

/// Where an occupant's reading side counts, and the send window its own
/// echoes free.
struct Listener {
    tally: Arc<Tally>,
    /// The occupant's id in the `wxb:` tokens it sends.
    me: u64,
    window: Arc<Semaphore>,
}

/// Reads an occupant's stream until it ends, while the tally's gate is
/// open: counts presences and tokened messages (with their latency); the
/// occupant's own echo frees a permit of its send window.
async fn listen(mut reader: Reader<ReadHalf<Tls>>, Listener { tally, me, window }: Listener) {
    // The sender lives in `tally`, held here: the waits below cannot fail.
    let mut gate = tally.gate.subscribe();
    loop {
        if !*gate.borrow_and_update() && gate.wait_for(|open| *open).await.is_err() {
            return;
        }
        // Reading is cancel-safe (the scanner keeps what was read).
        let st = tokio::select! {
            biased;
            _ = gate.wait_for(|open| !*open) => continue,
            st = reader.stanza() => match st {
                Ok(st) => st,
                Err(_) => return,
            },
        };
        match scan::name(st) {
            b"presence" if from_occupant(st) => {
                tally.presences.fetch_add(1, Relaxed);
            }
            b"message" => {
                let Some((from, _, sent)) = load::token(st) else { continue };
                if let Ok(mut l) = tally.latencies.lock() {
                    l.push(load::latency_us(sent));
                }
                tally.messages.fetch_add(1, Relaxed);
                if from == me {
                    window.add_permits(1);
                }
            }
            _ => {}
        }
    }
}

/// An occupant's reading side while it joins: waits for the self-presence,
/// says how it went on `done`, then listens.
async fn join_then_listen(
    mut reader: Reader<ReadHalf<Tls>>,
    occupant: String,
    limit: Duration,
    then: Listener,
    permit: OwnedSemaphorePermit,
    done: mpsc::UnboundedSender<Result<(), Error>>,
) {
    let joined = await_self(&mut reader, &occupant, limit).await;
    drop(permit);
    match joined {
        Ok(j) => {
            then.tally.presences.fetch_add(j.presences, Relaxed);
            let _ = done.send(Ok(()));
            listen(reader, then).await;
        }
        Err(e) => {
            let _ = done.send(Err(e));
        }
    }
}

/// Waits until `counter` reaches `target`, giving up once it has not moved
/// for `limit`; returns what it reached and when it last moved.
pub(crate) async fn wait_count(counter: &AtomicU64, target: u64, limit: Duration) -> (u64, Instant) {
    let mut last = counter.load(Relaxed);
    let mut moved = Instant::now();
    loop {
        if last >= target {
            return (last, moved);
        }
        sleep(Duration::from_millis(5)).await;
        let now = counter.load(Relaxed);
        if now != last {
            last = now;
            moved = Instant::now();
        } else if moved.elapsed() >= limit {
            return (last, moved);
        }
    }
}

/// Waits until the server has used under 5% of a core over 200 ms, at most
/// `max`: presence broadcasts or a teardown still under way are not counted
/// in what is measured next. Without a pid, half a second.
pub(crate) async fn settle(pid: Option<u32>, max: Duration) {
    let Some(pid) = pid else {
        sleep(Duration::from_millis(500)).await;
        return;
    };
    let t0 = Instant::now();
    loop {
        let before = cpu::Reading::take(pid);
        sleep(Duration::from_millis(200)).await;
        match cpu::Reading::take(pid).since(&before) {
            Some((used, _)) if used > Duration::from_millis(10) => {}
            _ => return,
        }
        if t0.elapsed() > max {
            eprintln!("note: the server was still busy after {max:?} of waiting for it to settle; going on");
            return;
        }
    }
}

// ---------------------------------------------------------------- rooms

/// One occupant's writing side, and its send window.
struct Occupant {
    writer: WriteHalf<Tls>,
    window: Arc<Semaphore>,
}

/// Creates `room` with the first session, then joins the others,
/// at most 5 (and `--login-concurrency`) joins at a time. Returns once each has its
/// self-presence and every occupant has been told of every other (the
/// tally's presences grew by n²). Occupant j's token id is `first_id + j`.
async fn fill(
    o: &Opts,
    room: &str,
    sessions: Vec<Session>,
    first_id: u64,
    tally: &Arc<Tally>,
) -> Result<Vec<Occupant>, Error> {
    let limit = o.target.timeout;
    let n = sessions.len() as u64;
    let base = tally.presences.load(Relaxed);
    // A join costs the server O(occupants): more in flight only queue longer.
    let permits = Arc::new(Semaphore::new(o.login_concurrency.clamp(1, 5)));
    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    let mut waiting = 0u64;
    let mut out = Vec::with_capacity(sessions.len());
    for (j, mut s) in sessions.into_iter().enumerate() {
        let window = Arc::new(Semaphore::new(o.window.max(1)));
        let then = Listener { tally: tally.clone(), me: first_id + j as u64, window: window.clone() };
        if j == 0 {
            let seen = create(&mut s, room, "n0", limit).await?;
            tally.presences.fetch_add(seen, Relaxed);
            let Session { reader, writer, .. } = s;
            tokio::spawn(listen(reader, then));
            out.push(Occupant { writer, window });
            continue;
        }
        let occupant = format!("{room}/n{j}");
        let permit = timeout(limit, permits.clone().acquire_owned())
            .await
            .map_err(|_| format!("joining {room}: no join finished within {limit:?}"))?
            .map_err(|e| e.to_string())?;
        let Session { reader, mut writer, .. } = s;
        conn::send(&mut writer, &join_stanza(&occupant)).await.map_err(|e| format!("joining {occupant}: {e}"))?;
        tokio::spawn(join_then_listen(reader, occupant, limit, then, permit, done_tx.clone()));
        waiting += 1;
        out.push(Occupant { writer, window });
        // Fail at the first refusal rather than after every join was sent.
        while let Ok(r) = done_rx.try_recv() {
            r?;
            waiting -= 1;
        }
    }
    drop(done_tx);
    while waiting > 0 {
        match timeout(limit + Duration::from_secs(1), done_rx.recv()).await {
            Ok(Some(r)) => {
                r?;
                waiting -= 1;
            }
            Ok(None) => return Err(format!("joining {room}: {waiting} joins ended without an outcome")),
            Err(_) => return Err(format!("joining {room}: {waiting} joins without an outcome after {limit:?}")),
        }
    }
    let want = base + n * n;
    let (got, _) = wait_count(&tally.presences, want, limit).await;
    if got < want {
        return Err(format!(
            "{room}: its {n} occupants received {} of the {} occupant presences expected (each sees every occupant \
             once, itself included)",
            got - base,
            n * n
        ));
    }
    Ok(out)
}

/// Destroys the rooms (each by its owner, `Occupant` 0 of its list), waits
/// (bounded, no error) until their occupants were told, closes every stream
/// and lets the server settle.
async fn teardown(o: &Opts, rooms: Vec<(String, Vec<WriteHalf<Tls>>)>, tally: &Tally) {
    let limit = o.target.timeout;
    let base = tally.presences.load(Relaxed);
    let occupants: usize = rooms.iter().map(|(_, w)| w.len()).sum();
    let mut writers = Vec::with_capacity(occupants);
    for (room, mut ws) in rooms {
        if let Some(owner) = ws.first_mut() {
            let _ = conn::send(
                owner,
                &format!(
                    "<iq type='set' to='{room}' id='wxb-destroy'><query xmlns='{MUC}#owner'><destroy/></query></iq>"
                ),
            )
            .await;
        }
        writers.extend(ws);
    }
    wait_count(&tally.presences, base + occupants as u64, limit).await;
    for w in writers {
        load::close_writer(w).await;
    }
    settle(o.pid, 3 * limit).await;
}

async fn rooms(o: &Opts, tag: &str) -> Result<Report, Error> {
    let (rooms, k, m) = (o.rooms, o.occupants.max(1), o.count as u64);
    let senders = o.senders.clamp(1, k);
    o.need(rooms * k)?;
    let limit = o.target.timeout;
    let indices: Vec<usize> = (1..=rooms * k).collect();
    let mut sessions = load::login_many(o, &indices, "wxb").await?;
    let tally = Tally::new();
    let t0 = Instant::now();
    let mut filled = Vec::with_capacity(rooms);
    for r in 0..rooms {
        let room = format!("{tag}r{r}@{}", o.muc_domain);
        let rest = sessions.split_off(k);
        let these = std::mem::replace(&mut sessions, rest);
        filled.push((room.clone(), fill(o, &room, these, (r * k) as u64, &tally).await?));
    }
    let setup = t0.elapsed();
    settle(o.pid, 3 * limit).await;

    let all = rooms * senders;
    // One send every `pace` per sender, the senders spread over the period.
    let pace = (o.rate > 0.0).then(|| Duration::from_secs_f64(all as f64 / o.rate));
    let meter = CpuMeter::start(o.pid);
    let t0 = Instant::now();
    let mut set = JoinSet::new();
    let mut quiet: Vec<(usize, WriteHalf<Tls>)> = Vec::new();
    for (r, (room, occupants)) in filled.iter_mut().enumerate() {
        for (j, Occupant { writer, window }) in std::mem::take(occupants).into_iter().enumerate() {
            if j >= senders {
                quiet.push((r, writer));
                continue;
            }
            let (me, room, nth) = ((r * k + j) as u64, room.clone(), r * senders + j);
            let offset = pace.map(|p| p.mul_f64(nth as f64 / all as f64)).unwrap_or_default();
            set.spawn(async move {
                sleep(offset).await;
                let (sent, writer) = load::send_windowed(writer, window, m, limit, pace, move |seq, xml| {
                    use std::fmt::Write as _;
                    let _ = write!(
                        xml,
                        "<message to='{room}' type='groupchat' id='g{seq}'><body>wxb:{me}:{seq}:{}</body></message>",
                        load::now_us()
                    );
                })
                .await;
                (r, j, sent, writer)
            });
        }
    }
    let expected = (rooms * k * senders) as u64 * m;
    let (got, last) = wait_count(&tally.messages, expected, limit).await;
    let wall = last.saturating_duration_since(t0);
    let mut report = Report::new("muc");
    report.add("rooms", rooms, "");
    report.add("occupants", k, "per room");
    report.add("senders", senders, "per room");
    if o.rate > 0.0 {
        report.num("offered_rate", o.rate, "messages/s");
    }
    report.add("window", o.window, "per sender");
    let cpu_at = {
        let mut c = CpuSum::default();
        c.add(&meter);
        c
    };
    // Every sender's writer back: owners (j = 0) first, for the teardown.
    let mut writers: Vec<Vec<(usize, WriteHalf<Tls>)>> = (0..rooms).map(|_| Vec::new()).collect();
    let mut sent = 0u64;
    while let Some(res) = set.join_next().await {
        let (r, j, s, w) = res.map_err(|e| e.to_string())?;
        sent += s;
        writers[r].push((j, w));
    }
    for (r, w) in quiet {
        writers[r].push((usize::MAX, w));
    }
    report.add("messages_sent", sent, "");
    report.add("deliveries", got, "incl. the echo to the sender");
    report.add("lost", expected.saturating_sub(got), "");
    report.num("deliveries_per_s", got as f64 / wall.as_secs_f64().max(1e-9), "/s");
    report.num("setup_s", setup.as_secs_f64(), "s (joins)");
    report.latencies("latency", std::mem::take(&mut *tally.latencies.lock().map_err(|e| e.to_string())?));
    report.cpu_sum(&cpu_at, got, "delivery");
    let rooms_writers = filled
        .into_iter()
        .zip(writers)
        .map(|((room, _), mut ws)| {
            ws.sort_by_key(|(j, _)| *j);
            (room, ws.into_iter().map(|(_, w)| w).collect())
        })
        .collect();
    teardown(o, rooms_writers, &tally).await;
    Ok(report)
}

// ---------------------------------------------------------------- the large room

fn us(d: Duration) -> u32 {
    d.as_micros().min(u128::from(u32::MAX)) as u32
}

async fn big_room(o: &Opts, tag: &str, out: &mut Vec<Report>) -> Result<(), Error> {
    let (n, newcomers) = (o.big_room, o.newcomers.max(1));
    o.need(n + newcomers)?;
    let limit = o.target.timeout;
    let room = format!("{tag}big@{}", o.muc_domain);
    let indices: Vec<usize> = (1..=n + newcomers).collect();
    let mut sessions = load::login_many(o, &indices, "wxb").await?;
    let fresh = sessions.split_off(n);
    let tally = Tally::new();
    settle(o.pid, 3 * limit).await;
    let fill_meter = CpuMeter::start(o.pid);
    let t0 = Instant::now();
    let mut occupants = fill(o, &room, sessions, 0, &tally).await?;
    let fill_time = t0.elapsed();
    let mut fill_cpu = CpuSum::default();
    fill_cpu.add(&fill_meter);

    // Newcomers, one at a time: join (measured), leave (not measured).
    let (n64, mut joins, mut lat, mut lists) = (n as u64, CpuSum::default(), Vec::new(), Vec::new());
    for (j, mut s) in fresh.into_iter().enumerate() {
        let occupant = format!("{room}/new{j}");
        settle(o.pid, 3 * limit).await;
        let base = tally.presences.load(Relaxed);
        tally.gate.send_replace(false);
        sleep(Duration::from_millis(20)).await;
        let meter = CpuMeter::start(o.pid);
        let t = Instant::now();
        s.send(&join_stanza(&occupant)).await?;
        let joined = await_self(&mut s.reader, &occupant, limit).await;
        lat.push(us(t.elapsed()));
        tally.gate.send_replace(true);
        let joined = joined?;
        let (told, _) = wait_count(&tally.presences, base + n64, limit).await;
        joins.add(&meter);
        if told < base + n64 {
            return Err(format!("{room}: {} of its {n} occupants were told that {occupant} joined", told - base));
        }
        let list = joined.presences - 1;
        if list < n64 {
            return Err(format!(
                "{room}: {occupant} received {list} occupant presences before its self-presence; {n} are in the room"
            ));
        }
        lists.push(list);
        leave(&mut s, &occupant, limit).await?;
        let (told, _) = wait_count(&tally.presences, base + 2 * n64, limit).await;
        if told < base + 2 * n64 {
            return Err(format!("{room}: {} of its {n} occupants were told that {occupant} left", told - base - n64));
        }
        s.close().await;
    }
    let mut r = Report::new("muc_join");
    r.add("occupants", n, "in the room");
    r.add("newcomers", lat.len(), "one after another");
    r.add("occupant_list", lists.iter().min().copied().unwrap_or(0), "presences before the self-presence (min)");
    let mut sorted = lat.clone();
    sorted.sort_unstable();
    r.add("join_p50_us", sorted[sorted.len() / 2], "µs (median)");
    r.add("join_min_us", sorted[0], "µs");
    r.add("join_max_us", sorted[sorted.len() - 1], "µs");
    r.cpu_sum(&joins, lat.len() as u64, "join");
    r.num("fill_s", fill_time.as_secs_f64(), "s (filling the room)");
    if let Some(cpu) = fill_cpu.server() {
        r.num("fill_server_cpu_s", cpu.as_secs_f64(), "s");
    }
    out.push(r);

    // One occupant speaks to the whole room.
    if o.big_count > 0 {
        settle(o.pid, 3 * limit).await;
        let m = o.big_count as u64;
        let pace = (o.big_rate > 0.0).then(|| Duration::from_secs_f64(1.0 / o.big_rate));
        let owner = occupants.remove(0);
        let target = room.clone();
        let meter = CpuMeter::start(o.pid);
        let t0 = Instant::now();
        let (sent, writer) = load::send_windowed(owner.writer, owner.window, m, limit, pace, move |seq, xml| {
            use std::fmt::Write as _;
            let _ = write!(
                xml,
                "<message to='{target}' type='groupchat' id='b{seq}'><body>wxb:0:{seq}:{}</body></message>",
                load::now_us()
            );
        })
        .await;
        let expected = n64 * m;
        let (got, last) = wait_count(&tally.messages, expected, limit).await;
        let wall = last.saturating_duration_since(t0);
        let mut b = Report::new("muc_big");
        b.add("occupants", n, "in the room");
        if pace.is_some() {
            b.num("offered_rate", o.big_rate, "messages/s");
        }
        b.add("messages_sent", sent, "");
        b.add("deliveries", got, "incl. the echo to the sender");
        b.add("lost", expected.saturating_sub(got), "");
        b.num("deliveries_per_s", got as f64 / wall.as_secs_f64().max(1e-9), "/s");
        b.latencies("latency", std::mem::take(&mut *tally.latencies.lock().map_err(|e| e.to_string())?));
        b.cpu(&meter, got, "delivery");
        out.push(b);
        occupants.insert(0, Occupant { writer, window: Arc::new(Semaphore::new(0)) });
    }
    teardown(o, vec![(room, occupants.into_iter().map(|oc| oc.writer).collect())], &tally).await;
    Ok(())
}
