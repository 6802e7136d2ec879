//! The fake host, through the wrappers a plugin calls.

use super::*;
use crate::kv::Op;
use crate::log::Level;
use crate::{
    Capability, Describe, Event, HostError, IqOutcome, StanzaType, accounts, datasets, disco, filter_scope, kv, mem,
    new_iq, new_message, route, sessions, timers,
};
use waxwing_xml::Element;

#[test]
fn kv_reads_its_writes_and_scans_in_key_order() {
    kv::put("b", "2").unwrap();
    kv::put("a", "1").unwrap();
    kv::put("c", "3").unwrap();
    kv::delete("c").unwrap();
    assert_eq!(kv::get("a").unwrap(), Some(b"1".to_vec()));
    assert_eq!(kv::get("c").unwrap(), None);
    let keys = |entries: Vec<kv::Entry>| entries.into_iter().map(|(k, _)| k).collect::<Vec<_>>();
    assert_eq!(keys(kv::scan("", "", 10).unwrap()), vec![b"a".to_vec(), b"b".to_vec()]);
    assert_eq!(keys(kv::scan("", "a", 10).unwrap()), vec![b"b".to_vec()]);
    assert_eq!(FakeHost::kv_entries().len(), 2);
}

#[test]
fn kv_refuses_what_the_kernel_refuses() {
    let long_key = vec![b'k'; kv::MAX_KEY_BYTES + 1];
    assert!(matches!(kv::put(&long_key, "v"), Err(HostError::Invalid(m)) if m.contains("key is 1025 bytes")));
    assert!(matches!(kv::scan("", "", kv::MAX_SCAN_LIMIT + 1), Err(HostError::Invalid(_))));
    FakeHost::revoke(Capability::Kv);
    assert_eq!(kv::get("a"), Err(HostError::NotGranted(Capability::Kv)));
    FakeHost::grant(Capability::Kv);
    assert_eq!(kv::get("a"), Ok(None));
}

#[test]
fn compare_and_swap_behaves_like_the_kernels() {
    assert!(kv::compare_and_swap("n", None, Some(b"1")).unwrap(), "absent as expected");
    assert!(!kv::compare_and_swap("n", None, Some(b"2")).unwrap(), "no longer absent");
    assert!(!kv::compare_and_swap("n", Some(b"0"), Some(b"2")).unwrap(), "another value");
    assert_eq!(kv::get("n").unwrap(), Some(b"1".to_vec()));
    assert!(kv::compare_and_swap("n", Some(b"1"), Some(b"2")).unwrap());
    assert!(kv::compare_and_swap("n", Some(b"2"), None).unwrap(), "a swap to none deletes");
    assert_eq!(kv::get("n").unwrap(), None);
}

#[test]
fn a_large_batch_is_split_and_applied_whole() {
    let ops: Vec<Op> = (0..2500u32).map(|i| Op::put(format!("k{i:05}"), i.to_string())).collect();
    kv::batch(&ops).unwrap();
    assert_eq!(FakeHost::kv_batch_calls(), 3, "1000 + 1000 + 500");
    let deletes: Vec<Op> = (0..2500u32).filter(|i| i % 2 == 0).map(|i| Op::delete(format!("k{i:05}"))).collect();
    kv::batch(&deletes).unwrap();
    assert_eq!(FakeHost::kv_entries().len(), 1250);
    kv::batch(&[]).unwrap();
    assert_eq!(FakeHost::kv_batch_calls(), 5, "an empty batch makes no call");
}

#[test]
fn a_batch_over_16_mib_is_split_by_size() {
    let value = vec![7u8; kv::MAX_VALUE_BYTES];
    let ops: Vec<Op> = (0..20u8).map(|i| Op::put(vec![i], value.clone())).collect();
    kv::batch(&ops).unwrap();
    assert_eq!(FakeHost::kv_batch_calls(), 2);
    assert_eq!(FakeHost::kv_entries().len(), 20);
}

