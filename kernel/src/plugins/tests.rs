//! Loading, calling and sandboxing the real test plugins.

use std::time::{Duration, Instant};

use waxwing_xml::{StanzaErrorCondition, ns};

use super::testkit::*;
use super::{Address, EventKind, Handling, PluginState, SessionInfo};
use crate::config::PluginLimits;
use crate::xml::StanzaKind;

const PING: &str = "<ping xmlns='urn:xmpp:ping'/>";

fn is_internal_error(h: &Handling) -> bool {
    matches!(h, Handling::Error(e) if e.condition == StanzaErrorCondition::InternalServerError)
}

fn status(h: &Harness, name: &str) -> super::PluginStatus {
    h.host.list().into_iter().find(|s| s.name == name).expect("plugin is listed")
}

#[test]
fn ping_is_answered_and_prefiltered() {
    let h = Harness::start(&config(vec![("localhost", vec![plugin("ping", "ping", &[])])], limits()));
    let vp = h.vhost("localhost");
    assert!(vp.wants(StanzaKind::Iq, "get", Address::Host, ns::PING, "ping"));
    assert!(!vp.wants(StanzaKind::Iq, "set", Address::Host, ns::PING, "ping"));
    assert!(!vp.wants(StanzaKind::Iq, "get", Address::Full, ns::PING, "ping"));
    assert!(!vp.wants(StanzaKind::Message, "chat", Address::Full, "", ""));

    let (handling, routed) = h.iq_with_id("localhost", "get", PING, "p1");
    assert_eq!(handling, Handling::Done);
    assert_eq!(routed.len(), 1);
    let reply = &routed[0];
    assert_eq!(reply.name, "iq");
    assert_eq!(reply.ns, ns::CLIENT);
    assert_eq!(reply.attr("type"), Some("result"));
    assert_eq!(reply.attr("id"), Some("p1"));
    assert_eq!(reply.attr("to"), Some("u@localhost/r"));
    assert_eq!(reply.attr("from"), Some("localhost"));

    let s = status(&h, "ping");
    assert_eq!((s.state, s.calls, s.failures), (PluginState::Serving, 1, 0));
    assert!(s.source.ends_with("ping.wasm"));
}

#[test]
fn stanzas_no_route_matches_are_not_handled() {
    let h = Harness::start(&config(vec![("localhost", vec![plugin("ping", "ping", &[])])], limits()));
    let (handling, routed) = h.iq("localhost", "get", "<query xmlns='jabber:iq:version'/>");
    assert_eq!(handling, Handling::NotHandled);
    assert!(routed.is_empty());
    assert_eq!(status(&h, "ping").calls, 0);
}

#[test]
fn spin_times_out_and_the_next_call_works() {
    let mut l = limits();
    l.call_timeout_ms = 100;
    let h =
        Harness::start(&config(vec![("localhost", vec![plugin("spin", "spin", &[]), plugin("ping", "ping", &[])])], l));
    let started = Instant::now();
    let (handling, routed) = h.iq("localhost", "get", "<spin xmlns='urn:waxwing:test:spin'/>");
    let took = started.elapsed();
    assert!(is_internal_error(&handling), "{handling:?}");
    assert!(routed.is_empty());
    assert!(took >= Duration::from_millis(95), "stopped before the deadline: {took:?}");
    assert!(took < Duration::from_millis(1500), "deadline not enforced promptly: {took:?}");
    let s = status(&h, "spin");
    assert_eq!(s.failures, 1);
    assert!(s.last_error.as_deref().unwrap_or("").contains("timed out after 100 ms"), "{s:?}");

    assert_eq!(h.iq("localhost", "get", PING).0, Handling::Done);
    // The spinning plugin itself gets a fresh instance and fails the same way.
    assert!(is_internal_error(&h.iq("localhost", "get", "<spin xmlns='urn:waxwing:test:spin'/>").0));
}

#[test]
fn membomb_hits_the_memory_cap_and_the_host_is_fine() {
    let mut l = limits();
    l.memory_mib = 16;
    l.call_timeout_ms = 2000;
    let h = Harness::start(&config(
        vec![("localhost", vec![plugin("membomb", "membomb", &[]), plugin("ping", "ping", &[])])],
        l,
    ));
    let (handling, _) = h.iq("localhost", "get", "<boom xmlns='urn:waxwing:test:membomb'/>");
    assert!(is_internal_error(&handling), "{handling:?}");
    let err = status(&h, "membomb").last_error.unwrap_or_default();
    assert!(!err.contains("timed out"), "the memory cap, not the deadline, should stop it: {err}");
    assert_eq!(h.iq("localhost", "get", PING).0, Handling::Done);
}

