//! The observer against the SDK's fake host.

use waxwing_sdk::bindings::exports::waxwing::plugin::guest::Guest;
use waxwing_sdk::bindings::waxwing::plugin::types as wit;
use waxwing_sdk::log::Level;
use waxwing_sdk::sessions::SessionInfo;
use waxwing_sdk::testing::{self, FakeHost};

use super::*;
use crate::event_log::{entry_key, log_element, parse_count};

const ASKER: &str = "a@example.org/r";

fn load() {
    testing::init::<Observer>(r#"{"greeting": "hello"}"#).unwrap();
}

fn iq(ty: &str, payload: &str) -> Iq {
    let xml = format!("<iq xmlns='jabber:client' type='{ty}' id='q' from='{ASKER}'>{payload}</iq>");
    Iq(Stanza::from_xml(&xml, Address::Host, "example.org").unwrap())
}

/// The payload of the result `on_iq` replied with.
fn answer(ty: &str, payload: &str) -> Element {
    match Observer::on_iq(iq(ty, payload)) {
        Ok(Outcome::Reply(r)) => r.first_element().cloned().unwrap_or_else(|| panic!("an empty result: {r}")),
        other => panic!("expected a result with a payload: {other:?}"),
    }
}

fn error(ty: &str, payload: &str) -> Condition {
    Observer::on_iq(iq(ty, payload)).unwrap_err().condition
}

fn message(body: &str) -> Element {
    Element::parse(&format!(
        "<message xmlns='jabber:client' from='a@h/r' to='b@h' type='chat'><body>{body}</body></message>"
    ))
    .unwrap()
}

#[test]
fn filter_verdicts_follow_the_body() {
    assert_eq!(filter::decide(&message("drop me")), Verdict::Drop);
    assert_eq!(filter::decide(&message("hello")), Verdict::Pass);
    assert_eq!(filter::decide(&message("drop me please")), Verdict::Pass);
    let Verdict::Reject(e) = filter::decide(&message("reject me")) else { panic!("expected a rejection") };
    assert_eq!(e.condition, Condition::PolicyViolation);
    let Verdict::Rewrite(out) = filter::decide(&message("rewrite me")) else { panic!("expected a rewrite") };
    assert_eq!(out.child("body", ns::CLIENT).map(Element::text).as_deref(), Some("rewritten"));
    assert_eq!((out.attr("from"), out.attr("to")), (Some("a@h/r"), Some("b@h")));
    let no_body = Element::parse("<message xmlns='jabber:client' to='b@h'/>").unwrap();
    assert_eq!(filter::decide(&no_body), Verdict::Pass);
}

#[test]
fn the_filter_sees_watched_accounts_and_the_stream_feature_follows_authentication() {
    let d = Observer::describe().into_wit();
    assert_eq!(d.filter_scope, FilterScope::WatchedAccounts);
    assert_eq!(d.filters.iter().map(|f| f.to).collect::<Vec<_>>(), [Address::Bare, Address::Full]);
    let ready = testing::init::<Observer>("{}").unwrap();
    assert_eq!(ready.stream_features()[0].xml, "<observed xmlns='urn:waxwing:test:observer'/>");
    assert_eq!(ready.stream_features()[0].stage, Stage::AfterAuth);
    Observer::on_iq(iq("set", &format!("<scope xmlns='{NS}'><watch>u@example.org</watch></scope>"))).unwrap();
    assert_eq!(FakeHost::watched(), ["u@example.org"]);
    assert_eq!(
        error("set", &format!("<scope xmlns='{NS}'><watch>u@elsewhere.example</watch></scope>")),
        Condition::BadRequest
    );
}

#[test]
fn keys_sort_in_append_order_and_counts_parse() {
    assert_eq!(entry_key(7, "ab"), "log/00000000000000000007/ab");
    assert!(entry_key(9, "ff") < entry_key(10, "00"));
    assert_eq!(parse_count(None), Ok(0));
    assert_eq!(parse_count(Some(b"41")), Ok(41));
    assert!(parse_count(Some(b"x")).unwrap_err().contains("not a number"));
}

#[test]
fn events_are_logged_with_their_count() {
    load();
    Observer::on_event(Event::UserCreated { jid: "u@example.org".into() }).unwrap();
    Observer::on_event(Event::SessionStarted { jid: "u@example.org/r".into() }).unwrap();
    let log = answer("get", &format!("<log xmlns='{NS}'/>"));
    assert_eq!(
        log.to_xml(),
        "<log xmlns='urn:waxwing:test:observer' count='2'><entry>user-created u@example.org</entry>\
         <entry>session-started u@example.org/r</entry></log>"
    );
    let unsubscribed = Observer::on_event(Event::MessageUndeliverable { message: "<message/>".into() });
    assert!(unsubscribed.unwrap_err().message().contains("did not subscribe"));
}

#[test]
fn replies_have_the_documented_shape() {
    let log = log_element(1, [log_line("user-created", "a@h")].into_iter(), true);
    assert_eq!(
        log.to_xml(),
        "<log xmlns='urn:waxwing:test:observer' count='1' truncated='true'><entry>user-created a@h</entry></log>"
    );
    let s = queries::sessions_element(
        "a@h",
        &[SessionInfo { jid: "a@h/r".into(), priority: -1, available: true, presence: String::new() }],
    );
    assert_eq!(
        s.to_xml(),
        "<sessions xmlns='urn:waxwing:test:observer' jid='a@h'><session jid='a@h/r' priority='-1' available='true'/></sessions>"
    );
    assert_eq!(
        sends::fired_message("h", "a@h/r").to_xml_in(ns::CLIENT),
        "<message to='a@h/r' type='headline' from='h'><fired xmlns='urn:waxwing:test:observer'/></message>"
    );
}

#[test]
fn a_timer_tells_whoever_set_it() {
    load();
    Observer::on_iq(iq("set", &format!("<timer xmlns='{NS}' ms='200'/>"))).unwrap();
    assert!(FakeHost::advance(199).is_empty());
    for e in FakeHost::advance(1) {
        Observer::on_event(e).unwrap();
    }
    assert_eq!(FakeHost::sent()[0].attr("to"), Some(ASKER));
    assert_eq!(error("set", &format!("<timer xmlns='{NS}' ms='soon'/>")), Condition::BadRequest);
}

#[test]
fn ask_pings_and_reports_each_outcome() {
    load();
    for (outcome, how) in [
        (IqOutcome::Result("<iq type='result'/>".into()), "result"),
        (IqOutcome::Error("<iq type='error'/>".into()), "error"),
        (IqOutcome::Timeout, "timeout"),
    ] {
        let reply = Observer::on_iq(iq("set", &format!("<ask xmlns='{NS}' to='b@example.org/x'/>")));
        assert!(matches!(reply, Ok(Outcome::Reply(ref r)) if r.attr("type") == Some("result")), "{reply:?}");
        let [request] = <[_; 1]>::try_from(FakeHost::take_requests()).unwrap();
        assert_eq!((request.timeout_ms, request.context.as_str()), (2000, ASKER));
        assert_eq!(request.iq.attr("to"), Some("b@example.org/x"));
        assert!(request.iq.child("ping", ns::PING).is_some(), "{}", request.iq);

        Observer::on_event(request.answer(outcome)).unwrap();
        let [headline] = <[_; 1]>::try_from(FakeHost::take_sent()).unwrap();
        assert_eq!((headline.attr("to"), headline.attr("type")), (Some(ASKER), Some("headline")));
        let report = headline.child("answered", NS).unwrap_or_else(|| panic!("{headline}"));
        assert_eq!((report.attr("outcome"), report.attr("context")), (Some(how), Some(ASKER)));
    }
    assert_eq!(error("set", &format!("<ask xmlns='{NS}'/>")), Condition::BadRequest);
}

#[test]
fn counters_count_each_key_apart() {
    load();
    let count =
        |key: &str| answer("set", &format!("<count xmlns='{NS}' key='{key}'/>")).attr("value").map(str::to_owned);
    assert_eq!(count("a").as_deref(), Some("1"));
    assert_eq!(count("a").as_deref(), Some("2"));
    assert_eq!(count("b").as_deref(), Some("1"));
    assert_eq!(count("a").as_deref(), Some("3"));
    assert_eq!(error("set", &format!("<count xmlns='{NS}'/>")), Condition::BadRequest);
}

#[test]
fn prep_is_the_kernels() {
    load();
    let p = answer("get", &format!("<prep xmlns='{NS}' jid='Juliet@EXAMPLE.com/Balcony'/>"));
    assert_eq!(p.attr("jid"), Some("juliet@example.com/Balcony"));
    assert_eq!(error("get", &format!("<prep xmlns='{NS}' jid='a@'/>")), Condition::JidMalformed);
}

#[test]
fn notes_are_published_and_read_back() {
    load();
    assert_eq!(error("get", &format!("<note xmlns='{NS}' key='k'/>")), Condition::ItemNotFound);
    Observer::on_iq(iq("set", &format!("<note xmlns='{NS}' key='k' value='v1'/>"))).unwrap();
    Observer::on_iq(iq("set", &format!("<note xmlns='{NS}' key='k' value='v2'/>"))).unwrap();
    assert_eq!(answer("get", &format!("<note xmlns='{NS}' key='k'/>")).attr("value"), Some("v2"));
    assert_eq!(FakeHost::dataset_entries(NAME, NOTES), [("k".to_string(), b"v2".to_vec())]);
    assert_eq!(error("set", &format!("<note xmlns='{NS}' key='k'/>")), Condition::BadRequest);
}

#[test]
fn greeting_is_the_setting() {
    testing::init::<Observer>(r#"{"greeting": "hi there"}"#).unwrap();
    assert_eq!(answer("get", &format!("<greeting xmlns='{NS}'/>")).text(), "hi there");
    let setting = &Observer::describe().into_wit().settings[0];
    assert_eq!((setting.key.as_str(), setting.default.as_str()), ("greeting", "\"hello\""));
}

/// Through the exported `guest` interface, as the kernel calls it, so the
/// SDK's panic hook is installed.
#[test]
fn a_panic_reaches_the_log_with_where_it_happened() {
    let payload = format!("<panic xmlns='{NS}'/>");
    let stanza = wit::Stanza {
        kind: Kind::Iq,
        type_: StanzaType::Get,
        id: "p".into(),
        from: ASKER.into(),
        to: "example.org".into(),
        addressed: Address::Host,
        payload_ns: NS.into(),
        payload_name: "panic".into(),
        xml: format!("<iq type='get' id='p' from='{ASKER}' to='example.org'>{payload}</iq>"),
    };
    let caught = std::panic::catch_unwind(|| <waxwing_sdk::Export<Observer> as Guest>::handle_stanza(stanza));
    assert!(caught.is_err());
    let errors = FakeHost::logs_at(Level::Error);
    assert!(
        errors.iter().any(|l| l.contains("src/lib.rs:") && l.ends_with(": observer was asked to panic")),
        "{errors:?}"
    );
}
