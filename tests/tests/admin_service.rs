//! The service itself over XEP-0133, through the kernel's `server`
//! interface: the admin list (kept across restarts), a plugin reconfigured
//! and reloaded while clients stay connected (the change kept across
//! restarts, and put back), restart and shutdown. Each command also with
//! what a non-admin and bad form values get.

use std::time::{Duration, SystemTime};

use waxwing_tests::adhoc::{
    self, ADMIN, ADMIN_PW as PW, Fields, admin_server as start, cells, completed, execute, options, run, session, step,
    values,
};
use waxwing_tests::{Element, Mech, RawClient, Server, stanza_error_condition};

const OURS: &str = "urn:waxwing:admin";
const VERSION: &str = "jabber:iq:version";

async fn login(s: &Server, user: &str) -> RawClient {
    waxwing_tests::adhoc::login(s, user, "adm").await
}

/// SIGTERM, then start again on the same data.
fn restart_by_signal(s: &mut Server) {
    s.signal(libc::SIGTERM);
    let status = s.wait_exit(Duration::from_secs(20));
    assert!(status.success(), "{status}\n{}", s.log_tail(40));
    s.launch();
}

async fn commands_seen(c: &mut RawClient) -> usize {
    adhoc::listed_nodes(c).await.0.len()
}

async fn version_os(c: &mut RawClient) -> Option<String> {
    let r = c.iq("get", Some("localhost"), &format!("<query xmlns='{VERSION}'/>")).await;
    r.child("query", VERSION).and_then(|q| q.child("os", VERSION)).map(Element::text)
}

#[tokio::test]
async fn the_admin_list_is_edited_and_kept_across_a_restart() {
    let mut s = start();
    let mut root = login(&s, "root").await;
    let mut joe = login(&s, "joe").await;
    let edit = format!("{ADMIN}#edit-admin");

    let refused = execute(&mut joe, &edit).await;
    assert_eq!(stanza_error_condition(&refused).as_deref(), Some("forbidden"), "{refused}");
    assert_eq!(commands_seen(&mut joe).await, 0);

    let shown = execute(&mut root, &edit).await;
    assert_eq!(values(&shown, "adminjids"), ["root@localhost"]);
    let sid = session(&shown);
    let bad = step(&mut root, &edit, &sid, "complete", &[("adminjids", &["root@localhost", "no@@jid"])]).await;
    assert_eq!(stanza_error_condition(&bad).as_deref(), Some("bad-request"), "{bad}");
    let dropped = run(&mut root, &edit, &[("adminjids", &["joe@localhost"])]).await;
    assert_eq!(stanza_error_condition(&dropped).as_deref(), Some("bad-request"), "the config's admin stays: {dropped}");

    let done = run(&mut root, &edit, &[("adminjids", &["root@localhost", "joe@localhost"])]).await;
    completed(&done);
    assert!(commands_seen(&mut joe).await > 20, "joe is an admin now");

    restart_by_signal(&mut s);
    let mut joe = login(&s, "joe").await;
    let shown = execute(&mut joe, &edit).await;
    assert_eq!(values(&shown, "adminjids"), ["root@localhost", "joe@localhost"], "kept across the restart");
}