#[test]
fn scan_all_pages_past_the_page_size() {
    let ops: Vec<Op> = (0..1300u32).map(|i| Op::put(format!("p/{i:05}"), "v")).collect();
    kv::batch(&ops).unwrap();
    kv::put("q/outside", "v").unwrap();
    let all = kv::scan_all("p/").unwrap();
    assert_eq!(all.len(), 1300);
    assert!(all.windows(2).all(|w| w[0].0 < w[1].0), "in key order");
    let first: Vec<_> = kv::scan_iter("p/").take(3).map(Result::unwrap).collect();
    assert_eq!(first[2].0, b"p/00002".to_vec());
    FakeHost::revoke(Capability::Kv);
    let mut failing = kv::scan_iter("p/");
    assert_eq!(failing.next(), Some(Err(HostError::NotGranted(Capability::Kv))));
    assert_eq!(failing.next(), None);
}

#[test]
fn mem_counters_markers_and_swaps() {
    assert_eq!(mem::incr("hits", 2).unwrap(), 2);
    assert_eq!(mem::incr("hits", -5).unwrap(), -3);
    mem::put("text", "abc").unwrap();
    assert!(matches!(mem::incr("text", 1), Err(HostError::Invalid(m)) if m.contains("8-byte")));
    assert!(mem::put_if_absent("lock", "me").unwrap());
    assert!(!mem::put_if_absent("lock", "you").unwrap());
    assert_eq!(mem::get("lock").unwrap(), Some(b"me".to_vec()));
    assert!(!mem::compare_and_swap("lock", Some(b"you"), None).unwrap());
    assert!(mem::compare_and_swap("lock", Some(b"me"), None).unwrap());
    mem::delete("text").unwrap();
    assert_eq!(FakeHost::mem_entries(), vec![("hits".to_string(), (-3i64).to_le_bytes().to_vec())]);
}

#[test]
fn sends_are_captured_one_per_recipient() {
    route::send(&new_message("romeo@example.net", StanzaType::Chat).with_attr("from", "juliet@example.org")).unwrap();
    let recipients = vec!["a@example.org/1".to_string(), "b@example.org".to_string()];
    route::send_many(&Element::new("presence", waxwing_xml::ns::CLIENT), &recipients).unwrap();
    let sent = FakeHost::take_sent();
    assert_eq!(sent.len(), 3);
    assert_eq!(sent[0].attr("type"), Some("chat"));
    assert_eq!(sent[0].ns, waxwing_xml::ns::CLIENT);
    assert_eq!(sent[2].attr("to"), Some("b@example.org"));
    assert_eq!(sent[2].attr("from"), Some("example.org"), "a missing from is the host");
    assert!(FakeHost::sent().is_empty());
    let spoofed = new_message("romeo@example.net", StanzaType::Chat).with_attr("from", "tybalt@capulet.lit");
    assert!(matches!(route::send(&spoofed), Err(HostError::Invalid(m)) if m.contains("is not on example.org")));
    let stored = new_message("juliet@example.org", StanzaType::Chat).with_attr("from", "romeo@example.net");
    route::send(&stored).unwrap();
    assert_eq!(FakeHost::take_sent()[0].attr("from"), Some("romeo@example.net"), "inbound keeps its sender");
    FakeHost::declare(&Describe::new("muc", "1").service("conference"));
    route::send(&new_message("romeo@example.net", StanzaType::Chat).with_attr("from", "room@conference.example.org"))
        .unwrap();
    assert!(matches!(route::send_xml("<message xmlns='urn:x'/>"), Err(HostError::Invalid(_))));
    let bad = vec!["@nobody".to_string()];
    assert!(matches!(route::send_many(&new_message("x@y", StanzaType::Chat), &bad), Err(HostError::Invalid(_))));
    assert!(matches!(route::send_xml("<message"), Err(HostError::Invalid(_))));
}