#[test]
fn a_trapped_instance_is_discarded() {
    let h = Harness::start(&config(vec![("localhost", vec![plugin("trap", "trap", &[])])], limits()));
    let entry = h.vhost("localhost").plugin("trap").unwrap();
    assert_eq!(entry.version().idle_instances(), 0, "no instance is kept from loading: the call makes one");
    let (handling, _) = h.iq("localhost", "get", "<t xmlns='urn:waxwing:test:trap'/>");
    assert!(is_internal_error(&handling), "{handling:?}");
    assert_eq!(entry.version().idle_instances(), 0, "the trapped instance was not given back");
    assert!(status(&h, "trap").last_error.unwrap_or_default().contains("trapped"));
}

/// The router calls plugins from tokio workers, where wasmtime-wasi's own
/// blocking stdio would panic; a panicking plugin writes to stderr first.
#[test]
fn a_panicking_plugin_is_harmless_on_a_tokio_worker() {
    let h = Harness::start(&config(
        vec![("localhost", vec![plugin("trap", "trap", &[]), plugin("ping", "ping", &[])])],
        limits(),
    ));
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).build().unwrap();
    let vp = h.vhost("localhost");
    let results = rt.block_on(async move {
        tokio::spawn(async move {
            let trap = iq("localhost", "get", "<t xmlns='urn:waxwing:test:trap'/>", "t");
            let ping = iq("localhost", "get", PING, "p");
            (vp.handle_stanza(&trap, Address::Host), vp.handle_stanza(&ping, Address::Host))
        })
        .await
    });
    let (trap, ping) = results.expect("the worker task survived");
    assert!(is_internal_error(&trap), "{trap:?}");
    assert_eq!(ping, Handling::Done);
    let err = status(&h, "trap").last_error.unwrap_or_default();
    assert!(!err.contains("panicked"), "a host function panicked: {err}");
}

#[test]
fn repeated_failures_disable_and_a_reload_restores() {
    let mut l = limits();
    l.max_consecutive_failures = 3;
    let h = Harness::start(&config(vec![("localhost", vec![plugin("trap", "trap", &[])])], l));
    let vp = h.vhost("localhost");
    let ns = "urn:waxwing:test:trap";
    for _ in 0..3 {
        assert!(is_internal_error(&h.iq("localhost", "get", "<t xmlns='urn:waxwing:test:trap'/>").0));
    }
    let s = status(&h, "trap");
    assert_eq!(s.state, PluginState::Disabled);
    assert!(s.reason.as_deref().unwrap_or("").contains("3 consecutive failures"), "{s:?}");
    assert!(!vp.wants(StanzaKind::Iq, "get", Address::Host, ns, "t"));
    assert_eq!(h.iq("localhost", "get", "<t xmlns='urn:waxwing:test:trap'/>").0, Handling::NotHandled);
    assert_eq!(status(&h, "trap").calls, 3, "a disabled plugin is not called");

    let summary = h.host.reload("trap", Some("localhost")).unwrap();
    assert_eq!(summary, "trap 0.1.0 -> 0.1.0 on localhost");
    assert_eq!(status(&h, "trap").state, PluginState::Serving);
    assert!(vp.wants(StanzaKind::Iq, "get", Address::Host, ns, "t"));
}

fn nogrant(h: &Harness, cap: &str) -> waxwing_xml::Element {
    let (handling, routed) = h.iq("localhost", "get", &format!("<n xmlns='urn:waxwing:test:nogrant' cap='{cap}'/>"));
    assert_eq!(handling, Handling::Done, "{cap}");
    routed.last().and_then(|r| r.first_element().cloned()).unwrap_or_else(|| panic!("{cap}: no reply"))
}

#[test]
fn ungranted_capabilities_are_refused() {
    let h = Harness::start(&config(vec![("localhost", vec![plugin("nogrant", "nogrant", &[])])], limits()));
    for cap in ["kv", "mem", "route", "sessions", "accounts", "timers"] {
        let r = nogrant(&h, cap);
        assert_eq!(r.attr("result"), Some("error"), "{cap}: {r}");
        assert_eq!(r.attr("error"), Some("not-granted"), "{cap}: {r}");
    }
    assert!(h.storage.scan(b"plug/", b"", 10).unwrap().is_empty(), "a refused kv put wrote something");
}

