//! The host interfaces no shipped plugin uses this way, end to end through
//! the real server: events, timers, filters and their scope, `route.send`,
//! `route.request` and its `iq-response`, `sessions.of`, `kv` (batches and
//! compare-and-swap), datasets, `jid.prep`, settings, and a plugin's panic
//! in the log, driven through the `observer` test plugin
//! (`plugins/testing/observer`).

use std::time::Duration;

use tokio::time::Instant;
use waxwing_tests::client::NS_PING;
use waxwing_tests::server::vhost_with_plugins;
use waxwing_tests::{Element, Mech, RawClient, Server, TIMEOUT, stanza_error_condition, stanza_error_type, waxwing};

const NS: &str = "urn:waxwing:test:observer";
const PW: &str = "observer-pw";
/// How often a test re-reads the log while waiting for an event that another
/// task of the server emits.
const POLL: Duration = Duration::from_millis(20);

/// Which observer a server loads: the one built now against the current
/// contract, or a component committed as a fixture that this kernel must
/// still load and serve beside current plugins (plugin-abi/COMPATIBILITY.md):
/// built against 1.1 (`tests/fixtures/abi-1.1`, the previous major) or 2.0
/// (`tests/fixtures/abi-2.0`, an older minor of this one).
#[derive(Clone, Copy)]
enum Build {
    Current,
    Abi1,
    Abi2_0,
}

impl Build {
    fn path(self) -> String {
        let fixture = |dir: &str| {
            let path =
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(dir).join("observer.wasm");
            assert!(path.is_file(), "{} is missing", path.display());
            path.display().to_string()
        };
        match self {
            Build::Current => waxwing_tests::server::built_plugin("observer").display().to_string(),
            Build::Abi1 => fixture("abi-1.1"),
            Build::Abi2_0 => fixture("abi-2.0"),
        }
    }
}

/// Each of these runs against both builds: what 1.x plugins could do must
/// keep working for them.
macro_rules! on_both_abis {
    ($($name:ident => $abi1:ident;)*) => {
        $(
            #[tokio::test]
            async fn $name() {
                checks::$name(Build::Current).await
            }

            #[tokio::test]
            async fn $abi1() {
                checks::$name(Build::Abi1).await
            }
        )*
    };
}

on_both_abis! {
    events_are_logged_in_order => events_are_logged_in_order_abi_1_1;
    a_timer_sends_a_headline_to_whoever_set_it => a_timer_sends_a_headline_abi_1_1;
    sessions_lists_resources_with_their_priority => sessions_lists_resources_abi_1_1;
    the_filter_drops_rewrites_rejects_and_passes => the_filter_drops_rewrites_rejects_and_passes_abi_1_1;
    a_plugins_own_sends_skip_its_own_filter => a_plugins_own_sends_skip_its_own_filter_abi_1_1;
    declared_stream_features_are_offered_after_authentication_only => declared_stream_features_abi_1_1;
    a_restricted_filter_sees_only_watched_accounts => a_restricted_filter_abi_1_1;
}

/// The same checks, and the 2.0 ones below, against the observer built
/// against 2.0: a 2.x kernel of a later minor loads it unchanged.
macro_rules! on_abi_2_0 {
    ($($check:path => $test:ident;)*) => {
        $(
            #[tokio::test]
            async fn $test() {
                $check(Build::Abi2_0).await
            }
        )*
    };
}

on_abi_2_0! {
    checks::events_are_logged_in_order => events_are_logged_in_order_abi_2_0;
    checks::a_timer_sends_a_headline_to_whoever_set_it => a_timer_sends_a_headline_abi_2_0;
    checks::sessions_lists_resources_with_their_priority => sessions_lists_resources_abi_2_0;
    checks::the_filter_drops_rewrites_rejects_and_passes => the_filter_drops_rewrites_rejects_and_passes_abi_2_0;
    checks::a_plugins_own_sends_skip_its_own_filter => a_plugins_own_sends_skip_its_own_filter_abi_2_0;
    checks::declared_stream_features_are_offered_after_authentication_only => declared_stream_features_abi_2_0;
    checks::a_restricted_filter_sees_only_watched_accounts => a_restricted_filter_abi_2_0;
    iq_request_outcomes => an_iq_request_abi_2_0;
    concurrent_increments => concurrent_increments_abi_2_0;
}

