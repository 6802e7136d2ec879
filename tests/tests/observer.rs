//! The host interfaces no shipped plugin uses yet, end to end through the
//! real server: events, timers, filters, `route.send`, `sessions.of` and
//! `kv.batch`, driven through the `observer` test plugin
//! (`plugins/testing/observer`).

use std::time::Duration;

use tokio::time::Instant;
use waxwing_tests::server::vhost_with_plugins;
use waxwing_tests::{Element, Mech, RawClient, Server, TIMEOUT, stanza_error_condition, stanza_error_type};

const NS: &str = "urn:waxwing:test:observer";
const PW: &str = "observer-pw";
/// How often a test re-reads the log while waiting for an event that another
/// task of the server emits.
const POLL: Duration = Duration::from_millis(20);

/// A server whose only plugin is the observer, granted exactly what it
/// calls. Each test has its own: the event log is per server.
fn start(users: &[&str]) -> Server {
    let config = format!(
        "{}[[vhost.plugin]]\nname = \"observer\"\nsource = {:?}\n\
         grants = [\"kv\", \"route\", \"sessions\", \"timers\"]\n",
        vhost_with_plugins(&[]),
        waxwing_tests::server::built_plugin("observer").display().to_string()
    );
    Server::start_with_localhost_users(&config, users, PW)
}

async fn login(s: &Server, user: &str, resource: &str) -> RawClient {
    RawClient::login_with(s, &format!("{user}@localhost"), PW, Mech::ScramSha256, Some(resource)).await
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
/// that the count written in each entry's batch agrees.
async fn expect_log(c: &mut RawClient, want: &[String]) {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let (count, lines) = read_log(c).await;
        if lines.len() >= want.len() || Instant::now() >= deadline {
            assert_eq!(lines, want, "the event log");
            assert_eq!(count, lines.len() as u64, "the count batched with each entry: {lines:?}");
            return;
        }
        tokio::time::sleep(POLL).await;
    }
}

#[tokio::test]
async fn events_are_logged_in_order() {
    let s = start(&["alice", "bob"]);
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

#[tokio::test]
async fn a_timer_sends_a_headline_to_whoever_set_it() {
    let s = start(&["dora"]);
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

#[tokio::test]
async fn sessions_lists_resources_with_their_priority() {
    let s = start(&["erin", "finn"]);
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

#[tokio::test]
async fn the_filter_drops_rewrites_rejects_and_passes() {
    let s = start(&["gus", "hal"]);
    let mut gus = login(&s, "gus", "g1").await;
    let mut hal = login(&s, "hal", "h1").await;
    // Messages to a bare JID need an available resource to reach.
    hal.available(0).await;

    for to in ["hal@localhost", "hal@localhost/h1"] {
        // Dropped: the next message hal sees is the marker sent after it.
        gus.send(&format!("<message to='{to}' type='chat' id='d1'><body>drop me</body></message>")).await;
        gus.send(&format!("<message to='{to}' type='chat' id='m1'><body>marker after drop</body></message>")).await;
        let m = hal.next_message().await;
        assert_eq!((m.attr("id"), waxwing_tests::body(&m).as_str()), (Some("m1"), "marker after drop"), "to {to}: {m}");

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
        gus.send(&format!("<message to='{to}' type='chat' id='p1'><body>rewrite me, please</body></message>")).await;
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

#[tokio::test]
async fn a_plugins_own_sends_skip_its_own_filter() {
    let s = start(&["ida"]);
    let mut ida = login(&s, "ida", "i1").await;
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

#[tokio::test]
async fn declared_stream_features_are_offered_after_authentication_only() {
    let s = start(&["joe"]);
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

#[tokio::test]
async fn a_restricted_filter_sees_only_watched_accounts() {
    let s = start(&["kim", "lee", "max"]);
    let mut kim = login(&s, "kim", "k1").await;
    let mut lee = login(&s, "lee", "l1").await;
    let mut max = login(&s, "max", "m1").await;
    let say = |id: &str| format!("<message to='max@localhost/m1' type='chat' id='{id}'><body>drop me</body></message>");

    let r =
        kim.iq("set", Some("localhost"), &format!("<scope xmlns='{NS}'><watch>lee@localhost</watch></scope>")).await;
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
        let r = kim.iq("set", Some("localhost"), &format!("<scope xmlns='{NS}'><watch>{bad}</watch></scope>")).await;
        assert_eq!(r.attr("type"), Some("error"), "watching {bad:?}: {r}");
    }
    kim.send(&say("k2")).await;
    let m = max.next_message().await;
    assert_eq!(m.attr("id"), Some("k2"), "{m}");
}
