//! SIGTERM: every session is told `<system-shutdown/>`, the process exits 0,
//! and what was stored is there after a restart.

use waxwing_tests::{Mech, RawClient, Server};

#[tokio::test]
async fn sigterm_closes_every_session_with_system_shutdown_and_accounts_survive() {
    let mut s = Server::start_with_users("", &[("olga@localhost", "olga-pw"), ("piet@localhost", "piet-pw")]);
    let mut a = RawClient::login(&s, "olga", "olga-pw").await;
    let mut b = RawClient::login_with(&s, "piet", "piet-pw", Mech::ScramSha1Plus, Some("two")).await;
    // Two more, still negotiating (before and after TLS): told too, and they
    // must not keep the server from exiting.
    let mut c = RawClient::connect(&s).await;
    c.open_stream("localhost").await;
    let mut d = RawClient::connect_tls(&s).await;

    s.signal(libc::SIGTERM);
    a.expect_stream_error("system-shutdown").await;
    b.expect_stream_error("system-shutdown").await;
    c.expect_stream_error("system-shutdown").await;
    d.expect_stream_error("system-shutdown").await;
    let status = s.wait_exit(std::time::Duration::from_secs(20));
    assert!(status.success(), "the server exited with {status} after SIGTERM\n{}", s.log_tail(40));
    assert!(c.closed_within(waxwing_tests::TIMEOUT).await, "a negotiating connection outlived the server");
    assert!(!s.data_dir().join("listening.json").exists(), "listening.json is left behind after a clean exit");

    // A restart finds the accounts.
    s.launch();
    let log = s.log_on_panic();
    let a = RawClient::login(&s, "olga", "olga-pw").await;
    assert!(a.jid.as_deref().is_some_and(|j| j.starts_with("olga@localhost/")));
    let out = s.cli(&["user", "list"]);
    let listed = String::from_utf8_lossy(&out.stdout);
    assert_eq!(listed.lines().collect::<Vec<_>>(), ["olga@localhost", "piet@localhost"]);
    drop(log);
    assert_eq!(s.terminate().code(), Some(0));
}

#[tokio::test]
async fn sigint_also_stops_cleanly() {
    let mut s = Server::start("");
    let mut c = RawClient::connect(&s).await;
    c.open_stream("localhost").await;
    s.signal(libc::SIGINT);
    let status = s.wait_exit(std::time::Duration::from_secs(20));
    assert_eq!(status.code(), Some(0), "{}", s.log_tail(40));
}