#[test]
fn requests_get_ids_and_answers_come_back_as_events() {
    let iq = new_iq(StanzaType::Get, "")
        .with_attr("to", "romeo@example.net/orchard")
        .with_child(Element::new("query", "http://jabber.org/protocol/disco#info"));
    let first = route::request(&iq, 5000, "caps romeo").unwrap();
    let second = route::request(&iq, 5000, "again").unwrap();
    assert_ne!(first, second);
    let reqs = FakeHost::requests();
    assert_eq!((reqs[0].id, reqs[0].timeout_ms, reqs[0].context.as_str()), (first, 5000, "caps romeo"));
    assert!(reqs[0].iq.attr("id").is_some(), "the host sets the id");
    let event = reqs[0].answer(IqOutcome::Timeout);
    assert_eq!(event, Event::IqResponse { request: first, context: "caps romeo".into(), outcome: IqOutcome::Timeout });
    let result = new_iq(StanzaType::Result, "").with_attr("to", "romeo@example.net");
    assert!(matches!(route::request(&result, 1, ""), Err(HostError::Invalid(_))));
    let no_to = new_iq(StanzaType::Get, "").with_child(Element::new("ping", "urn:xmpp:ping"));
    assert!(matches!(route::request(&no_to, 1, ""), Err(HostError::Invalid(m)) if m.contains("'to'")));
    assert!(matches!(route::request(&iq, route::MAX_REQUEST_TIMEOUT_MS + 1, ""), Err(HostError::Invalid(_))));
    assert!(matches!(route::request(&iq, 0, ""), Err(HostError::Invalid(_))));
    assert_eq!(FakeHost::take_requests().len(), 2);
}

#[test]
fn timers_fire_when_the_clock_reaches_them() {
    let start = crate::now_ms();
    let late = timers::set(2000, "late").unwrap();
    let early = timers::set(1000, "early").unwrap();
    let cancelled = timers::set(500, "never").unwrap();
    timers::cancel(cancelled).unwrap();
    assert_eq!(FakeHost::timers().len(), 2);
    assert_eq!(FakeHost::advance(999), vec![]);
    assert_eq!(FakeHost::advance(1), vec![Event::TimerFired { id: early, data: "early".into() }]);
    assert_eq!(FakeHost::advance(5000), vec![Event::TimerFired { id: late, data: "late".into() }]);
    assert_eq!(crate::now_ms(), start + 6000);
    assert!(FakeHost::timers().is_empty());
}

#[test]
fn sessions_and_accounts_a_test_set_up() {
    FakeHost::add_account("Juliet", "secret");
    FakeHost::add_session("juliet@example.org/balcony", Some("<presence><priority>5</priority></presence>"));
    FakeHost::add_session("juliet@example.org/tomb", None);
    FakeHost::add_session("romeo@example.org/orchard", Some("<presence type='unavailable'/>"));
    let juliet = sessions::of("Juliet@Example.org").unwrap();
    assert_eq!(juliet.len(), 2);
    assert_eq!((juliet[0].priority, juliet[0].available), (5, true));
    assert_eq!((juliet[1].available, juliet[1].presence.as_str()), (false, ""));
    assert!(!sessions::of("romeo@example.org").unwrap()[0].available);
    assert!(sessions::account_exists("juliet@example.org").unwrap());
    assert!(!sessions::account_exists("romeo@example.org").unwrap());
    assert!(matches!(sessions::of("juliet@elsewhere.net"), Err(HostError::Invalid(_))));
    FakeHost::remove_session("juliet@example.org/tomb");
    assert_eq!(FakeHost::sessions().len(), 2);
}

#[test]
fn account_management_prepares_usernames() {
    accounts::create("Romeo", "pw").unwrap();
    assert!(accounts::exists("romeo").unwrap());
    assert!(matches!(accounts::create("romeo", "pw"), Err(HostError::Invalid(m)) if m.contains("already exists")));
    assert!(matches!(accounts::create("a@b", "pw"), Err(HostError::Invalid(m)) if m.contains("invalid username")));
    accounts::set_password("romeo", "new").unwrap();
    assert_eq!(FakeHost::account_password("romeo").as_deref(), Some("new"));
    accounts::delete("romeo").unwrap();
    assert!(matches!(accounts::delete("romeo"), Err(HostError::Invalid(m)) if m == "no such account"));
    FakeHost::revoke(Capability::Accounts);
    assert_eq!(accounts::exists("romeo"), Err(HostError::NotGranted(Capability::Accounts)));
}