#[tokio::test]
async fn a_plugin_is_configured_reloaded_and_put_back_while_clients_stay() {
    let mut s = start();
    let mut root = login(&s, "root").await;
    let mut joe = login(&s, "joe").await;
    assert_eq!(version_os(&mut joe).await, None, "show_os is off by default");

    let listed = execute(&mut root, &format!("{OURS}#list-plugins")).await;
    let names = cells(&listed, "name");
    assert!(names.contains(&"version".to_string()) && names.contains(&"admin".to_string()), "{listed}");

    let configure = format!("{OURS}#configure-plugin");
    let first = execute(&mut root, &configure).await;
    let sid = session(&first);
    let unknown = step(&mut root, &configure, &sid, "next", &[("plugin", &["nope"])]).await;
    assert_eq!(stanza_error_condition(&unknown).as_deref(), Some("bad-request"), "{unknown}");

    let first = execute(&mut root, &configure).await;
    let sid = session(&first);
    let form = step(&mut root, &configure, &sid, "next", &[("plugin", &["version"])]).await;
    assert_eq!(values(&form, "os"), ["WASI"], "{form}");
    let done = step(&mut root, &configure, &sid, "complete", &[("show_os", &["1"]), ("os", &["Plan 9"])]).await;
    assert!(completed(&done).contains("reconfigured version"), "{done}");
    assert_eq!(version_os(&mut joe).await.as_deref(), Some("Plan 9"), "joe's session saw the change");

    let reload = run(&mut root, &format!("{OURS}#reload-plugin"), &[("plugin", &["version"])]).await;
    assert!(completed(&reload).contains("version"), "{reload}");
    assert_eq!(version_os(&mut joe).await.as_deref(), Some("Plan 9"), "a reload keeps the runtime settings");

    restart_by_signal(&mut s);
    let mut root = login(&s, "root").await;
    assert_eq!(version_os(&mut root).await.as_deref(), Some("Plan 9"), "kept across the restart");

    // Put both back to the config file's values.
    let first = execute(&mut root, &configure).await;
    let sid = session(&first);
    let form = step(&mut root, &configure, &sid, "next", &[("plugin", &["version"])]).await;
    let mut resettable = options(&form, "reset");
    resettable.sort();
    assert_eq!(resettable, ["os", "show_os"], "the keys set at runtime are offered for a reset: {form}");
    let done = step(&mut root, &configure, &sid, "complete", &[("reset", &["show_os", "os"])]).await;
    completed(&done);
    assert_eq!(version_os(&mut root).await, None, "back to the file's settings");
}

#[tokio::test]
async fn a_bad_setting_changes_nothing() {
    let s = start();
    let _log = s.log_on_panic();
    let mut root = login(&s, "root").await;
    let configure = format!("{OURS}#configure-plugin");
    let first = execute(&mut root, &configure).await;
    let sid = session(&first);
    step(&mut root, &configure, &sid, "next", &[("plugin", &["version"])]).await;
    let bad = step(&mut root, &configure, &sid, "complete", &[("show_os", &["maybe"])]).await;
    assert_eq!(stanza_error_condition(&bad).as_deref(), Some("bad-request"), "{bad}");
    assert_eq!(version_os(&mut root).await, None);
    let mut joe = login(&s, "joe").await;
    let refused = execute(&mut joe, &configure).await;
    assert_eq!(stanza_error_condition(&refused).as_deref(), Some("forbidden"), "{refused}");
    let unknown = execute(&mut root, &format!("{OURS}#no-such-command")).await;
    assert_eq!(stanza_error_condition(&unknown).as_deref(), Some("item-not-found"), "{unknown}");
}

#[tokio::test]
async fn restart_tells_everyone_and_comes_back_in_the_same_process() {
    let mut s = start();
    let pid = s.pid();
    let mut root = login(&s, "root").await;
    let mut joe = login(&s, "joe").await;
    let restart = format!("{ADMIN}#restart");

    let bad = run(&mut root, &restart, &[("delay", &["soon"])]).await;
    assert_eq!(stanza_error_condition(&bad).as_deref(), Some("bad-request"), "{bad}");
    let refused = execute(&mut joe, &restart).await;
    assert_eq!(stanza_error_condition(&refused).as_deref(), Some("forbidden"), "{refused}");

    let since = SystemTime::now();
    let done = run(&mut root, &restart, &[("delay", &["0"]), ("announcement", &["Back in a moment"])]).await;
    assert_eq!(completed(&done), "the server will restart in 0 seconds");
    let told = joe.next_message().await;
    assert_eq!(waxwing_tests::body(&told), "Back in a moment");
    let closed = joe.expect_stream_error("system-shutdown").await;
    assert!(closed.to_string().contains("Back in a moment"), "the announcement is the stream error's text: {closed}");

    s.await_relaunch(since);
    assert_eq!(s.pid(), pid, "the same process, so a service manager sees no exit");
    let mut joe = login(&s, "joe").await;
    assert_eq!(version_os(&mut joe).await, None, "serving again");
}

