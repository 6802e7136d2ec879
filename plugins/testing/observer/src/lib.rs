//! Test plugin `observer`: drives host interfaces no shipped plugin exercises
//! this way, so the end-to-end tests (`tests/tests/observer.rs`) can watch
//! them work. Namespace `urn:waxwing:test:observer`, iqs addressed to the host:
//!
//! - Events `session-started`, `session-ended`, `presence-changed`,
//!   `user-created` and `user-deleted` each append `"<kind> <jid>"` to a log
//!   in `kv` (`event_log.rs`); `<log/>` (get) answers
//!   `<log count='n'><entry>session-started a@h/r</entry>...</log>`.
//! - `<timer ms='N'/>` (set) answers at once and, N ms later, sends the
//!   requester `<message type='headline'><fired/></message>` from the host.
//! - `<sessions jid='user@host'/>` (get) answers
//!   `<sessions jid='..'><session jid='..' priority='..' available='..'/></sessions>`.
//! - A filter on messages to accounts, which sees only watched accounts
//!   (`FilterScope::WatchedAccounts`): body `drop me` is dropped,
//!   `rewrite me` becomes `rewritten`, `reject me` is refused with
//!   `policy-violation`; anything else passes.
//!   `<scope><watch>user@host</watch>...</scope>` (set) watches accounts.
//! - `<say to='jid'>text</say>` (set) sends `to` a chat message with that
//!   body from the host: the plugin's own sends skip its own filter, so
//!   `drop me` said this way arrives.
//! - `<ask to='jid'/>` (set) sends `jid` a XEP-0199 ping with
//!   `route.request` (2 s, the asker as context) and answers at once; when
//!   the ping is answered or times out, the asker gets
//!   `<message type='headline'><answered outcome='result|error|timeout' context='asker'/></message>`.
//! - `<count key='K'/>` (set) increments counter K with a compare-and-swap
//!   retry loop and answers `<count key='K' value='N'/>`.
//! - `<prep jid='J'/>` (get) answers `<prep jid='prepared'/>` or `jid-malformed`.
//! - `<panic/>` (get) panics with "observer was asked to panic".
//! - `<note key='K' value='V'/>` (set) puts V in the published dataset
//!   `notes`; `<note key='K'/>` (get) reads it back: `<note key='K' value='V'/>`.
//! - `<greeting/>` (get) answers `<greeting>text</greeting>`, the text of the
//!   setting `greeting` (default "hello").
//! - `init` offers the stream feature `<observed xmlns='urn:waxwing:test:observer'/>`
//!   after authentication (absent from disco).

mod event_log;
mod filter;
mod queries;
mod sends;

use waxwing_sdk::prelude::*;

const NS: &str = "urn:waxwing:test:observer";
/// The plugin's name, which also names the datasets it owns.
const NAME: &str = "observer";
const NOTES: &str = "notes";

const EVENTS: [EventKind; 5] = [
    EventKind::SessionStarted,
    EventKind::SessionEnded,
    EventKind::PresenceChanged,
    EventKind::UserCreated,
    EventKind::UserDeleted,
];

/// Payloads of the iqs served, by type.
const GETS: [&str; 5] = ["log", "sessions", "prep", "panic", "greeting"];
const SETS: [&str; 5] = ["timer", "say", "scope", "ask", "count"];

struct Observer;

impl Plugin for Observer {
    fn describe() -> Describe {
        let d = Describe::new(NAME, env!("CARGO_PKG_VERSION"))
            .route(Route::iq().of_types([StanzaType::Get, StanzaType::Set]).payload(NS, "note"))
            // Any message type, to an account or one of its resources: what a
            // spam or policy filter would look at.
            .filter(Route::message().to_each([Address::Bare, Address::Full]))
            .filter_scope(FilterScope::WatchedAccounts)
            .publishes(NOTES, "Notes set with <note key='K' value='V'/>, by key")
            .setting_text("greeting", "hello", "What <greeting/> answers")
            .capabilities([Capability::Kv, Capability::Route, Capability::Sessions, Capability::Timers]);
        let d = GETS.iter().fold(d, |d, name| d.iq_get_host(NS, name));
        let d = SETS.iter().fold(d, |d, name| d.iq_set_host(NS, name));
        EVENTS.iter().fold(d, |d, kind| d.event(*kind))
    }