/// A vhost whose only plugin is the observer, granted exactly what it
/// calls, with `settings` (TOML) as its config table unless empty, beside
/// the 2.0 ping plugin.
fn observer_config(settings: &str) -> String {
    observer_config_of(Build::Current, settings)
}

fn observer_config_of(build: Build, settings: &str) -> String {
    let mut toml = format!(
        "{}[[vhost.plugin]]\nname = \"observer\"\nsource = {:?}\n\
         grants = [\"kv\", \"route\", \"sessions\", \"timers\"]\n",
        vhost_with_plugins(&[("ping", "")]),
        build.path()
    );
    if !settings.is_empty() {
        toml.push_str(&format!("[vhost.plugin.config]\n{settings}\n"));
    }
    toml
}

/// A server whose only plugin is the observer. Each test has its own: the
/// event log is per server.
fn start(users: &[&str]) -> Server {
    start_with(users, "")
}

fn start_on(build: Build, users: &[&str]) -> Server {
    Server::start_with_localhost_users(&observer_config_of(build, ""), users, PW)
}

fn start_with(users: &[&str], settings: &str) -> Server {
    Server::start_with_localhost_users(&observer_config(settings), users, PW)
}

async fn login(s: &Server, user: &str, resource: &str) -> RawClient {
    RawClient::login_with(s, &format!("{user}@localhost"), PW, Mech::ScramSha256, Some(resource)).await
}

/// Has the observer's filter watch these accounts. It declares
/// `FilterScope::WatchedAccounts`, so it sees only messages from or to them.
async fn watch(c: &mut RawClient, accounts: &[&str]) {
    let watches: String = accounts.iter().map(|a| format!("<watch>{a}</watch>")).collect();
    let r = c.iq("set", Some("localhost"), &format!("<scope xmlns='{NS}'>{watches}</scope>")).await;
    assert_eq!(r.attr("type"), Some("result"), "watching {accounts:?}: {r}");
}

fn is_fired(e: &Element) -> bool {
    e.name == "message" && e.child("fired", NS).is_some()
}

/// The plugin's log: its count and its lines.
async fn read_log(c: &mut RawClient) -> (u64, Vec<String>) {
    let r = c.iq("get", Some("localhost"), &format!("<log xmlns='{NS}'/>")).await;
    assert_eq!(r.attr("type"), Some("result"), "{r}");
    let log = r.child("log", NS).unwrap_or_else(|| panic!("no <log/>: {r}"));
    assert_eq!(log.attr("truncated"), None, "{r}");
    let count = log.attr("count").and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("no count: {r}"));
    (count, log.elements().filter(|e| e.is("entry", NS)).map(Element::text).collect())
}

