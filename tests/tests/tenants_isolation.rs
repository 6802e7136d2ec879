//! One tenant's plugins stuck in a loop, a memory bomb and a flood leave
//! another tenant's clients served; the tenant that burned its CPU budget
//! is throttled, not the others; one tenant's admin commands nothing on
//! another. Asserted by what the clients receive, not by timing.

use std::time::Duration;

use waxwing_tests::server::built_plugin;
use waxwing_tests::{RawClient, Server, body, stanza_error_condition};

const PW: &str = "isolation-pw";
const COMMANDS: &str = "http://jabber.org/protocol/commands";

fn config() -> String {
    let (spin, membomb) = (built_plugin("spin"), built_plugin("membomb"));
    format!(
        "[plugin_limits]\ncall_timeout_ms = 300\n\n\
         [[vhost]]\ndomain = \"a.test\"\nadmins = [\"ann@a.test\"]\n\
         [vhost.quotas]\nplugin_cpu_ms_per_sec = 20\nplugin_memory_mib = 8\n\
         session_stanzas_per_sec = 5\nstanza_max_delay_ms = 0\n\
         [[vhost.plugin]]\nname = \"spin\"\nsource = {spin:?}\n\
         [[vhost.plugin]]\nname = \"membomb\"\nsource = {membomb:?}\n\
         [[vhost.plugin]]\nname = \"ping\"\n\
         [[vhost.plugin]]\nname = \"admin\"\ngrants = [\"kv\", \"sessions\", \"route\", \"accounts\", \"datasets\", \"server\"]\n\
         [[vhost]]\ndomain = \"b.test\"\n"
    )
}

async fn login(s: &Server, jid: &str) -> RawClient {
    let mut c = RawClient::connect_to(s.c2s_addr(), &s.cert_of(jid.split('@').nth(1).unwrap_or("localhost"))).await;
    c.authenticate_and_bind(jid, PW, waxwing_tests::Mech::ScramSha256, Some("r")).await;
    c
}

/// B's two clients talk: every message arrives, in order, and B's server
/// answers a ping.
async fn b_is_served(bob: &mut RawClient, bea: &mut RawClient, round: usize) {
    for i in 0..5 {
        bob.send(&format!(
            "<message to='bea@b.test/r' type='chat' id='m{round}-{i}'><body>{round}-{i}</body></message>"
        ))
        .await;
    }
    for i in 0..5 {
        let m = bea.next_message().await;
        assert_eq!(body(&m), format!("{round}-{i}"), "B's messages arrive in order: {m}");
    }
    let pong = bob.iq("get", Some("b.test"), "<ping xmlns='urn:xmpp:ping'/>").await;
    assert_eq!(pong.attr("type"), Some("result"), "{pong}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenants_stuck_plugins_and_floods_leave_another_tenant_served() {
    let s = Server::start_with_users(&config(), &[("ann@a.test", PW), ("bob@b.test", PW), ("bea@b.test", PW)]);
    let _log = s.log_on_panic();
    let mut ann = login(&s, "ann@a.test").await;
    let mut bob = login(&s, "bob@b.test").await;
    let mut bea = login(&s, "bea@b.test").await;
    b_is_served(&mut bob, &mut bea, 0).await;

    // A's admin commands nothing on B (before A's rate is spent below).
    let on_b =
        ann.iq("set", Some("b.test"), &format!("<command xmlns='{COMMANDS}' node='http://jabber.org/protocol/admin#get-online-users-num' action='execute'/>")).await;
    let cond = stanza_error_condition(&on_b);
    assert!(
        matches!(cond.as_deref(), Some("forbidden" | "item-not-found" | "service-unavailable")),
        "A's admin has no command on B: {on_b}"
    );

    // A loop: stopped at A's call deadline...
    ann.send("<iq type='get' id='spin' to='a.test'><spin xmlns='urn:waxwing:test:spin'/></iq>").await;
    b_is_served(&mut bob, &mut bea, 1).await;
    let spun = ann.next_where("the spin's end", |e| e.attr("id") == Some("spin")).await;
    assert_eq!(stanza_error_condition(&spun).as_deref(), Some("internal-server-error"), "{spun}");
    // ...and it spent A's CPU budget (300 ms against 20 ms a second): A's
    // plugins are refused for a while, B's are not.
    let refused = ann.iq("get", Some("a.test"), "<ping xmlns='urn:xmpp:ping'/>").await;
    assert_eq!(stanza_error_condition(&refused).as_deref(), Some("resource-constraint"), "{refused}");
    b_is_served(&mut bob, &mut bea, 2).await;

    // A flood from A's client: over A's session rate, refused at once.
    let flood: String =
        (0..40).map(|i| format!("<iq type='get' id='f{i}' to='a.test'><ping xmlns='urn:xmpp:ping'/></iq>")).collect();
    ann.send(&flood).await;
    b_is_served(&mut bob, &mut bea, 3).await;
    let mut constrained = 0;
    for _ in 0..40 {
        let r = ann.next_where("an answer to the flood", |e| e.name == "iq").await;
        if stanza_error_condition(&r).as_deref() == Some("resource-constraint") {
            constrained += 1;
        }
    }
    assert!(constrained >= 30, "the flood is held back: {constrained} of 40 refused");

    // A memory bomb: A's instances are capped at 8 MiB, and the budget
    // refilled first (a refused call never reaches the bomb).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let bombed = loop {
        let r = ann.iq("get", Some("a.test"), "<membomb xmlns='urn:waxwing:test:membomb'/>").await;
        if stanza_error_condition(&r).as_deref() != Some("resource-constraint") {
            break r;
        }
        assert!(std::time::Instant::now() < deadline, "A's CPU budget never refilled");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(stanza_error_condition(&bombed).as_deref(), Some("internal-server-error"), "{bombed}");
    b_is_served(&mut bob, &mut bea, 4).await;
    let log = s.log_text();
    assert!(log.contains("membomb"), "the bomb's trap is logged");

    let (_, metrics) = waxwing_tests::http::get(s.metrics_addr(), "/metrics").await;
    assert!(
        metrics.lines().any(
            |l| l.starts_with("waxwing_tenant_plugin_calls_refused_total{tenant=\"a.test\"}") && !l.ends_with(" 0")
        ),
        "A's refused plugin calls are counted:\n{metrics}"
    );
    assert!(
        metrics.lines().any(|l| l == "waxwing_tenant_plugin_calls_refused_total{tenant=\"b.test\"} 0"),
        "B's plugins were never refused:\n{metrics}"
    );
    b_is_served(&mut bob, &mut bea, 5).await;
}
