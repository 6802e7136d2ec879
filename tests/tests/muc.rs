//! Multi-user chat (XEP-0045, the `muc` plugin on conference.localhost) as
//! the kernel serves it: listed by the host, every bad request answered
//! with its error while the room keeps serving, and a hot swap of the
//! plugin under a busy room that keeps every occupant and message.
//! The client-side flows are in tests/python/test_muc.py (slixmpp).

use std::time::Duration;

use waxwing_tests::client::{stanza_error_condition, stanza_error_type};
use waxwing_tests::{Element, RawClient, Server, TIMEOUT};

const MUC: &str = "http://jabber.org/protocol/muc";
const USER: &str = "http://jabber.org/protocol/muc#user";
const OWNER: &str = "http://jabber.org/protocol/muc#owner";
const SERVICE: &str = "conference.localhost";
const PW: &str = "pw-1234";

/// The default vhost: its default plugins include `muc`.
const DEFAULT_VHOST: &str = "[[vhost]]\ndomain = \"localhost\"\n";

async fn login(s: &Server, user: &str) -> RawClient {
    let mut c = RawClient::login(s, &format!("{user}@localhost"), PW).await;
    c.available(0).await;
    c
}

fn codes(p: &Element) -> Vec<String> {
    p.child("x", USER)
        .map(|x| {
            x.elements().filter(|e| e.name == "status").filter_map(|e| e.attr("code").map(str::to_string)).collect()
        })
        .unwrap_or_default()
}

/// Joins `room` as `nick` and waits for the self-presence (110).
async fn join(c: &mut RawClient, room: &str, nick: &str) -> Element {
    c.send(&format!(
        "<presence to='{room}@{SERVICE}/{nick}'><x xmlns='{MUC}'><history maxstanzas='0'/></x></presence>"
    ))
    .await;
    c.next_where("my own presence in the room", |e| e.name == "presence" && codes(e).contains(&"110".to_string())).await
}

/// Creates `room` and accepts the default configuration (an instant room).
async fn create(c: &mut RawClient, room: &str, nick: &str) {
    let me = join(c, room, nick).await;
    assert!(codes(&me).contains(&"201".to_string()), "a new room says 201: {me}");
    let r = c
        .iq(
            "set",
            Some(&format!("{room}@{SERVICE}")),
            &format!("<query xmlns='{OWNER}'><x xmlns='jabber:x:data' type='submit'/></query>"),
        )
        .await;
    assert_eq!(r.attr("type"), Some("result"), "accepting the instant room: {r}");
}

fn error_of(e: &Element) -> (String, String) {
    (stanza_error_condition(e).unwrap_or_default(), stanza_error_type(e).unwrap_or_default())
}

#[tokio::test]
async fn the_host_lists_the_service_and_keeps_its_identity_apart() {
    let s = Server::start_with_localhost_users(DEFAULT_VHOST, &["alice"], PW);
    let _log = s.log_on_panic();
    let mut a = login(&s, "alice").await;
    let items = a.iq("get", Some("localhost"), "<query xmlns='http://jabber.org/protocol/disco#items'/>").await;
    let jids: Vec<&str> = items.elements().flat_map(|q| q.elements()).filter_map(|i| i.attr("jid")).collect();
    assert!(jids.contains(&SERVICE), "the host's items list the MUC service: {items}");
    let info = a.iq("get", Some("localhost"), "<query xmlns='http://jabber.org/protocol/disco#info'/>").await;
    let text = info.to_string();
    assert!(!text.contains(MUC) && !text.contains("conference"), "the server is no chat service: {info}");
    let info = a.iq("get", Some(SERVICE), "<query xmlns='http://jabber.org/protocol/disco#info'/>").await;
    let q = info.child("query", "http://jabber.org/protocol/disco#info").unwrap_or_else(|| panic!("{info}"));
    let identity = q.child("identity", "http://jabber.org/protocol/disco#info").unwrap_or_else(|| panic!("{info}"));
    assert_eq!((identity.attr("category"), identity.attr("type")), (Some("conference"), Some("text")));
    assert!(q.elements().any(|f| f.attr("var") == Some(MUC)), "{info}");
}

