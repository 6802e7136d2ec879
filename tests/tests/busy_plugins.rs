//! A plugin busy up to its deadline must not stall anyone else: wasm calls
//! run off the async workers, so while more calls spin than the runtime has
//! workers, other sessions' stanzas (through another plugin, even) are
//! answered. Ordering, not timing, is what the test checks.

use std::time::Duration;

use waxwing_tests::{RawClient, Server, stanza_error_condition};

const PW: &str = "busy-pw";
const WORKERS: usize = 2;
const SPINNERS: usize = WORKERS + 1;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_sessions_are_served_while_plugins_spin() {
    let spin = waxwing_tests::server::built_plugin("spin");
    // Long enough that the pings below cannot race the deadline on a loaded
    // machine; the spins end with internal-server-error when it passes.
    let config = format!(
        "[plugin_limits]\ncall_timeout_ms = 4000\n\n[[vhost]]\ndomain = \"localhost\"\n\
         [[vhost.plugin]]\nname = \"spin\"\nsource = {spin:?}\n\
         [[vhost.plugin]]\nname = \"ping\"\nsource = \"builtin\"\n"
    );
    let mut s = Server::configure(&config);
    // A runtime of a known size, which the spinners outnumber: were a call to
    // hold its worker, every worker would be held.
    s.set_env("TOKIO_WORKER_THREADS", &WORKERS.to_string());
    s.launch();
    let names: Vec<String> = (0..SPINNERS).map(|i| format!("spinner{i}")).collect();
    let mut users: Vec<(String, &str)> = names.iter().map(|n| (format!("{n}@localhost"), PW)).collect();
    users.push(("pinger@localhost".into(), PW));
    let users: Vec<(&str, &str)> = users.iter().map(|(j, p)| (j.as_str(), *p)).collect();
    s.add_users(&users);
    let _log = s.log_on_panic();

    let mut spinners = Vec::new();
    for n in &names {
        spinners.push(RawClient::login(&s, n, PW).await);
    }
    let mut pinger = RawClient::login(&s, "pinger", PW).await;
    for (i, c) in spinners.iter_mut().enumerate() {
        c.send(&format!("<iq type='get' id='spin-{i}' to='localhost'><spin xmlns='urn:waxwing:test:spin'/></iq>"))
            .await;
    }
    // Every spin is under way (the plugin logs before looping) ...
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while (0..SPINNERS).any(|i| !s.log_text().contains(&format!("spinning for spin-{i}"))) {
        assert!(std::time::Instant::now() < deadline, "the spins never started");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // ... and the pinger is answered, by the ping plugin, while they spin.
    for _ in 0..3 {
        let pong = pinger.iq("get", Some("localhost"), "<ping xmlns='urn:xmpp:ping'/>").await;
        assert_eq!(pong.attr("type"), Some("result"), "{pong}");
    }
    for (i, c) in spinners.iter_mut().enumerate() {
        assert!(
            c.try_next_frame(Duration::ZERO).await.is_err(),
            "spinner {i} was answered before the pinger: the spins were not running meanwhile"
        );
    }
    // The spins did end, at their deadline: 4 s of CPU each, sharing the
    // cores, and at most ten times that in wall time (call_clock.rs).
    for c in spinners.iter_mut() {
        let reply = c.next_element_within(Duration::from_secs(60)).await;
        assert_eq!(stanza_error_condition(&reply).as_deref(), Some("internal-server-error"), "{reply}");
    }
}
