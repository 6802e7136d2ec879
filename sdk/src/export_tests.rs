//! The adapter as the kernel sees it: WIT values in, WIT values out.

use super::*;
use crate::event::IqOutcome;
use crate::event_error::EventError;
use crate::json::Json;
use crate::ready::Ready;
use crate::stanza::Iq;
use crate::stanza_error::stanza_error_from_wit;
use crate::testing::FakeHost;
use crate::{
    Address, Capability, Condition, Describe, ErrorType, EventKind, FilterScope, Route, SettingType, Stage,
    StanzaError, StanzaType, kv,
};

const FEATURE: &str = "<echo xmlns='urn:test'/>";

struct Echo;

impl Plugin for Echo {
    fn describe() -> Describe {
        Describe::new("echo", "1.0.0")
            .iq_get_host("urn:test", "q")
            .route(Route::iq_set().payload("urn:test", "q").to_any().unauthenticated())
            .filter(Route::message().to_anywhere())
            .filter_scope(FilterScope::WatchedAccounts)
            .event(EventKind::SessionEnded)
            .setting_bool("refuse", false, "Refuse to load")
            .setting_bool("feature", true, "Offer the stream feature")
            .capability(Capability::Kv)
    }

    fn init(config: &Json) -> Result<Ready, String> {
        if config.get("refuse").as_bool() == Some(true) {
            return Err("refused".into());
        }
        let ready = Ready::new();
        Ok(match config.get("feature").as_bool() {
            Some(false) => ready,
            _ => ready.stream_feature(FEATURE, Stage::AfterAuth),
        })
    }

    fn on_iq(iq: Iq) -> Handled {
        match iq.payload_ns() {
            "urn:test" => iq.reply_empty(),
            "urn:wait" => Err(StanzaError::new(Condition::ResourceConstraint).with_type(ErrorType::Cancel)),
            _ => Err(Condition::ItemNotFound.into()),
        }
    }

    fn on_event(event: Event) -> Result<(), EventError> {
        match event {
            Event::SessionEnded { jid, last_presence } => {
                kv::put(format!("ended/{jid}"), last_presence.unwrap_or_default())?;
                Ok(())
            }
            Event::TimerFired { data, .. } if data == "fail" => Err("the timer's work failed".into()),
            Event::IqResponse { outcome: IqOutcome::Timeout, context, .. } => {
                Err(EventError::new("no answer").context(context))
            }
            _ => Ok(()),
        }
    }

    fn filter(stanza: Stanza) -> Verdict {
        match stanza.stanza_type() {
            StanzaType::Headline => Verdict::Drop,
            StanzaType::Error => Verdict::Reject(Condition::NotAllowed.into()),
            _ => Verdict::Pass,
        }
    }
}

type E = Export<Echo>;

fn verdict_from_wit(v: &wit::Verdict) -> Verdict {
    match v {
        wit::Verdict::Pass => Verdict::Pass,
        wit::Verdict::Drop => Verdict::Drop,
        wit::Verdict::Rewrite(xml) => Verdict::Rewrite(Element::parse(xml).unwrap()),
        wit::Verdict::Reject(e) => Verdict::Reject(stanza_error_from_wit(e)),
    }
}

fn raw(xml: &str) -> wit::Stanza {
    let s = Stanza::from_xml(xml, Address::Host, "h").unwrap();
    wit::Stanza {
        kind: s.kind(),
        type_: s.stanza_type(),
        id: s.id().into(),
        from: s.from().into(),
        to: s.to().into(),
        addressed: s.addressed(),
        payload_ns: s.payload_ns().into(),
        payload_name: s.payload_name().into(),
        xml: s.xml().into(),
    }
}

#[test]
fn dispatches_iq_and_serializes_the_reply() {
    let out =
        E::handle_stanza(raw("<iq xmlns='jabber:client' type='get' id='1' from='u@h/r'><q xmlns='urn:test'/></iq>"));
    assert_eq!(out, Ok(wit::Outcome::Reply("<iq from='h' to='u@h/r' id='1' type='result'/>".into())));
}