    fn init(_config: &Json) -> Result<Ready, String> {
        Ok(Ready::new().stream_feature(Element::new("observed", NS).to_xml(), Stage::AfterAuth))
    }

    fn on_iq(iq: Iq) -> Handled {
        match (iq.stanza_type(), iq.payload_name()) {
            (StanzaType::Get, "log") => iq.reply_with(event_log::read()?),
            (StanzaType::Get, "sessions") => queries::sessions(&iq),
            (StanzaType::Get, "prep") => prep(&iq),
            (StanzaType::Get, "panic") => panic!("observer was asked to panic"),
            (StanzaType::Get, "greeting") => greeting(&iq),
            (_, "note") => queries::note(&iq),
            (StanzaType::Set, "count") => queries::count(&iq),
            (StanzaType::Set, "timer") => sends::set_timer(&iq),
            (StanzaType::Set, "say") => sends::say(&iq),
            (StanzaType::Set, "ask") => sends::ask(&iq),
            (StanzaType::Set, "scope") => filter::scope(&iq),
            // The routes admit nothing else; should they ever, say so.
            _ => Err(Condition::FeatureNotImplemented.into()),
        }
    }

    fn on_event(event: Event) -> Result<(), EventError> {
        match event {
            Event::TimerFired { data, .. } => sends::fire(&data),
            Event::IqResponse { context, outcome, .. } => sends::answered(&context, &outcome),
            other => match (other.kind(), other.jid()) {
                (Some(kind), Some(jid)) if EVENTS.contains(&kind) => event_log::append(&log_line(other.name(), jid)),
                _ => Err(EventError::new(format!("an event this plugin did not subscribe to: {}", other.name()))),
            },
        }
    }

    fn filter(stanza: Stanza) -> Verdict {
        match stanza.element() {
            Ok(el) => filter::decide(el),
            // The kernel parsed the stanza before handing it over, so this
            // cannot happen; were it to, judging the message is not this
            // test filter's job.
            Err(_) => Verdict::Pass,
        }
    }
}

waxwing_sdk::export_plugin!(Observer);

fn log_line(kind: &str, jid: &str) -> String {
    format!("{kind} {jid}")
}

fn bad_request(text: impl Into<String>) -> StanzaError {
    StanzaError::new(Condition::BadRequest).with_text(text)
}

/// What the kernel refused as the requester's mistake (a key too long, a
/// recipient that is not a JID, a delay too large) is theirs to hear about;
/// anything else fails the iq without detail.
fn refused(e: HostError) -> StanzaError {
    match e {
        HostError::Invalid(why) => bad_request(why),
        e => e.into(),
    }
}

/// The attribute `name` of the payload, `bad-request` when it is missing.
fn required<'a>(payload: &'a Element, name: &str) -> Result<&'a str, StanzaError> {
    payload.attr(name).ok_or_else(|| bad_request(format!("<{}/> needs a '{name}' attribute", payload.name)))
}

/// `<prep jid='J'/>`: J as the kernel prepares it, or why it is no JID.
fn prep(iq: &Iq) -> Handled {
    let prepared = waxwing_sdk::jid::prep(required(iq.payload()?, "jid")?)?;
    iq.reply_with(Element::new("prep", NS).with_attr("jid", prepared))
}

/// `<greeting/>`: the declared setting, as the kernel filled it in.
fn greeting(iq: &Iq) -> Handled {
    let config = waxwing_sdk::config();
    let text =
        config.require_str("greeting").map_err(|e| StanzaError::new(Condition::InternalServerError).with_text(e))?;
    iq.reply_with(Element::new("greeting", NS).with_text(text))
}

#[cfg(test)]
mod tests;
