//! Hot swap under load (DESIGN "Hot swap"): a client keeps requests in
//! flight to a plugin while the operator replaces it; every request gets
//! exactly one answer, and the answers switch from the old version to the
//! new one and never back.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use waxwing_tests::{RawClient, Server, TIMEOUT};

const NS: &str = "urn:waxwing:test:echo";
/// Requests kept in flight at once.
const WINDOW: usize = 8;

fn config_with_echo(echo: &std::path::Path) -> String {
    format!(
        "[[vhost]]\ndomain = \"localhost\"\n\n\
         [[vhost.plugin]]\nname = \"disco\"\n\n\
         [[vhost.plugin]]\nname = \"echo\"\nsource = {:?}\n",
        echo.display().to_string()
    )
}

/// A server loading `echo` 1.0.0 from a file the test may replace, and a
/// client logged in as `user` (password "pw-1234"). Keep the directory alive.
async fn echo_v1_server(user: &str) -> (TempDir, PathBuf, Server, RawClient) {
    let dir = tempdir();
    let live = dir.join("echo.wasm");
    std::fs::copy(waxwing_tests::server::built_plugin("echo_v1"), &live).expect("copying echo_v1");
    let server = Server::start_with_users(&config_with_echo(&live), &[(user, "pw-1234")]);
    let client = RawClient::login(&server, user, "pw-1234").await;
    (dir, live, server, client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swap_under_load_answers_every_request_once_and_switches_version() {
    let (_dir, live, server, mut client) = echo_v1_server("alice@localhost").await;
    let _log = server.log_on_panic();

    // The operator swaps the file and reloads while requests keep flowing.
    let v2 = waxwing_tests::server::built_plugin("echo_v2");
    let config = server.config_path().to_path_buf();
    let swapper = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        std::fs::copy(v2, &live).expect("installing echo_v2");
        let out = tokio::task::spawn_blocking(move || {
            waxwing_tests::waxwing(&["--config", config.to_str().unwrap_or_default(), "plugin", "reload", "echo"])
        })
        .await
        .expect("the reload command ran");
        assert!(out.status.success(), "reload failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    });

    let mut versions: Vec<String> = Vec::new();
    let mut answered = HashSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut sent = 0usize;
    // Until a good stretch of answers has come from the new version; bounded in count and time.
    let swapped_long_enough = |v: &[String]| v.iter().position(|x| x == "2.0.0").is_some_and(|i| v.len() - i >= 200);
    while !swapped_long_enough(&versions) && tokio::time::Instant::now() < deadline && sent < 20_000 {
        let ids: Vec<String> = (0..WINDOW).map(|i| format!("echo-{}", sent + i)).collect();
        let burst: String =
            ids.iter().map(|id| format!("<iq type='get' id='{id}' to='localhost'><echo xmlns='{NS}'/></iq>")).collect();
        client.send(&burst).await;
        sent += WINDOW;
        for _ in 0..WINDOW {
            let reply = client.next_where("an echo answer", |e| e.name == "iq").await;
            let id = reply.attr("id").unwrap_or_default().to_string();
            assert_eq!(reply.attr("type"), Some("result"), "request {id} failed: {reply}");
            assert!(ids.contains(&id), "answer {id} to a request not in this window");
            assert!(answered.insert(id.clone()), "request {id} was answered twice");
            let version = reply.child("echo", NS).and_then(|e| e.attr("version")).unwrap_or("?").to_string();
            versions.push(version);
        }
    }
    let summary = tokio::time::timeout(TIMEOUT, swapper).await.expect("reload finished").expect("reload task");
    assert!(summary.contains("echo"), "reload summary: {summary}");
    assert_eq!(answered.len(), sent, "every request answered exactly once");
    let first_v2 = versions.iter().position(|v| v == "2.0.0").expect("answers switched to 2.0.0");
    assert!(first_v2 > 0, "some answers came from 1.0.0 before the swap");
    assert!(versions[..first_v2].iter().all(|v| v == "1.0.0"), "before the swap: only 1.0.0");
    assert!(versions[first_v2..].iter().all(|v| v == "2.0.0"), "after the swap: never back to 1.0.0");

    // Nothing extra is queued: the next answer is to the next question.
    let ping = client.iq("get", Some("localhost"), "<ping xmlns='urn:xmpp:ping'/>").await;
    assert_eq!(ping.attr("type"), Some("result"));
    client.close().await;
}

#[tokio::test]
async fn a_failed_reload_leaves_the_old_version_serving() {
    let (_dir, live, server, mut client) = echo_v1_server("bob@localhost").await;
    let _log = server.log_on_panic();

    // A component built for another ABI major version replaces the file.
    std::fs::copy(waxwing_tests::server::built_plugin("abi_v3"), &live).expect("installing abi_v3");
    let out = server.cli(&["plugin", "reload", "echo"]);
    assert!(!out.status.success(), "the reload should fail");
    let err = String::from_utf8_lossy(&out.stderr);
    // The kernel provides the version of the WIT package it was built from.
    let wit = include_str!("../../plugin-abi/wit/plugin.wit");
    let provided =
        wit.split("package waxwing:plugin@").nth(1).and_then(|r| r.split(';').next()).expect("the WIT package");
    assert!(
        err.contains(&format!(
            "built for waxwing:plugin 3.0.0, but this kernel loads 1.x and 2.x (it provides {provided})"
        )),
        "the error names the plugin's ABI version and the kernel's: {err}"
    );

    // Garbage too.
    std::fs::write(&live, b"not a wasm component").expect("writing garbage");
    let out = server.cli(&["plugin", "reload", "echo"]);
    assert!(!out.status.success(), "the reload of garbage should fail");

    let reply = client.iq("get", Some("localhost"), &format!("<echo xmlns='{NS}'/>")).await;
    assert_eq!(reply.attr("type"), Some("result"));
    assert_eq!(reply.child("echo", NS).and_then(|e| e.attr("version")), Some("1.0.0"));
    client.close().await;
}

/// A scratch directory removed when the test ends, passing or not.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl std::ops::Deref for TempDir {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

fn tempdir() -> TempDir {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let d = std::env::temp_dir().join(format!(
        "waxwing-hotswap-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("creating a temp dir");
    TempDir(d)
}