#[test]
fn errors_cross_typed_with_the_default_type_left_out() {
    let out =
        E::handle_stanza(raw("<iq xmlns='jabber:client' type='get' id='1' from='u@h/r'><q xmlns='urn:other'/></iq>"));
    let Err(e) = out else { panic!("expected an error") };
    assert_eq!((e.condition, e.error_type), (wit::ErrorCondition::ItemNotFound, None));
    let out =
        E::handle_stanza(raw("<iq xmlns='jabber:client' type='get' id='1' from='u@h/r'><q xmlns='urn:wait'/></iq>"));
    let Err(e) = out else { panic!("expected an error") };
    assert_eq!((e.condition, e.error_type), (wit::ErrorCondition::ResourceConstraint, Some(wit::ErrorType::Cancel)));
}

#[test]
fn unhandled_kinds_pass() {
    let out = E::handle_stanza(raw("<message xmlns='jabber:client'><body>x</body></message>"));
    assert_eq!(out, Ok(wit::Outcome::Pass));
}

#[test]
fn init_returns_stream_features_and_reports_refusal() {
    let ready = E::init(r#"{"refuse": false, "feature": true}"#.into()).unwrap();
    assert_eq!(ready.stream_features, vec![wit::StreamFeature { xml: FEATURE.into(), stage: Stage::AfterAuth }]);
    assert!(E::init(r#"{"refuse": false, "feature": false}"#.into()).unwrap().stream_features.is_empty());
    assert_eq!(E::init("{\"refuse\": true}".into()), Err("refused".into()));
    assert!(E::init("not json".into()).unwrap_err().contains("not valid JSON"));
    assert_eq!(crate::testing::init::<Echo>("{}").map(|r| r.stream_features().len()), Ok(1));
}

#[test]
fn typed_events_reach_the_handler_and_errors_name_the_event() {
    let ended = Event::SessionEnded { jid: "u@h/r".into(), last_presence: Some("<presence/>".into()) };
    assert_eq!(E::handle_event(ended.into_wit()), Ok(()));
    assert_eq!(kv::get("ended/u@h/r").unwrap(), Some(b"<presence/>".to_vec()));

    let timer = Event::TimerFired { id: 9, data: "fail".into() };
    assert_eq!(E::handle_event(timer.into_wit()), Err("timer-fired (timer 9): the timer's work failed".into()));

    let timeout = Event::IqResponse { request: 4, context: "caps of u@h/r".into(), outcome: IqOutcome::Timeout };
    assert_eq!(E::handle_event(timeout.into_wit()), Err("iq-response (request 4): caps of u@h/r: no answer".into()));

    FakeHost::revoke(Capability::Kv);
    let ended = Event::SessionEnded { jid: "u@h/r".into(), last_presence: None };
    assert_eq!(E::handle_event(ended.into_wit()), Err("session-ended (u@h/r): capability 'kv' not granted".into()));
}

#[test]
fn filter_verdicts_round_trip() {
    let v = E::filter(raw("<message xmlns='jabber:client' type='headline'/>"));
    assert_eq!(verdict_from_wit(&v), Verdict::Drop);
    let v = E::filter(raw("<message xmlns='jabber:client' type='error'/>"));
    assert_eq!(verdict_from_wit(&v), Verdict::Reject(Condition::NotAllowed.into()));
    let rewritten = verdict_to_wit(Verdict::Rewrite(crate::new_message("a@b", StanzaType::Chat)));
    assert_eq!(rewritten, wit::Verdict::Rewrite("<message to='a@b' type='chat'/>".into()));
}

#[test]
fn describe_carries_routes_settings_and_scope() {
    let d = E::describe();
    assert_eq!(d.name, "echo");
    assert_eq!(d.routes.len(), 4, "one get route to the host, the set route to three addresses");
    assert!(d.routes[1..].iter().all(|r| r.unauthenticated && r.types == [StanzaType::Set]));
    assert_eq!(d.filters.len(), 5);
    assert_eq!(d.filter_scope, FilterScope::WatchedAccounts);
    assert_eq!(d.events, vec![EventKind::SessionEnded]);
    let settings: Vec<_> = d.settings.iter().map(|s| (s.key.as_str(), &s.type_, s.default.as_str())).collect();
    assert_eq!(settings, vec![("refuse", &SettingType::Boolean, "false"), ("feature", &SettingType::Boolean, "true")]);
}

#[test]
fn migrate_goes_through() {
    assert_eq!(E::migrate("0.9.0".into()), Ok(()));
}