#[test]
fn datasets_own_and_read() {
    FakeHost::set_plugin_name("caps");
    datasets::put("ver", "a", "1").unwrap();
    datasets::put("ver", "b", "2").unwrap();
    datasets::delete("ver", "a").unwrap();
    assert_eq!(datasets::get("caps", "ver", "b").unwrap(), Some(b"2".to_vec()));
    assert_eq!(FakeHost::dataset_entries("caps", "ver").len(), 1);
    for i in 0..600 {
        FakeHost::set_dataset("roster", "contacts", &format!("u{i:04}"), b"x");
    }
    assert_eq!(datasets::scan_all("roster", "contacts", "u0").unwrap().len(), 600);
    assert_eq!(datasets::scan("roster", "contacts", "", "u0598", 10).unwrap().len(), 1);
    FakeHost::revoke(Capability::Datasets);
    assert_eq!(datasets::get("roster", "contacts", "u0000"), Err(HostError::NotGranted(Capability::Datasets)));
    assert!(datasets::get("caps", "ver", "b").is_ok(), "its own need no grant");
}

#[test]
fn a_declared_description_holds_datasets_to_it() {
    FakeHost::declare(&Describe::new("caps", "1").publishes("ver", "").reads("roster", "contacts"));
    datasets::put("ver", "a", "1").unwrap();
    assert!(matches!(datasets::put("other", "a", "1"), Err(HostError::Invalid(m)) if m.contains("publishes")));
    assert_eq!(datasets::get("roster", "contacts", "x"), Ok(None));
    assert!(matches!(datasets::get("roster", "blocks", "x"), Err(HostError::Invalid(m)) if m.contains("reads")));
    assert!(matches!(datasets::get("caps", "other", "x"), Err(HostError::Invalid(_))));
}

#[test]
fn disco_filter_scope_and_host() {
    assert_eq!(disco::host().unwrap().domain, "example.org");
    FakeHost::set_domain("shakespeare.lit");
    assert_eq!(crate::domain(), "shakespeare.lit");
    filter_scope::watch("Juliet@Shakespeare.lit", true).unwrap();
    filter_scope::watch("romeo@shakespeare.lit", true).unwrap();
    filter_scope::watch("romeo@shakespeare.lit", false).unwrap();
    assert_eq!(FakeHost::watched(), vec!["juliet@shakespeare.lit".to_string()]);
    assert!(filter_scope::watch("juliet@example.org", true).is_err());
    assert!(!FakeHost::watches_remote());
    filter_scope::watch_remote(true).unwrap();
    assert!(FakeHost::watches_remote());
    filter_scope::watch_remote(false).unwrap();
    assert!(!FakeHost::watches_remote());
    FakeHost::revoke(Capability::Disco);
    assert_eq!(disco::host().map(|h| h.domain), Err(HostError::NotGranted(Capability::Disco)));
}

#[test]
fn log_clock_and_random_repeat() {
    crate::log::warn("careful");
    crate::log::info("fine");
    assert_eq!(FakeHost::logs_at(Level::Warn), vec!["careful".to_string()]);
    assert_eq!(FakeHost::take_logs().len(), 2);
    assert!(FakeHost::logs().is_empty());
    FakeHost::set_now_ms(42);
    assert_eq!(crate::now_ms(), 42);
    let a = crate::random(3000);
    assert_eq!(a.len(), 3000, "made of several host calls");
    FakeHost::reset();
    assert_eq!(crate::random(3000), a, "the same bytes after a reset");
    assert_eq!(crate::now_ms(), super::state::DEFAULT_NOW_MS);
}

#[test]
fn each_test_thread_has_its_own_host() {
    kv::put("mine", "1").unwrap();
    let other = std::thread::spawn(|| kv::get("mine").unwrap()).join().unwrap();
    assert_eq!(other, None);
}