#[test]
fn granted_capabilities_work() {
    let all = ["kv", "mem", "route", "sessions", "accounts"];
    let h = Harness::start(&config(vec![("localhost", vec![plugin("nogrant", "nogrant", &all)])], limits()));
    h.kernel.sessions.lock().unwrap().insert(
        "u@localhost".into(),
        vec![SessionInfo { jid: "u@localhost/r".into(), priority: 1, available: true, presence: String::new() }],
    );
    for cap in all {
        let r = nogrant(&h, cap);
        assert_eq!(r.attr("result"), Some("ok"), "{cap}: {r}");
    }
    assert_eq!(h.storage.get(b"plug/localhost/nogrant/nogrant").unwrap().as_deref(), Some(&b"x"[..]));

    let (_, routed) = h.iq("localhost", "get", "<n xmlns='urn:waxwing:test:nogrant' cap='route'/>");
    assert_eq!(routed.len(), 2, "the queued message, then the reply: {routed:?}");
    assert_eq!(routed[0].name, "message");
    assert_eq!(routed[0].attr("from"), Some("localhost"));
    assert_eq!(routed[1].name, "iq");
}

#[test]
fn timers_need_the_async_runtime() {
    let h = Harness::start(&config(vec![("localhost", vec![plugin("nogrant", "nogrant", &["timers"])])], limits()));
    let r = nogrant(&h, "timers");
    assert_eq!(r.attr("error"), Some("internal"), "{r}");
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    let r = rt.block_on(async { nogrant(&h, "timers") });
    assert_eq!(r.attr("result"), Some("ok"), "{r}");
    let entry = h.vhost("localhost").plugin("nogrant").unwrap();
    assert_eq!(entry.shared.timers.pending(), 0, "the plugin cancelled its timer");
}

fn snoop_report(h: &Harness, domain: &str) -> waxwing_xml::Element {
    let (handling, routed) = h.iq(domain, "get", "<s xmlns='urn:waxwing:test:snoop'><probe key='secret'/></s>");
    assert_eq!(handling, Handling::Done);
    reply_payload(&routed)
}

#[test]
fn snoop_sees_only_its_own_keys() {
    let h = Harness::start(&config(
        vec![
            ("a.test", vec![plugin("snoop", "snoop", &["kv"]), plugin("ping", "ping", &[])]),
            ("b.test", vec![plugin("snoop", "snoop", &["kv"])]),
        ],
        limits(),
    ));
    // Other plugins' and other hosts' data, planted where naive key joining would reach.
    for k in ["plug/a.test/disco/x", "plug/a.test/ping/secret", "plug/a.test/x", "plug/a.test/snoo", "acct/a.test/u"] {
        h.storage.put(k.as_bytes(), b"LEAKED").unwrap();
    }
    h.storage.put(b"plug/b.test/snoop/secret", b"LEAKED from b.test").unwrap();
    let (handling, _) = h.iq("a.test", "set", "<kvput xmlns='urn:waxwing:test:kvput' key='mine'>own value</kvput>");
    assert_eq!(handling, Handling::Done);

    let report = snoop_report(&h, "a.test");
    let text = report.to_xml();
    assert!(!text.contains("LEAKED"), "{text}");
    for get in report.elements().filter(|e| e.name == "get") {
        assert_ne!(get.attr("found"), Some("true"), "{get}");
    }
    let long = report.elements().find(|e| e.attr("key").is_some_and(|k| k.contains("65536 bytes"))).unwrap();
    assert_eq!(long.attr("error"), Some("invalid"), "{long}");
    let scan = report.elements().find(|e| e.name == "scan").unwrap();
    assert_eq!(scan.attr("count"), Some("1"), "{scan}");
    assert_eq!(scan.first_element().and_then(|e| e.attr("key")), Some("mine"));

    // b.test's snoop sees its own key, and nothing of a.test's.
    let other = snoop_report(&h, "b.test");
    assert!(!other.to_xml().contains("own value"));
    let secret = other.elements().find(|e| e.attr("key") == Some("secret")).unwrap();
    assert_eq!(secret.text(), "LEAKED from b.test", "{other}");
    assert_eq!(other.elements().find(|e| e.name == "scan").and_then(|s| s.attr("count")), Some("1"));
}