/// Re-reads the log until it has as many lines as `want` (events may come
/// from another task of the server), then checks it is exactly `want` and
/// that the count written in each entry's batch agrees. The 1.1 build of
/// the plugin reads the count and the entries apart, so an append may land
/// between the two: such a torn read is read again.
async fn expect_log(c: &mut RawClient, want: &[String]) {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let (count, lines) = read_log(c).await;
        let settled = lines.len() >= want.len() && count == lines.len() as u64;
        if settled || Instant::now() >= deadline {
            assert_eq!(lines, want, "the event log");
            assert_eq!(count, lines.len() as u64, "the count batched with each entry: {lines:?}");
            return;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// (jid, priority, available) of each session, sorted by JID.
fn sessions(r: &Element) -> Vec<(String, i8, bool)> {
    let list = r.child("sessions", NS).unwrap_or_else(|| panic!("no <sessions/>: {r}"));
    let mut out: Vec<(String, i8, bool)> = list
        .elements()
        .filter(|e| e.is("session", NS))
        .map(|e| {
            let jid = e.attr("jid").unwrap_or_else(|| panic!("a session without a jid: {r}")).to_string();
            let priority = e.attr("priority").and_then(|p| p.parse().ok()).unwrap_or_else(|| panic!("priority: {r}"));
            let available = match e.attr("available") {
                Some("true") => true,
                Some("false") => false,
                other => panic!("available={other:?}: {r}"),
            };
            (jid, priority, available)
        })
        .collect();
    out.sort();
    out
}

async fn sessions_of(c: &mut RawClient, bare: &str) -> Element {
    c.iq("get", Some("localhost"), &format!("<sessions xmlns='{NS}' jid='{bare}'/>")).await
}

fn is_answered(e: &Element) -> bool {
    e.name == "message" && e.child("answered", NS).is_some()
}

fn is_ping(e: &Element) -> bool {
    e.name == "iq" && e.attr("type") == Some("get") && e.child("ping", NS_PING).is_some()
}

/// Sends `<ask to='…'/>` and returns the iq's id: its answer is read, with
/// the headline that reports the ping, by [`ask_outcome`].
async fn send_ask(c: &mut RawClient, to: &str) -> String {
    let id = c.new_id("ask");
    c.send(&format!("<iq type='set' id='{id}' to='localhost'><ask xmlns='{NS}' to='{to}'/></iq>")).await;
    id
}

/// Reads until both the empty result of ask `id` and the headline telling
/// how its ping ended have come, in whichever order (an error from the
/// server itself may overtake the result), and returns the outcome.
async fn ask_outcome(c: &mut RawClient, id: &str) -> String {
    let me = c.jid.clone().expect("bound");
    let (mut answered, mut outcome) = (false, None);
    while !answered || outcome.is_none() {
        let e = c.next_where("the ask's result and headline", |e| is_answered(e) || e.attr("id") == Some(id)).await;
        if let Some(report) = e.child("answered", NS).filter(|_| e.name == "message") {
            assert_eq!((e.attr("from"), e.attr("type")), (Some("localhost"), Some("headline")), "{e}");
            assert_eq!(report.attr("context"), Some(me.as_str()), "the request's context is the asker: {e}");
            assert!(outcome.is_none(), "a second report for one ask: {e}");
            outcome = Some(report.attr("outcome").unwrap_or_else(|| panic!("no outcome: {e}")).to_string());
        } else {
            assert_eq!(e.attr("type"), Some("result"), "{e}");
            assert!(e.elements().next().is_none(), "an empty result: {e}");
            answered = true;
        }
    }
    outcome.expect("the loop ends with one")
}

#[tokio::test]
async fn an_iq_request_reports_a_result_an_error_and_a_timeout() {
    iq_request_outcomes(Build::Current).await
}

async fn iq_request_outcomes(build: Build) {
    let s = start_on(build, &["nia", "oli"]);
    let mut nia = login(&s, "nia", "n1").await;
    let mut oli = login(&s, "oli", "o1").await;

    // The raw client answers no iq by itself: oli reads the server's ping
    // and sends the result a client would.
    let id = send_ask(&mut nia, "oli@localhost/o1").await;
    let ping = oli.next_where("the server's ping", is_ping).await;
    assert_eq!(ping.attr("from"), Some("localhost"), "{ping}");
    let ping_id = ping.attr("id").unwrap_or_else(|| panic!("a ping without an id: {ping}"));
    oli.send(&format!("<iq type='result' id='{ping_id}' to='localhost'/>")).await;
    assert_eq!(ask_outcome(&mut nia, &id).await, "result");

    // No such session: the server answers for it, with an error.
    let id = send_ask(&mut nia, "nobody@localhost/x").await;
    assert_eq!(ask_outcome(&mut nia, &id).await, "error");

    // oli gets the next ping and never answers: the request times out.
    let sent = Instant::now();
    let id = send_ask(&mut nia, "oli@localhost/o1").await;
    oli.next_where("the second ping", is_ping).await;
    assert_eq!(ask_outcome(&mut nia, &id).await, "timeout");
    let waited = sent.elapsed();
    assert!(waited >= Duration::from_millis(2000), "timed out after {waited:?}, before its 2 s");
    eprintln!("request timeout of 2 s: reported {waited:?} after the ask");

    // What the plugin or the kernel refuses to send is the asker's mistake.
    for bad in ["", "to='not a jid@@'"] {
        let r = nia.iq("set", Some("localhost"), &format!("<ask xmlns='{NS}' {bad}/>")).await;
        assert_eq!(stanza_error_condition(&r).as_deref(), Some("bad-request"), "{bad}: {r}");
    }
    nia.close().await;
    oli.close().await;
    s.assert_no_plugin_failures();
}

/// Sends `n` increments of counter `key` at once and returns their ids.
async fn send_counts(c: &mut RawClient, key: &str, n: usize) -> Vec<String> {
    let ids: Vec<String> = (0..n).map(|_| c.new_id("count")).collect();
    let burst: String = ids
        .iter()
        .map(|id| format!("<iq type='set' id='{id}' to='localhost'><count xmlns='{NS}' key='{key}'/></iq>"))
        .collect();
    c.send(&burst).await;
    ids
}

/// The values the increments `ids` of `key` were answered with, in whatever
/// order the answers came.
async fn read_counts(c: &mut RawClient, key: &str, ids: &[String]) -> Vec<u64> {
    let mut values = Vec::new();
    for _ in ids {
        let r = c.next_where("a count answer", |e| e.name == "iq").await;
        assert!(ids.iter().any(|id| r.attr("id") == Some(id.as_str())), "an answer to no increment of this burst: {r}");
        let count = r.child("count", NS).unwrap_or_else(|| panic!("no <count/>: {r}"));
        assert_eq!(count.attr("key"), Some(key), "{r}");
        values.push(count.attr("value").and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("no value: {r}")));
    }
    values
}

#[tokio::test]
async fn concurrent_increments_each_get_a_value_of_their_own() {
    concurrent_increments(Build::Current).await
}

async fn concurrent_increments(build: Build) {
    const EACH: usize = 15;
    let s = start_on(build, &["pia", "quin"]);
    let mut pia = login(&s, "pia", "p1").await;
    let mut quin = login(&s, "quin", "q1").await;

    // Two sessions' bursts in flight at once: calls that read the same value
    // lose their compare-and-swap and retry, so no value is handed out twice.
    let pia_ids = send_counts(&mut pia, "shared", EACH).await;
    let quin_ids = send_counts(&mut quin, "shared", EACH).await;
    let mut values = read_counts(&mut pia, "shared", &pia_ids).await;
    values.extend(read_counts(&mut quin, "shared", &quin_ids).await);
    values.sort_unstable();
    assert_eq!(values, (1..=2 * EACH as u64).collect::<Vec<_>>(), "each increment exactly once");

    // Another key counts on its own; the shared one goes on where it was.
    let ids = send_counts(&mut pia, "other", 1).await;
    assert_eq!(read_counts(&mut pia, "other", &ids).await, [1]);
    let ids = send_counts(&mut quin, "shared", 1).await;
    assert_eq!(read_counts(&mut quin, "shared", &ids).await, [2 * EACH as u64 + 1]);

    let r = pia.iq("set", Some("localhost"), &format!("<count xmlns='{NS}'/>")).await;
    assert_eq!(stanza_error_condition(&r).as_deref(), Some("bad-request"), "{r}");
    pia.close().await;
    quin.close().await;
    s.assert_no_plugin_failures();
}

#[tokio::test]
async fn jids_are_prepared_by_the_kernel() {
    let s = start(&["rae"]);
    let mut rae = login(&s, "rae", "r1").await;
    let prep = |jid: &str| format!("<prep xmlns='{NS}' jid='{jid}'/>");
    for (given, want) in [
        ("Juliet@EXAMPLE.com/Balcony", "juliet@example.com/Balcony"),
        ("ROMEO@Montague.LIT", "romeo@montague.lit"),
        ("LocalHost", "localhost"),
    ] {
        let r = rae.iq("get", Some("localhost"), &prep(given)).await;
        let p = r.child("prep", NS).unwrap_or_else(|| panic!("{given}: no <prep/>: {r}"));
        assert_eq!(p.attr("jid"), Some(want), "{given}: {r}");
    }
    for bad in ["a@", "@example.com", "a@example.com/", "a b@example.com", ""] {
        let r = rae.iq("get", Some("localhost"), &prep(bad)).await;
        assert_eq!(stanza_error_condition(&r).as_deref(), Some("jid-malformed"), "{bad:?}: {r}");
    }
    let r = rae.iq("get", Some("localhost"), &format!("<prep xmlns='{NS}'/>")).await;
    assert_eq!(stanza_error_condition(&r).as_deref(), Some("bad-request"), "{r}");
    rae.close().await;
}

#[tokio::test]
async fn a_plugin_panic_reaches_the_server_log_with_its_message_and_location() {
    let s = start(&["sam"]);
    let mut sam = login(&s, "sam", "s1").await;
    let r = sam.iq("get", Some("localhost"), &format!("<panic xmlns='{NS}'/>")).await;
    assert_eq!(stanza_error_condition(&r).as_deref(), Some("internal-server-error"), "{r}");

    // The SDK's panic hook logs through the host before the instance traps.
    let deadline = Instant::now() + TIMEOUT;
    let line = loop {
        let log = s.log_text();
        if let Some(line) = log.lines().find(|l| l.contains("observer was asked to panic")) {
            break line.to_string();
        }
        assert!(Instant::now() < deadline, "the panic message is not in the log\n{}", s.log_tail(40));
        tokio::time::sleep(POLL).await;
    };
    assert!(line.contains("src/lib.rs:"), "the panic's location is not in its log line: {line}");

    // The trapped instance is gone; a fresh one serves the next call.
    let r = sam.iq("get", Some("localhost"), &format!("<greeting xmlns='{NS}'/>")).await;
    assert_eq!(r.attr("type"), Some("result"), "{r}");
    sam.close().await;
}

async fn read_note(c: &mut RawClient, key: &str) -> Element {
    c.iq("get", Some("localhost"), &format!("<note xmlns='{NS}' key='{key}'/>")).await
}

fn note_value(r: &Element) -> Option<&str> {
    r.child("note", NS)?.attr("value")
}

#[tokio::test]
async fn notes_are_published_as_a_dataset_and_survive_a_restart() {
    let mut s = start(&["tess", "uma"]);
    let mut tess = login(&s, "tess", "t1").await;
    let mut uma = login(&s, "uma", "u1").await;
    let set = |key: &str, value: &str| format!("<note xmlns='{NS}' key='{key}' value='{value}'/>");

    let r = read_note(&mut uma, "plan").await;
    assert_eq!(stanza_error_condition(&r).as_deref(), Some("item-not-found"), "{r}");
    // Committed with tess's call: uma's next call reads it.
    let r = tess.iq("set", Some("localhost"), &set("plan", "first")).await;
    assert_eq!(r.attr("type"), Some("result"), "{r}");
    assert_eq!(note_value(&read_note(&mut uma, "plan").await), Some("first"));
    let r = tess.iq("set", Some("localhost"), &set("plan", "second")).await;
    assert_eq!(r.attr("type"), Some("result"), "{r}");
    let r = read_note(&mut uma, "plan").await;
    assert_eq!(note_value(&r), Some("second"), "{r}");
    assert_eq!(r.child("note", NS).and_then(|n| n.attr("key")), Some("plan"), "{r}");
    let r = read_note(&mut uma, "other").await;
    assert_eq!(stanza_error_condition(&r).as_deref(), Some("item-not-found"), "{r}");
    let r = tess.iq("set", Some("localhost"), &format!("<note xmlns='{NS}' key='plan'/>")).await;
    assert_eq!(stanza_error_condition(&r).as_deref(), Some("bad-request"), "a set without a value: {r}");
    tess.close().await;
    uma.close().await;
    s.assert_no_plugin_failures();

    s.terminate();
    s.launch();
    let mut uma = login(&s, "uma", "u1").await;
    assert_eq!(note_value(&read_note(&mut uma, "plan").await), Some("second"), "after a restart");
    uma.close().await;
}

async fn greeting(c: &mut RawClient) -> String {
    let r = c.iq("get", Some("localhost"), &format!("<greeting xmlns='{NS}'/>")).await;
    r.child("greeting", NS).unwrap_or_else(|| panic!("no <greeting/>: {r}")).text()
}

#[tokio::test]
async fn a_declared_setting_has_its_default_and_is_checked() {
    // Not configured: the declared default.
    let s = start(&["vic"]);
    let mut vic = login(&s, "vic", "v1").await;
    assert_eq!(greeting(&mut vic).await, "hello");
    vic.close().await;
    drop(s);

    let s = start_with(&["vic"], "greeting = \"good morning\"");
    let mut vic = login(&s, "vic", "v1").await;
    assert_eq!(greeting(&mut vic).await, "good morning");
    vic.close().await;
    drop(s);

    // A value of the wrong type, or a key the plugin does not declare, is
    // refused before the plugin runs, by check-config and serve alike,
    // naming the plugin and the key.
    let cases = [
        ("greeting = 42", ["plugin observer", "setting \"greeting\" must be a string"]),
        ("greting = \"hi\"", ["plugin observer", "unknown setting \"greting\" (did you mean \"greeting\"?)"]),
    ];
    for (settings, wants) in cases {
        let s = Server::configure(&observer_config(settings));
        let file = s.config_path().to_str().expect("a UTF-8 path").to_string();
        for args in [vec!["check-config", file.as_str()], vec!["--config", file.as_str(), "serve"]] {
            let out = waxwing(&args);
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{args:?} accepted {settings:?}: {err}");
            for want in wants {
                assert!(err.contains(want), "{args:?} with {settings:?} does not say {want:?}: {err}");
            }
        }
    }
}

/// The checks [`on_both_abis`] runs against each build.
mod checks {
    use super::*;

    pub(super) async fn events_are_logged_in_order(build: Build) {
        let s = start_on(build, &["alice", "bob"]);
        let mut want: Vec<String> = Vec::new();
        let mut push = |line: &str| {
            want.push(line.to_string());
            want.clone()
        };
        // The harness created both accounts through the admin socket.
        push("user-created alice@localhost");
        push("user-created bob@localhost");

        // A session's own iq is read after its session-started event was
        // delivered, so each step can be checked from the session that caused it.
        let mut alice = login(&s, "alice", "a1").await;
        expect_log(&mut alice, &push("session-started alice@localhost/a1")).await;
        let mut bob = login(&s, "bob", "b1").await;
        expect_log(&mut bob, &push("session-started bob@localhost/b1")).await;

        alice.available(0).await;
        expect_log(&mut alice, &push("presence-changed alice@localhost/a1")).await;
        bob.available(3).await;
        expect_log(&mut bob, &push("presence-changed bob@localhost/b1")).await;
        bob.send("<presence type='unavailable'/>").await;
        expect_log(&mut bob, &push("presence-changed bob@localhost/b1")).await;

        // Alice's session ends on her session's task, after her stream closed:
        // bob waits for it.
        alice.close().await;
        expect_log(&mut bob, &push("session-ended alice@localhost/a1")).await;

        // Accounts made and removed by the operator while the server runs.
        let out = s.cli(&["user", "add", "carol@localhost", "carol-pw"]);
        assert!(out.status.success(), "user add: {}", String::from_utf8_lossy(&out.stderr));
        expect_log(&mut bob, &push("user-created carol@localhost")).await;
        let out = s.cli(&["user", "del", "carol@localhost"]);
        assert!(out.status.success(), "user del: {}", String::from_utf8_lossy(&out.stderr));
        expect_log(&mut bob, &push("user-deleted carol@localhost")).await;

        // Nothing the plugin did reached the server log as a failure.
        bob.close().await;
        s.assert_no_plugin_failures();
    }

    pub(super) async fn a_timer_sends_a_headline_to_whoever_set_it(build: Build) {
        let s = start_on(build, &["dora"]);
        let mut stays = login(&s, "dora", "stays").await;
        let mut asks = login(&s, "dora", "asks").await;
        stays.available(1).await;
        asks.available(1).await;

        let sent = Instant::now();
        asks.send(&format!("<iq type='set' id='t1' to='localhost'><timer xmlns='{NS}' ms='200'/></iq>")).await;
        let seen = asks.until("the timer's headline", is_fired).await;
        let elapsed = sent.elapsed();
        // The answer comes at once; the headline only when the timer fires.
        let reply = seen.iter().position(|e| e.name == "iq" && e.attr("id") == Some("t1"));
        let reply = reply.unwrap_or_else(|| panic!("the iq was not answered before the timer fired: {seen:?}"));
        assert_eq!(seen[reply].attr("type"), Some("result"), "{}", seen[reply]);
        assert!(seen[reply].elements().next().is_none(), "an empty result: {}", seen[reply]);
        assert!(elapsed >= Duration::from_millis(200), "the headline came after {elapsed:?}, before the timer was due");
        let fired = seen.last().expect("until returns what it stopped at");
        assert_eq!(fired.attr("from"), Some("localhost"), "{fired}");
        assert_eq!(fired.attr("to"), Some("dora@localhost/asks"), "{fired}");
        assert_eq!(fired.attr("type"), Some("headline"), "{fired}");
        eprintln!("timer of 200 ms: headline {elapsed:?} after the request");

        // The other resource of the same account got nothing: anything routed
        // to it before the headline reached `asks` would come before this answer.
        stays.send("<iq type='get' id='p1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>").await;
        let seen = stays.until("the ping answer", |e| e.name == "iq" && e.attr("id") == Some("p1")).await;
        assert!(!seen.iter().any(is_fired), "the headline went to another resource too: {seen:?}");

        // What the kernel or the plugin refuses comes back as bad-request.
        for bad in ["ms='soon'", "", "ms='99999999999999'"] {
            let r = asks.iq("set", Some("localhost"), &format!("<timer xmlns='{NS}' {bad}/>")).await;
            assert_eq!(stanza_error_condition(&r).as_deref(), Some("bad-request"), "{bad}: {r}");
        }
        stays.close().await;
        asks.close().await;
    }

    pub(super) async fn sessions_lists_resources_with_their_priority(build: Build) {
        let s = start_on(build, &["erin", "finn"]);
        let mut desk = login(&s, "erin", "desk").await;
        let r = sessions_of(&mut desk, "erin@localhost").await;
        assert_eq!(r.attr("type"), Some("result"), "{r}");
        assert_eq!(sessions(&r), vec![("erin@localhost/desk".to_string(), 0, false)], "before any presence: {r}");

        let mut phone = login(&s, "erin", "phone").await;
        desk.available(5).await;
        phone.available(-1).await;
        let r = sessions_of(&mut desk, "erin@localhost").await;
        assert_eq!(
            sessions(&r),
            vec![("erin@localhost/desk".to_string(), 5, true), ("erin@localhost/phone".to_string(), -1, true)],
            "{r}"
        );

        // An account with no session, and what is not a bare account JID here.
        let r = sessions_of(&mut phone, "finn@localhost").await;
        assert_eq!(sessions(&r), vec![], "{r}");
        for bad in ["localhost", "erin@localhost/desk", "erin@elsewhere.example"] {
            let r = sessions_of(&mut phone, bad).await;
            assert_eq!(stanza_error_condition(&r).as_deref(), Some("bad-request"), "{bad}: {r}");
        }
        desk.close().await;
        phone.close().await;
    }

    pub(super) async fn the_filter_drops_rewrites_rejects_and_passes(build: Build) {
        let s = start_on(build, &["gus", "hal"]);
        let mut gus = login(&s, "gus", "g1").await;
        let mut hal = login(&s, "hal", "h1").await;
        // Messages to a bare JID need an available resource to reach.
        hal.available(0).await;
        // The filter sees only watched accounts: every message to hal now.
        watch(&mut gus, &["hal@localhost"]).await;

        for to in ["hal@localhost", "hal@localhost/h1"] {
            // Dropped: the next message hal sees is the marker sent after it.
            gus.send(&format!("<message to='{to}' type='chat' id='d1'><body>drop me</body></message>")).await;
            gus.send(&format!("<message to='{to}' type='chat' id='m1'><body>marker after drop</body></message>")).await;
            let m = hal.next_message().await;
            assert_eq!(
                (m.attr("id"), waxwing_tests::body(&m).as_str()),
                (Some("m1"), "marker after drop"),
                "to {to}: {m}"
            );

            // Rewritten: same envelope, new body.
            gus.send(&format!("<message to='{to}' type='chat' id='w1'><body>rewrite me</body></message>")).await;
            let m = hal.next_message().await;
            assert_eq!(waxwing_tests::body(&m), "rewritten", "to {to}: {m}");
            assert_eq!(m.attr("id"), Some("w1"), "{m}");
            assert_eq!(m.attr("from"), Some("gus@localhost/g1"), "the rewrite keeps the sender: {m}");
            assert_eq!(m.attr("to"), Some(to), "{m}");
            assert_eq!(m.attr("type"), Some("chat"), "{m}");

            // Rejected: the sender hears why; the addressee hears nothing.
            gus.send(&format!("<message to='{to}' type='chat' id='r1'><body>reject me</body></message>")).await;
            let e = gus.next_where("the rejection", |e| e.name == "message" && e.attr("type") == Some("error")).await;
            assert_eq!(e.attr("id"), Some("r1"), "{e}");
            assert_eq!(e.attr("from"), Some(to), "{e}");
            assert_eq!(stanza_error_condition(&e).as_deref(), Some("policy-violation"), "{e}");
            assert_eq!(stanza_error_type(&e).as_deref(), Some("modify"), "{e}");

            // Anything else passes untouched, and proves the rejected one never came.
            gus.send(&format!("<message to='{to}' type='chat' id='p1'><body>rewrite me, please</body></message>"))
                .await;
            let m = hal.next_message().await;
            assert_eq!(
                (m.attr("id"), waxwing_tests::body(&m).as_str()),
                (Some("p1"), "rewrite me, please"),
                "to {to}: {m}"
            );
        }

        // Any message type is filtered, headlines and bodiless types included.
        gus.send("<message to='hal@localhost/h1' type='headline' id='h1'><body>drop me</body></message>").await;
        gus.send("<message to='hal@localhost/h1' id='n1'><body>rewrite me</body></message>").await;
        let m = hal.next_message().await;
        assert_eq!((m.attr("id"), waxwing_tests::body(&m).as_str()), (Some("n1"), "rewritten"), "{m}");
        gus.close().await;
        hal.close().await;
    }

    pub(super) async fn a_plugins_own_sends_skip_its_own_filter(build: Build) {
        let s = start_on(build, &["ida"]);
        let mut ida = login(&s, "ida", "i1").await;
        // ida is watched, so the filter is live for her: a client's "drop me" to
        // her is dropped, as the marker after it proves.
        watch(&mut ida, &["ida@localhost"]).await;
        ida.send("<message to='ida@localhost/i1' type='chat' id='c1'><body>drop me</body></message>").await;
        ida.send("<message to='ida@localhost/i1' type='chat' id='c2'><body>marker</body></message>").await;
        let m = ida.next_message().await;
        assert_eq!(m.attr("id"), Some("c2"), "a client's 'drop me' must have been dropped: {m}");
        ida.send(&format!(
            "<iq type='set' id='say1' to='localhost'><say xmlns='{NS}' to='ida@localhost/i1'>drop me</say></iq>"
        ))
        .await;
        // The filter drops "drop me" from clients (see above); said by the plugin
        // itself it arrives, or the plugin would judge its own words twice. What
        // a call sends goes out before its reply.
        let m = ida.next_message().await;
        assert_eq!((m.attr("from"), waxwing_tests::body(&m).as_str()), (Some("localhost"), "drop me"), "{m}");
        let r = ida.next_where("the result", |e| e.attr("id") == Some("say1")).await;
        assert_eq!(r.attr("type"), Some("result"), "{r}");
        let r = ida.iq("set", Some("localhost"), &format!("<say xmlns='{NS}'>no addressee</say>")).await;
        assert_eq!(stanza_error_condition(&r).as_deref(), Some("bad-request"), "{r}");
        ida.close().await;
    }

    pub(super) async fn declared_stream_features_are_offered_after_authentication_only(build: Build) {
        let s = start_on(build, &["joe"]);
        let mut joe = RawClient::connect(&s).await;
        joe.open_stream("localhost").await;
        joe.starttls().await;
        let before = joe.features.clone().unwrap_or_else(|| panic!("no features after TLS"));
        assert!(before.child("observed", NS).is_none(), "offered before authentication: {before}");
        let joe = login(&s, "joe", "j1").await;
        let after = joe.features.clone().unwrap_or_else(|| panic!("no features after authentication"));
        assert!(after.child("observed", NS).is_some(), "{after}");
        // Without a disco plugin no one can answer a caps query, so none is offered.
        assert!(after.child("c", "http://jabber.org/protocol/caps").is_none(), "{after}");
        joe.close().await;
    }

    pub(super) async fn a_restricted_filter_sees_only_watched_accounts(build: Build) {
        let s = start_on(build, &["kim", "lee", "max"]);
        let mut kim = login(&s, "kim", "k1").await;
        let mut lee = login(&s, "lee", "l1").await;
        let mut max = login(&s, "max", "m1").await;
        let say =
            |id: &str| format!("<message to='max@localhost/m1' type='chat' id='{id}'><body>drop me</body></message>");

        let r = kim
            .iq("set", Some("localhost"), &format!("<scope xmlns='{NS}'><watch>lee@localhost</watch></scope>"))
            .await;
        assert_eq!(r.attr("type"), Some("result"), "{r}");
        // Neither kim nor max is watched: the filter that drops "drop me" is
        // not even called for kim's message, which arrives.
        kim.send(&say("k1")).await;
        let m = max.next_message().await;
        assert_eq!((m.attr("id"), m.attr("from")), (Some("k1"), Some("kim@localhost/k1")), "{m}");
        // lee is watched: dropped, as the marker after it proves.
        lee.send(&say("l1")).await;
        lee.send("<message to='max@localhost/m1' type='chat' id='l2'><body>marker</body></message>").await;
        let m = max.next_message().await;
        assert_eq!(m.attr("id"), Some("l2"), "lee's 'drop me' must have been dropped: {m}");

        // Only accounts of the plugin's own host can be watched; the server goes on.
        for bad in ["someone@elsewhere.example", "not a jid@@", ""] {
            let r =
                kim.iq("set", Some("localhost"), &format!("<scope xmlns='{NS}'><watch>{bad}</watch></scope>")).await;
            assert_eq!(r.attr("type"), Some("error"), "watching {bad:?}: {r}");
        }
        kim.send(&say("k2")).await;
        let m = max.next_message().await;
        assert_eq!(m.attr("id"), Some("k2"), "{m}");
    }
}
