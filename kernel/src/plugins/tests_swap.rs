//! Hot swap, config reload, and long-run resource use.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::testkit::*;
use super::{Address, Handling, PluginState};
use crate::config::PluginLimits;

const ECHO: &str = "<e xmlns='urn:waxwing:test:echo'/>";

/// An echo plugin whose source is a private copy of `file`, so a test can
/// replace it on disk and reload.
fn echo_copy(h_dir: &std::path::Path, file: &str) -> (crate::config::PluginConfig, PathBuf) {
    let path = h_dir.join("echo.wasm");
    std::fs::copy(wasm(file), &path).unwrap();
    let mut cfg = plugin("echo", file, &[]);
    cfg.source = path.to_string_lossy().into_owned();
    (cfg, path)
}

fn echo_version(h: &Harness) -> String {
    let (handling, routed) = h.iq("localhost", "get", ECHO);
    assert_eq!(handling, Handling::Done);
    reply_payload(&routed).attr("version").unwrap_or_default().to_string()
}

#[test]
fn hot_swap_under_load_answers_every_call_once() {
    let dir = crate::testutil::tempdir("swap");
    let (cfg, path) = echo_copy(&dir, "echo_v1");
    let h = Arc::new(Harness::start(&config(vec![("localhost", vec![cfg])], limits())));
    assert_eq!(echo_version(&h), "1.0.0");

    let stop = Arc::new(AtomicBool::new(false));
    let callers: Vec<_> = (0..2)
        .map(|t| {
            let (vp, stop) = (h.vhost("localhost"), stop.clone());
            std::thread::spawn(move || {
                let mut answers = Vec::new();
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) || n < 50 {
                    let id = format!("{t}-{n}");
                    let handling = vp.handle_stanza(&iq("localhost", "get", ECHO, &id), Address::Host);
                    answers.push((id, handling));
                    n += 1;
                }
                answers
            })
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(100));
    std::fs::copy(wasm("echo_v2"), &path).unwrap();
    let summary = h.host.reload("echo", None).unwrap();
    assert_eq!(summary, "echo 1.0.0 -> 2.0.0 on localhost");
    std::thread::sleep(std::time::Duration::from_millis(100));
    stop.store(true, Ordering::Relaxed);

    let mut ids = HashSet::new();
    for c in callers {
        for (id, handling) in c.join().unwrap() {
            assert_eq!(handling, Handling::Done, "call {id}");
            assert!(ids.insert(id));
        }
    }
    let routed = h.kernel.take();
    assert_eq!(routed.len(), ids.len(), "every call answered exactly once");
    let mut answered = HashSet::new();
    let mut last_version: [String; 2] = Default::default();
    for r in &routed {
        let id = r.attr("id").unwrap().to_string();
        assert!(answered.insert(id.clone()), "answered twice: {id}");
        let version = r.first_element().and_then(|e| e.attr("version")).unwrap().to_string();
        let caller = usize::from(id.starts_with('1'));
        assert!(
            !(last_version[caller] == "2.0.0" && version == "1.0.0"),
            "caller {caller} went back to v1 after v2 served it"
        );
        last_version[caller] = version;
    }
    assert_eq!(answered, ids);
    assert_eq!(last_version, ["2.0.0".to_string(), "2.0.0".to_string()]);
    let s = h.host.list().into_iter().next().unwrap();
    assert_eq!((s.version.as_str(), s.failures, s.state), ("2.0.0", 0, PluginState::Serving));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn failed_reloads_leave_v1_serving() {
    let dir = crate::testutil::tempdir("swapfail");
    let (cfg, path) = echo_copy(&dir, "echo_v1");
    let h = Harness::start(&config(vec![("localhost", vec![cfg.clone()])], limits()));

    std::fs::remove_file(&path).unwrap();
    let err = format!("{:#}", h.host.reload("echo", Some("localhost")).unwrap_err());
    assert!(err.contains("version 1.0.0 keeps serving") && err.contains("echo.wasm"), "{err}");
    assert_eq!(echo_version(&h), "1.0.0");

    std::fs::copy(wasm("abi_v3"), &path).unwrap();
    let err = format!("{:#}", h.host.reload("echo", None).unwrap_err());
    assert!(err.contains("was built for waxwing:plugin 3.0.0, but this kernel loads 1.x and 2.x"), "{err}");
    assert_eq!(echo_version(&h), "1.0.0");

    std::fs::write(&path, b"not wasm at all").unwrap();
    assert!(h.host.reload("echo", None).is_err());
    assert_eq!(echo_version(&h), "1.0.0");

    std::fs::copy(wasm("ping"), &path).unwrap();
    let err = format!("{:#}", h.host.reload("echo", None).unwrap_err());
    assert!(err.contains("describes itself as \"ping\""), "{err}");
    assert_eq!(echo_version(&h), "1.0.0");

    assert!(h.host.reload("nosuch", None).is_err());
    assert!(h.host.reload("echo", Some("other.test")).is_err());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_refused_migration_keeps_the_old_version() {
    let dir = crate::testutil::tempdir("migrate");
    let (mut cfg, path) = echo_copy(&dir, "echo_v1");
    cfg.config.insert("refuse_migrate".into(), toml::Value::Boolean(true));
    let h = Harness::start(&config(vec![("localhost", vec![cfg])], limits()));
    std::fs::copy(wasm("echo_v2"), &path).unwrap();
    let err = format!("{:#}", h.host.reload("echo", None).unwrap_err());
    assert!(err.contains("refused to migrate from version 1.0.0"), "{err}");
    assert_eq!(echo_version(&h), "1.0.0");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn apply_config_adds_removes_reconfigures_and_swaps() {
    let dir = crate::testutil::tempdir("apply");
    let (echo, path) = echo_copy(&dir, "echo_v1");
    let ping = plugin("ping", "ping", &[]);
    let h = Harness::start(&config(vec![("localhost", vec![echo.clone(), ping.clone()])], limits()));
    let mem_before = h.vhost("localhost").plugin("echo").unwrap().shared.clone();

    let same = config(vec![("localhost", vec![echo.clone(), ping.clone()])], limits());
    assert_eq!(h.host.apply_config(&same).unwrap(), "no plugin changes");

    // A failing change (init refuses) changes nothing, not even the other plugins.
    let mut bad = echo.clone();
    bad.config.insert("fail_init".into(), toml::Value::Boolean(true));
    let broken = config(vec![("localhost", vec![bad, plugin("trap", "trap", &[])])], limits());
    assert!(h.host.apply_config(&broken).is_err());
    assert_eq!(h.host.list().iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["echo", "ping"]);

    std::fs::copy(wasm("echo_v2"), &path).unwrap();
    let mut reconfigured_ping = ping.clone();
    reconfigured_ping.grants = Some(vec!["kv".into()]);
    let next = config(
        vec![
            ("localhost", vec![echo.clone(), reconfigured_ping, plugin("trap", "trap", &[])]),
            ("new.test", vec![ping.clone()]),
        ],
        limits(),
    );
    let summary = h.host.apply_config(&next).unwrap();
    assert_eq!(
        summary,
        "added vhost new.test with 1 plugins\nlocalhost: added trap 0.1.0\nlocalhost: echo 1.0.0 -> 2.0.0\n\
         localhost: reconfigured ping"
    );
    assert_eq!(echo_version(&h), "2.0.0");
    assert!(Arc::ptr_eq(&mem_before, &h.vhost("localhost").plugin("echo").unwrap().shared), "mem survives");
    assert_eq!(h.iq("new.test", "get", "<ping xmlns='urn:xmpp:ping'/>").0, Handling::Done);

    let fewer = config(vec![("localhost", vec![ping.clone()])], limits());
    let summary = h.host.apply_config(&fewer).unwrap();
    assert_eq!(
        summary,
        "localhost: reconfigured ping\nlocalhost: removed echo\nlocalhost: removed trap\nremoved vhost new.test"
    );
    assert!(h.host.vhost("new.test").is_none());
    assert_eq!(h.iq("localhost", "get", ECHO).0, Handling::NotHandled);
    let _ = std::fs::remove_dir_all(dir);
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    pages * 4096
}

fn rss_growth_over(calls: u64) -> u64 {
    let l = PluginLimits { recycle_after_calls: 1000, ..limits() };
    let h = Harness::start(&config(vec![("localhost", vec![plugin("ping", "ping", &[])])], l));
    let vp = h.vhost("localhost");
    let stanza = iq("localhost", "get", "<ping xmlns='urn:xmpp:ping'/>", "r");
    let run = |n: u64| {
        for _ in 0..n {
            assert_eq!(vp.handle_stanza(&stanza, Address::Host), Handling::Done);
            h.kernel.take();
        }
    };
    // Warm up: allocator arenas, pooled slots and caches settle first.
    run(calls / 10);
    let before = rss_bytes();
    run(calls);
    rss_bytes().saturating_sub(before)
}

#[test]
fn many_calls_do_not_grow_memory() {
    let growth = rss_growth_over(20_000);
    assert!(growth < 48 << 20, "RSS grew by {} KiB over 20k calls", growth >> 10);
}

#[test]
#[ignore = "slow: a million calls; run with --ignored"]
fn a_million_calls_do_not_grow_memory() {
    let growth = rss_growth_over(1_000_000);
    eprintln!("RSS growth over 1M calls: {} KiB", growth >> 10);
    assert!(growth < 48 << 20, "RSS grew by {} KiB", growth >> 10);
}