#[test]
fn abi_v3_is_refused_with_both_versions() {
    let err = Harness::try_start(&config(vec![("localhost", vec![plugin("abi_v3", "abi_v3", &[])])], limits()))
        .err()
        .expect("abi_v3 loaded");
    let text = format!("{err:#}");
    assert!(text.contains("vhost localhost, plugin abi_v3"), "{text}");
    assert!(
        text.contains(
            "plugin abi_v3 was built for waxwing:plugin 3.0.0, but this kernel loads 1.x and 2.x (it provides 2.4.0)"
        ),
        "{text}"
    );
    assert!(text.contains("rebuild the plugin against plugin-abi/wit/plugin.wit"), "{text}");
}

#[test]
fn a_wrong_name_or_missing_file_refuses_to_start() {
    let mut wrong = plugin("notping", "ping", &[]);
    wrong.name = "notping".into();
    let err = Harness::try_start(&config(vec![("localhost", vec![wrong])], limits())).err().unwrap();
    assert!(format!("{err:#}").contains("describes itself as \"ping\""), "{err:#}");

    let mut missing = plugin("ping", "ping", &[]);
    missing.source = "/nonexistent/ping.wasm".into();
    let err = Harness::try_start(&config(vec![("localhost", vec![missing])], limits())).err().unwrap();
    assert!(format!("{err:#}").contains("/nonexistent/ping.wasm"), "{err:#}");
}

#[test]
fn init_errors_refuse_the_load() {
    let mut echo = plugin("echo", "echo_v1", &[]);
    echo.config.insert("fail_init".into(), toml::Value::Boolean(true));
    let err = Harness::try_start(&config(vec![("localhost", vec![echo])], limits())).err().unwrap();
    let text = format!("{err:#}");
    assert!(text.contains("refused its config: echo 1.0.0 refused to load (fail_init)"), "{text}");
}

#[test]
fn disco_aggregates_what_the_plugins_declare() {
    let h = Harness::start(&config(
        vec![("localhost", vec![plugin("disco", "disco", &["disco"]), plugin("ping", "ping", &[])])],
        limits(),
    ));
    let (handling, routed) = h.iq("localhost", "get", "<query xmlns='http://jabber.org/protocol/disco#info'/>");
    assert_eq!(handling, Handling::Done);
    let query = reply_payload(&routed);
    let features: Vec<&str> = query.elements().filter(|e| e.name == "feature").filter_map(|e| e.attr("var")).collect();
    assert!(features.contains(&ns::PING), "{query}");
    assert!(features.contains(&ns::DISCO_INFO), "{query}");
}

#[test]
fn events_reach_subscribers_only() {
    let h = Harness::start(&config(vec![("localhost", vec![plugin("ping", "ping", &[])])], limits()));
    let vp = h.vhost("localhost");
    assert!(!vp.subscribes(EventKind::SessionStarted));
    vp.emit(EventKind::SessionStarted, "u@localhost/r", "");
    assert_eq!(status(&h, "ping").calls, 0);
    assert!(!vp.has_filters());
    assert!(vp.service_domains().is_empty());
}

#[test]
fn recycling_and_a_small_pool_keep_serving() {
    let l = PluginLimits { pool_size: 1, recycle_after_calls: 3, ..limits() };
    let h = Harness::start(&config(vec![("localhost", vec![plugin("ping", "ping", &[])])], l));
    for i in 0..20 {
        let (handling, routed) = h.iq_with_id("localhost", "get", PING, &i.to_string());
        assert_eq!(handling, Handling::Done);
        assert_eq!(routed[0].attr("id"), Some(i.to_string().as_str()));
    }
    let entry = h.vhost("localhost").plugin("ping").unwrap();
    assert!(entry.version().idle_instances() <= 1);
    assert_eq!(status(&h, "ping").calls, 20);
}