#[tokio::test]
async fn shutdown_stops_the_server_cleanly() {
    let mut s = start();
    let mut root = login(&s, "root").await;
    let mut joe = login(&s, "joe").await;
    let done = run(&mut root, &format!("{ADMIN}#shutdown"), &[("delay", &["0"])]).await;
    assert_eq!(completed(&done), "the server will shut down in 0 seconds");
    joe.expect_stream_error("system-shutdown").await;
    let status = s.wait_exit(Duration::from_secs(20));
    assert_eq!(status.code(), Some(0), "{}", s.log_tail(40));
}

/// Every command the admin sees: anyone else is `forbidden` before the
/// plugin runs; each command with a form answers a bad value with the
/// error XEP-0050 §4.6 names (bad-request; jid-malformed for what is no
/// JID; not-acceptable for a password the one policy refuses or two that
/// differ); the server serves on after each.
#[tokio::test]
async fn every_command_refuses_others_and_bad_values() {
    let s = start();
    let _log = s.log_on_panic();
    let mut root = login(&s, "root").await;
    let mut joe = login(&s, "joe").await;

    let (nodes, listed) = adhoc::listed_nodes(&mut root).await;
    assert_eq!(nodes.len(), 27, "{listed}");
    for node in &nodes {
        let refused = execute(&mut joe, node).await;
        assert_eq!(stanza_error_condition(&refused).as_deref(), Some("forbidden"), "{node}: {refused}");
    }

    let elsewhere: &[&str] = &["x@elsewhere.example"];
    let cases: &[(&str, Fields, &str)] = &[
        (
            "add-user",
            &[("accountjid", elsewhere), ("password", &["pw-1234"]), ("password-verify", &["pw-1234"])],
            "bad-request",
        ),
        (
            "add-user",
            &[("accountjid", &["kim@localhost"]), ("password", &["short"]), ("password-verify", &["short"])],
            "not-acceptable",
        ),
        (
            "add-user",
            &[("accountjid", &["kim@localhost"]), ("password", &["pw-1234"]), ("password-verify", &["pw-4321"])],
            "not-acceptable",
        ),
        ("delete-user", &[("accountjids", &["no@@jid"])], "jid-malformed"),
        ("disable-user", &[("accountjids", elsewhere)], "bad-request"),
        ("reenable-user", &[("accountjids", elsewhere)], "bad-request"),
        ("change-user-password", &[("accountjid", &["joe@localhost"]), ("password", &["x"])], "not-acceptable"),
        ("change-user-password", &[("accountjid", elsewhere), ("password", &["pw-1234"])], "bad-request"),
        ("end-user-session", &[("accountjids", elsewhere)], "bad-request"),
        ("get-user-roster", &[("accountjid", elsewhere)], "bad-request"),
        ("get-user-lastlogin", &[("accountjid", &[""])], "bad-request"),
        ("announce", &[("announcement", &[" "])], "bad-request"),
        ("set-motd", &[("motd", &[""])], "bad-request"),
        ("edit-motd", &[("motd", &[""])], "bad-request"),
        ("edit-admin", &[("adminjids", &["localhost"])], "bad-request"),
        ("restart", &[("delay", &["-1"])], "bad-request"),
        ("shutdown", &[("delay", &["90000"])], "bad-request"),
    ];
    for (name, fields, condition) in cases {
        let answer = run(&mut root, &format!("{ADMIN}#{name}"), fields).await;
        assert_eq!(stanza_error_condition(&answer).as_deref(), Some(*condition), "{name} {fields:?}: {answer}");
    }
    let reload = run(&mut root, &format!("{OURS}#reload-plugin"), &[("plugin", &["nope"])]).await;
    assert_eq!(stanza_error_condition(&reload).as_deref(), Some("bad-request"), "{reload}");

    // Nothing was done, and everyone is still served.
    assert_eq!(version_os(&mut joe).await, None);
    let count = run(&mut root, &format!("{ADMIN}#get-registered-users-num"), &[]).await;
    assert_eq!(values(&count, "registeredusersnum"), ["2"]);
    RawClient::login_with(&s, "joe@localhost", PW, Mech::ScramSha256, Some("still")).await;
}