#[tokio::test]
async fn bad_requests_get_their_errors_and_the_room_keeps_serving() {
    let s = Server::start_with_localhost_users(DEFAULT_VHOST, &["alice", "bob"], PW);
    let _log = s.log_on_panic();
    let mut a = login(&s, "alice").await;
    let mut b = login(&s, "bob").await;
    create(&mut a, "den", "alice").await;
    let room = format!("den@{SERVICE}");
    let cases: Vec<(&str, String, (&str, &str))> = vec![
        (
            "presence without a nick",
            format!("<presence to='{room}' id='e1'><x xmlns='{MUC}'/></presence>"),
            ("jid-malformed", "modify"),
        ),
        (
            "groupchat from a non-occupant",
            format!("<message to='{room}' type='groupchat' id='e2'><body>hi</body></message>"),
            ("not-acceptable", "modify"),
        ),
        (
            "groupchat to one occupant",
            format!("<message to='{room}/alice' type='groupchat' id='e3'><body>hi</body></message>"),
            ("bad-request", "modify"),
        ),
        (
            "a message to the room that is nothing",
            format!("<message to='{room}' id='e4'><body>hi</body></message>"),
            ("bad-request", "modify"),
        ),
        (
            "an admin query without items",
            format!("<iq to='{room}' type='set' id='e5'><query xmlns='{MUC}#admin'/></iq>"),
            ("bad-request", "modify"),
        ),
        (
            "a config form from a non-owner",
            format!("<iq to='{room}' type='get' id='e6'><query xmlns='{OWNER}'/></iq>"),
            ("forbidden", "auth"),
        ),
        (
            "a role nobody has",
            format!(
                "<iq to='{room}' type='set' id='e7'><query xmlns='{MUC}#admin'><item nick='alice' role='king'/></query></iq>"
            ),
            ("bad-request", "modify"),
        ),
        (
            "a room that does not exist",
            format!(
                "<iq to='nowhere@{SERVICE}' type='get' id='e8'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>"
            ),
            ("item-not-found", "cancel"),
        ),
        (
            "an unknown query to the room",
            format!("<iq to='{room}' type='get' id='e9'><query xmlns='urn:example:nothing'/></iq>"),
            ("service-unavailable", "cancel"),
        ),
        (
            "a ping to an occupant from outside",
            format!("<iq to='{room}/alice' type='get' id='e10'><ping xmlns='urn:xmpp:ping'/></iq>"),
            ("not-acceptable", "modify"),
        ),
    ];
    for (what, xml, want) in &cases {
        let id = Element::parse(xml).ok().and_then(|e| e.attr("id").map(str::to_string)).unwrap_or_default();
        b.send(xml).await;
        let reply = b.next_where(what, |e| e.attr("id") == Some(id.as_str())).await;
        assert_eq!(reply.attr("type"), Some("error"), "{what}: {reply}");
        assert_eq!(error_of(&reply), (want.0.to_string(), want.1.to_string()), "{what}: {reply}");
    }
    // A form with a value of the wrong kind, from the owner.
    let bad_form = format!(
        "<query xmlns='{OWNER}'><x xmlns='jabber:x:data' type='submit'><field var='muc#roomconfig_maxusers'><value>many</value></field></x></query>"
    );
    let r = a.iq("set", Some(&room), &bad_form).await;
    assert_eq!(error_of(&r).0, "not-acceptable", "{r}");
    // And the room still serves.
    join(&mut b, "den", "bob").await;
    b.send(&format!("<message to='{room}' type='groupchat' id='ok'><body>still here</body></message>")).await;
    let m = a.next_where("bob's message", |e| e.name == "message" && e.child("body", "jabber:client").is_some()).await;
    assert_eq!(m.attr("from"), Some(&*format!("{room}/bob")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hot_swap_under_a_busy_room_keeps_every_occupant_and_message() {
    let s = Server::start_with_localhost_users(DEFAULT_VHOST, &["alice", "bob", "carol", "dave"], PW);
    let _log = s.log_on_panic();
    let mut a = login(&s, "alice").await;
    let mut b = login(&s, "bob").await;
    let mut c = login(&s, "carol").await;
    create(&mut a, "busy", "alice").await;
    join(&mut b, "busy", "bob").await;
    join(&mut c, "busy", "carol").await;
    let room = format!("busy@{SERVICE}");

    let config = s.config_path().to_path_buf();
    let swapper = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let out = tokio::task::spawn_blocking(move || {
            waxwing_tests::waxwing(&["--config", config.to_str().unwrap_or_default(), "plugin", "reload", "muc"])
        })
        .await
        .expect("the reload command ran");
        assert!(out.status.success(), "reload failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    });

    // Alice talks before, while and after the plugin is replaced; bob and
    // carol hear all of it, in order. Bounded in count and time.
    let mut sent = 0usize;
    let mut after_swap = 0usize;
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while after_swap < 100 && sent < 5_000 && tokio::time::Instant::now() < deadline {
        a.send(&format!("<message to='{room}' type='groupchat' id='m{sent}'><body>{sent}</body></message>")).await;
        sent += 1;
        if swapper.is_finished() {
            after_swap += 1;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert!(sent > after_swap + 50, "messages went out while the reload ran ({sent} sent, {after_swap} after)");
    let summary = tokio::time::timeout(TIMEOUT, swapper).await.expect("reload finished").expect("reload task");
    assert!(summary.contains("muc"), "the reload swapped the plugin: {summary}");
    let messages = sent;
    for (who, client) in [("bob", &mut b), ("carol", &mut c)] {
        let mut got = Vec::new();
        while got.len() < messages {
            let m = client
                .next_where(&format!("message {} for {who}", got.len()), |e| {
                    e.name == "message" && e.child("body", "jabber:client").is_some()
                })
                .await;
            got.push(m.child("body", "jabber:client").map(Element::text).unwrap_or_default());
        }
        let want: Vec<String> = (0..messages).map(|i| i.to_string()).collect();
        assert_eq!(got, want, "{who} heard every message once, in order");
    }
    // The new version still knows everyone: a newcomer is shown all three.
    let mut d = login(&s, "dave").await;
    d.send(&format!("<presence to='{room}/dave'><x xmlns='{MUC}'><history maxstanzas='0'/></x></presence>")).await;
    let before_self =
        d.until("dave's own presence", |e| e.name == "presence" && codes(e).contains(&"110".to_string())).await;
    let mut nicks: Vec<String> = before_self
        .iter()
        .filter(|e| e.name == "presence" && !codes(e).contains(&"110".to_string()))
        .filter(|e| e.attr("from").is_some_and(|f| f.starts_with(&room)))
        .filter_map(|e| e.attr("from").and_then(|f| f.rsplit('/').next()).map(str::to_string))
        .collect();
    nicks.sort();
    assert_eq!(nicks, ["alice", "bob", "carol"], "occupants after the swap");
}

/// A groupchat message goes to most occupants as one serialization with
/// `to` spliced in; an occupant whose blocklist (a filter) must see it gets
/// it the ordinary way, and here drops it.
#[tokio::test]
async fn the_fan_out_still_passes_an_occupants_blocklist() {
    let s = Server::start_with_localhost_users(DEFAULT_VHOST, &["alice", "bob", "carol"], PW);
    let _log = s.log_on_panic();
    let mut a = login(&s, "alice").await;
    let mut b = login(&s, "bob").await;
    let mut c = login(&s, "carol").await;
    create(&mut a, "den", "alice").await;
    join(&mut b, "den", "bob").await;
    join(&mut c, "den", "carol").await;
    let room = format!("den@{SERVICE}");
    let r = b.iq("set", None, &format!("<block xmlns='urn:xmpp:blocking'><item jid='{room}/alice'/></block>")).await;
    assert_eq!(r.attr("type"), Some("result"), "{r}");
    a.send(&format!("<message to='{room}' type='groupchat' id='g1'><body>only carol</body></message>")).await;
    let m = c.next_where("alice's message", |e| e.name == "message" && e.attr("id") == Some("g1")).await;
    assert_eq!(m.attr("to"), c.jid.as_deref(), "spliced `to`: {m}");
    assert_eq!(m.attr("from"), Some(&*format!("{room}/alice")));
    let echo = a.next_where("alice's own echo", |e| e.name == "message" && e.attr("id") == Some("g1")).await;
    assert_eq!(echo.attr("to"), a.jid.as_deref());
    let seen = b.drain().await;
    assert!(!seen.iter().any(|e| e.attr("id") == Some("g1")), "bob blocked alice's nick: {seen:?}");
}