/// The host side of key confinement, without a plugin in between: whatever
/// bytes a key holds, what reaches RocksDB is under the plugin's prefix.
#[test]
fn no_key_leaves_the_plugin_prefix() {
    use super::bindings::types::HostError;
    use super::bindings::waxwing::plugin::kv::{Host as _, Op};
    use super::store::{Grants, StoreData};

    let dir = crate::testutil::tempdir("kvprefix");
    let storage = crate::storage::Storage::open(&dir).unwrap();
    storage.put(b"plug/h/other/k", b"theirs").unwrap();
    let shared = plugin_p_on_h(&storage, 1 << 20);
    let mut d = StoreData::new(shared, Grants::from_names(&["kv".into()]), Default::default(), 1 << 20);
    let evil: Vec<Vec<u8>> = vec![
        b"../other/k".to_vec(),
        b"/../../other/k".to_vec(),
        b"\0other/k".to_vec(),
        vec![0xff; 8],
        vec![0x00],
        Vec::new(),
        vec![b'x'; 1024],
    ];
    for k in &evil {
        assert_eq!(d.get(k.clone()).unwrap(), None, "{k:?}");
        d.put(k.clone(), b"mine".to_vec()).unwrap();
    }
    d.batch(vec![Op::Put((b"../../x".to_vec(), b"b".to_vec())), Op::Delete(b"../other/k".to_vec())]).unwrap();
    assert!(matches!(d.put(vec![b'x'; 1025], vec![]), Err(HostError::Invalid(_))));
    assert!(matches!(d.put(b"k".to_vec(), vec![0; (1 << 20) + 1]), Err(HostError::Invalid(_))));
    assert!(matches!(d.scan(vec![], vec![], 1001), Err(HostError::Invalid(_))));
    // A cursor past or before the prefix, and 0xff prefixes, stay inside.
    for (prefix, after) in [(vec![], vec![0xff; 4]), (vec![0xff], vec![]), (b"zz".to_vec(), b"a".to_vec())] {
        for (k, _) in d.scan(prefix, after, 1000).unwrap() {
            assert_ne!(k, b"k".to_vec());
        }
    }
    let seen: Vec<Vec<u8>> = d.scan(vec![], vec![], 1000).unwrap().into_iter().map(|(k, _)| k).collect();
    // The batch deleted the plugin's own "../other/k" and added "../../x".
    assert_eq!(seen.len(), evil.len(), "{seen:?}");
    assert_eq!(storage.get(b"plug/h/p/k").unwrap(), None, "nothing is committed before the call ends");
    std::mem::take(&mut d.pending).commit(&storage).unwrap();

    for (k, _) in storage.scan(b"", b"", 10_000).unwrap() {
        let ok = k.starts_with(b"plug/h/p/") || k == b"plug/h/other/k" || !k.starts_with(b"plug/");
        assert!(ok, "a key escaped the prefix: {:?}", String::from_utf8_lossy(&k));
    }
    assert_eq!(storage.get(b"plug/h/other/k").unwrap().as_deref(), Some(&b"theirs"[..]));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn mem_is_capped_and_counts() {
    use super::bindings::types::HostError;
    use super::bindings::waxwing::plugin::mem::Host as _;
    use super::store::{Grants, StoreData};

    let dir = crate::testutil::tempdir("mem");
    let storage = crate::storage::Storage::open(&dir).unwrap();
    let shared = plugin_p_on_h(&storage, 100);
    let mut d = StoreData::new(shared.clone(), Grants::from_names(&["mem".into()]), Default::default(), 1 << 20);
    assert_eq!(d.incr("n".into(), 5).unwrap(), 5);
    assert_eq!(d.incr("n".into(), -7).unwrap(), -2);
    d.put("a".into(), vec![0; 80]).unwrap();
    assert!(matches!(d.put("b".into(), vec![0; 20]), Err(HostError::Quota(_))));
    d.put("a".into(), vec![0; 10]).unwrap();
    d.put("b".into(), vec![0; 20]).unwrap();
    assert!(matches!(d.incr("a".into(), 1), Err(HostError::Invalid(_))));
    d.put("max".into(), i64::MAX.to_le_bytes().to_vec()).unwrap();
    assert!(matches!(d.incr("max".into(), 1), Err(HostError::Invalid(_))));
    d.delete("a".into()).unwrap();
    assert_eq!(d.get("a".into()).unwrap(), None);
    assert_eq!(shared.mem.lock().bytes, 1 + 8 + 1 + 20 + 3 + 8);
    assert!(!d.put_if_absent("b".into(), vec![1]).unwrap(), "b is there");
    assert!(d.put_if_absent("c".into(), vec![1]).unwrap());
    assert!(!d.compare_and_swap("c".into(), Some(vec![2]), None).unwrap());
    assert!(d.compare_and_swap("c".into(), Some(vec![1]), None).unwrap());
    assert_eq!(d.get("c".into()).unwrap(), None);
    let mut other = StoreData::new(shared, Grants::default(), Default::default(), 1 << 20);
    assert!(matches!(other.get("b".into()), Err(HostError::NotGranted(_))));
    let _ = std::fs::remove_dir_all(dir);
}

/// Two calls that read the same value and swap: one wins, the other is told
/// so and sees the winner's value: the roster's concurrent edits lose nothing.
#[test]
fn kv_compare_and_swap_lets_one_of_two_racers_win() {
    use super::bindings::waxwing::plugin::kv::Host as _;
    use super::store::{Grants, StoreData};

    let dir = crate::testutil::tempdir("cas");
    let storage = crate::storage::Storage::open(&dir).unwrap();
    let shared = plugin_p_on_h(&storage, 1 << 20);
    let grants = Grants::from_names(&["kv".into()]);
    let mut a = StoreData::new(shared.clone(), grants, Default::default(), 1 << 20);
    let mut b = StoreData::new(shared.clone(), grants, Default::default(), 1 << 20);
    a.put(b"roster".to_vec(), b"v1".to_vec()).unwrap();
    std::mem::take(&mut a.pending).commit(&storage).unwrap();
    let seen_a = a.get(b"roster".to_vec()).unwrap();
    let seen_b = b.get(b"roster".to_vec()).unwrap();
    assert!(a.compare_and_swap(b"roster".to_vec(), seen_a, Some(b"v1+a".to_vec())).unwrap());
    assert_eq!(storage.get(b"plug/h/p/roster").unwrap().as_deref(), Some(&b"v1+a"[..]), "committed at once");
    assert!(!b.compare_and_swap(b"roster".to_vec(), seen_b, Some(b"v1+b".to_vec())).unwrap());
    let again = b.get(b"roster".to_vec()).unwrap();
    assert!(b.compare_and_swap(b"roster".to_vec(), again, Some(b"v1+a+b".to_vec())).unwrap());
    assert_eq!(storage.get(b"plug/h/p/roster").unwrap().as_deref(), Some(&b"v1+a+b"[..]));
    // Absent means absent; a call's own write is what it compares with.
    assert!(a.compare_and_swap(b"new".to_vec(), None, Some(b"1".to_vec())).unwrap());
    a.put(b"mine".to_vec(), b"x".to_vec()).unwrap();
    assert!(!a.compare_and_swap(b"mine".to_vec(), None, None).unwrap());
    assert!(a.compare_and_swap(b"mine".to_vec(), Some(b"x".to_vec()), None).unwrap());
    let _ = std::fs::remove_dir_all(dir);
}

/// What a plugin's bad `route.request` gets: an error naming the problem,
/// and nothing queued.
#[test]
fn bad_requests_are_refused_and_nothing_is_queued() {
    use super::bindings::types::HostError;
    use super::bindings::waxwing::plugin::route::Host as _;
    use super::store::{Grants, StoreData};

    let dir = crate::testutil::tempdir("requests");
    let storage = crate::storage::Storage::open(&dir).unwrap();
    let shared = plugin_p_on_h(&storage, 1 << 20);
    let mut d = StoreData::new(shared.clone(), Grants::from_names(&["route".into()]), Default::default(), 1 << 20);
    let ping = "<iq type='get' to='u@h/r'><ping xmlns='urn:xmpp:ping'/></iq>";
    let cases = [
        (ping, 0, "timeout"),
        (ping, 300_001, "timeout"),
        ("<iq type='result' to='u@h/r'/>", 1000, "get or set"),
        ("<iq type='get' to='u@h/r'/>", 1000, "exactly one child"),
        ("<message to='u@h/r'><body>x</body></message>", 1000, "iq of type get or set"),
        ("<iq type='get'><ping xmlns='urn:xmpp:ping'/></iq>", 1000, "needs a 'to'"),
        ("<iq type='get' to='u@h/r' from='x@elsewhere'><ping xmlns='urn:xmpp:ping'/></iq>", 1000, "not on h"),
        ("<iq", 1000, "XML"),
    ];
    for (xml, timeout, want) in cases {
        match d.request(xml.into(), timeout, String::new()) {
            Err(HostError::Invalid(why)) => assert!(why.contains(want), "{xml}: {why}"),
            other => panic!("{xml}: {other:?}"),
        }
    }
    let too_big = "x".repeat(64 * 1024 + 1);
    assert!(matches!(d.request(ping.into(), 1000, too_big), Err(HostError::Invalid(_))));
    assert!(d.effects.outbox.is_empty() && d.effects.requests.is_empty(), "nothing was queued");
    let mut ungranted = StoreData::new(shared, Grants::default(), Default::default(), 1 << 20);
    assert!(matches!(ungranted.request(ping.into(), 1000, String::new()), Err(HostError::NotGranted(_))));
    let _ = std::fs::remove_dir_all(dir);
}

/// A send-many counts once against the call's stanzas and its recipients
/// against their own, larger bound: a publish to 10 000 subscribers fits
/// beside the reply; past the bound the call hears why and nothing of that
/// send is queued.
#[test]
fn fan_out_recipients_are_bounded_apart_from_sends() {
    use super::bindings::types::HostError;
    use super::bindings::waxwing::plugin::route::Host as _;
    use super::host_calls::{MAX_FANOUT_RECIPIENTS, MAX_QUEUED_STANZAS};
    use super::store::{Grants, StoreData};

    let dir = crate::testutil::tempdir("fanout");
    let storage = crate::storage::Storage::open(&dir).unwrap();
    let shared = plugin_p_on_h(&storage, 1 << 20);
    let mut d = StoreData::new(shared, Grants::from_names(&["route".into()]), Default::default(), 1 << 20);
    let many: Vec<String> = (0..MAX_QUEUED_STANZAS + 1).map(|i| format!("u{i}@h")).collect();
    d.send_many("<message><body>x</body></message>".into(), many).unwrap();
    d.send("<message to='u@h'><body>reply</body></message>".into()).unwrap();
    assert_eq!((d.effects.queued, d.effects.fanout_recipients), (2, MAX_QUEUED_STANZAS + 1));
    let rest = MAX_FANOUT_RECIPIENTS - d.effects.fanout_recipients;
    let too_many: Vec<String> = (0..rest + 1).map(|i| format!("v{i}@h")).collect();
    match d.send_many("<message><body>x</body></message>".into(), too_many) {
        Err(HostError::Quota(why)) => assert!(why.contains("send-many"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(d.effects.outbox.len(), 2, "the refused fan-out queued nothing");
    let _ = std::fs::remove_dir_all(dir);
}
/// A dataset is written by its publisher with its call, read by a plugin
/// that declared it and holds the grant, and by no other.
#[test]
fn datasets_are_shared_by_declaration_only() {
    use super::bindings::types::HostError;
    use super::bindings::waxwing::plugin::datasets::Host as _;
    use super::store::{Declared, Grants, StoreData};

    let dir = crate::testutil::tempdir("datasets");
    let storage = crate::storage::Storage::open(&dir).unwrap();
    let roster = plugin_p_on_h(&storage, 1 << 20);
    let publishes = Declared { publishes: vec!["subs".into()], ..Default::default() };
    let mut publisher = StoreData::new(roster, Grants::default(), std::sync::Arc::new(publishes), 1 << 20);
    publisher.put("subs".into(), "a@h\nb@h".into(), b"both".to_vec()).unwrap();
    assert!(matches!(publisher.put("other".into(), "k".into(), vec![]), Err(HostError::Invalid(_))));
    assert_eq!(publisher.get("p".into(), "subs".into(), "a@h\nb@h".into()).unwrap().as_deref(), Some(&b"both"[..]));
    std::mem::take(&mut publisher.pending).commit(&storage).unwrap();

    let blocking = plugin_named(&storage, "blocking");
    let reads = Declared { reads: vec![("p".into(), "subs".into())], ..Default::default() };
    let reads = std::sync::Arc::new(reads);
    let mut reader = StoreData::new(blocking.clone(), Grants::from_names(&["datasets".into()]), reads.clone(), 1 << 20);
    assert_eq!(reader.get("p".into(), "subs".into(), "a@h\nb@h".into()).unwrap().as_deref(), Some(&b"both"[..]));
    let rows = reader.scan("p".into(), "subs".into(), "a@h\n".into(), String::new(), 10).unwrap();
    assert_eq!(rows, vec![("a@h\nb@h".to_string(), b"both".to_vec())]);
    assert!(matches!(reader.get("p".into(), "private".into(), "k".into()), Err(HostError::Invalid(_))));
    let mut ungranted = StoreData::new(blocking, Grants::default(), reads, 1 << 20);
    assert!(matches!(ungranted.get("p".into(), "subs".into(), "k".into()), Err(HostError::NotGranted(_))));
    let _ = std::fs::remove_dir_all(dir);
}

/// The filter scope a plugin watches is written with its call and read
/// back at the next start.
#[test]
fn the_filter_scope_survives_a_restart() {
    use super::store::{Grants, StoreData};

    let dir = crate::testutil::tempdir("fscope");
    let storage = crate::storage::Storage::open(&dir).unwrap();
    let shared = plugin_p_on_h(&storage, 1 << 20);
    let mut d = StoreData::new(shared.clone(), Grants::default(), Default::default(), 1 << 20);
    d.watch("a@h", true).unwrap();
    d.watch("b@h", true).unwrap();
    d.watch("b@h", false).unwrap();
    assert!(d.watch("a@elsewhere", true).is_err());
    std::mem::take(&mut d.pending).commit(&storage).unwrap();
    let restarted = plugin_p_on_h(&storage, 1 << 20);
    restarted.filter_scope.load(&restarted.filter_scope_store).unwrap();
    restarted.filter_scope.restrict();
    assert!(restarted.filter_scope.admits(Some("a@h"), None));
    assert!(!restarted.filter_scope.admits(Some("b@h"), None));
    assert!(!restarted.filter_scope.admits_from(Some("x@remote"), Some("b@h"), || true));
    let _ = std::fs::remove_dir_all(dir);
}

/// `watch-remote` (2.1) is kept like the watched accounts, and written only
/// when it changes.
#[test]
fn watching_remote_senders_survives_a_restart() {
    use super::store::{Grants, StoreData};

    let dir = crate::testutil::tempdir("fscope-remote");
    let storage = crate::storage::Storage::open(&dir).unwrap();
    let shared = plugin_p_on_h(&storage, 1 << 20);
    let mut d = StoreData::new(shared.clone(), Grants::default(), Default::default(), 1 << 20);
    d.watch_remote(true).unwrap();
    std::mem::take(&mut d.pending).commit(&storage).unwrap();
    d.watch_remote(true).unwrap();
    assert!(d.pending.is_empty(), "no write when nothing changed");
    let restarted = plugin_p_on_h(&storage, 1 << 20);
    restarted.filter_scope.load(&restarted.filter_scope_store).unwrap();
    restarted.filter_scope.restrict();
    assert!(restarted.filter_scope.admits_from(Some("x@remote"), Some("b@h"), || true));
    assert!(!restarted.filter_scope.admits_from(Some("a@h"), Some("b@h"), || false));
    assert!(!restarted.filter_scope.admits(Some("@remote"), None), "the key is no watched account");

    let mut d = StoreData::new(restarted.clone(), Grants::default(), Default::default(), 1 << 20);
    d.watch_remote(false).unwrap();
    std::mem::take(&mut d.pending).commit(&storage).unwrap();
    let again = plugin_p_on_h(&storage, 1 << 20);
    again.filter_scope.load(&again.filter_scope_store).unwrap();
    again.filter_scope.restrict();
    assert!(!again.filter_scope.admits_from(Some("x@remote"), Some("b@h"), || true));
    let _ = std::fs::remove_dir_all(dir);
}

/// Plugin `p` on host `h` as its host calls see it, with a `mem` budget of
/// `mem_cap` bytes: for calling host functions directly, without wasm.
fn plugin_p_on_h(storage: &crate::storage::Storage, mem_cap: usize) -> std::sync::Arc<super::store::PluginShared> {
    plugin_shared(storage, "p", mem_cap)
}

fn plugin_named(storage: &crate::storage::Storage, name: &str) -> std::sync::Arc<super::store::PluginShared> {
    plugin_shared(storage, name, 1 << 20)
}

fn plugin_shared(
    storage: &crate::storage::Storage,
    name: &str,
    mem_cap: usize,
) -> std::sync::Arc<super::store::PluginShared> {
    use super::bindings::waxwing::plugin::disco::HostInfo;
    use super::store::{KernelSlot, MemMap, PluginShared};
    let info = HostInfo { domain: "h".into(), features: vec![], identities: vec![], items: vec![], extensions: vec![] };
    std::sync::Arc::new(PluginShared {
        name: name.into(),
        domain: "h".into(),
        kv: storage.scoped(format!("plug/h/{name}/")),
        mem: MemMap::new(mem_cap),
        filter_scope: Default::default(),
        timers: Default::default(),
        accounts: crate::accounts::Accounts::new(storage.clone(), 4096),
        kernel: std::sync::Arc::new(KernelSlot::default()),
        host_info: std::sync::Arc::new(arc_swap::ArcSwap::from_pointee(info)),
        entry: Default::default(),
        commit_lock: Default::default(),
        filter_scope_store: storage.scoped(format!("fscope/h/{name}/")),
        requests: Default::default(),
        uploads: Default::default(),
        budget: super::tenant_budget::TenantBudget::new(&Default::default(), &Default::default()),
    })
}
