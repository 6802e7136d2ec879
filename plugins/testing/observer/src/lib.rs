//! Test plugin `observer`: drives the host interfaces no shipped plugin uses
//! yet (events, timers, filters, `route.send`, `sessions.of`, `kv.batch`)
//! so the end-to-end tests can watch them work. Namespace
//! `urn:waxwing:test:observer`, iqs addressed to the host:
//!
//! - Events `session-started`, `session-ended`, `presence-changed`,
//!   `user-created` and `user-deleted` each append `"<kind> <jid>"` to a log
//!   in `kv`; `<log/>` (get) answers
//!   `<log count='n'><entry>session-started a@h/r</entry>...</log>`.
//! - `<timer ms='N'/>` (set) answers at once and, N ms later, sends the
//!   requester `<message type='headline'><fired/></message>` from the host.
//! - `<sessions jid='user@host'/>` (get) answers
//!   `<sessions jid='..'><session jid='..' priority='..' available='..'/></sessions>`.
//! - A filter on messages to accounts: body `drop me` is dropped,
//!   `rewrite me` becomes `rewritten`, `reject me` is refused with
//!   `policy-violation`; anything else passes.
//! - `<say to='jid'>text</say>` (set) sends `to` a chat message with that
//!   body from the host: the plugin's own sends skip its own filter, so
//!   `drop me` said this way arrives.
//! - `<scope><watch>user@host</watch>...</scope>` (set) watches those
//!   accounts and restricts the filter to them (`filter-scope`): messages
//!   between other accounts then pass without the filter being called.
//! - It declares the stream feature `<observed xmlns='urn:waxwing:test:observer'/>`,
//!   offered after authentication and absent from disco.

use waxwing_sdk::kv::{self, Op};
use waxwing_sdk::prelude::*;
use waxwing_sdk::sessions::SessionInfo;
use waxwing_sdk::{Node, route, sessions, timers};

const NS: &str = "urn:waxwing:test:observer";
/// Log entries live under this prefix, so one `scan` reads them in order.
const LOG_PREFIX: &str = "log/";
/// How many entries were appended; written in the same batch as each entry.
const COUNT_KEY: &str = "count";
/// Entries read per `kv.scan`: small enough that paging is exercised.
const SCAN_PAGE: u32 = 100;
/// A `<log/>` reply stops here (flagged `truncated`) so that it stays well
/// under the kernel's stanza size limit whatever the log holds.
const MAX_REPLY_ENTRIES: usize = 1000;

const EVENTS: [EventKind; 5] = [
    EventKind::SessionStarted,
    EventKind::SessionEnded,
    EventKind::PresenceChanged,
    EventKind::UserCreated,
    EventKind::UserDeleted,
];

struct Observer;

impl Plugin for Observer {
    fn describe() -> Describe {
        let mut d = Describe::new("observer", env!("CARGO_PKG_VERSION"))
            .iq_get_host(NS, "log")
            .iq_get_host(NS, "sessions")
            .iq_set_host(NS, "timer")
            .iq_set_host(NS, "say")
            .iq_set_host(NS, "scope")
            .feature("<observed xmlns='urn:waxwing:test:observer'/>")
            // Any message type, to an account or one of its resources: what a
            // spam or policy filter would look at.
            .filter(Route::message().to(Address::Bare))
            .filter(Route::message().to(Address::Full))
            // Timers fire whether or not this is declared; declaring it says
            // what `on_event` must be ready for.
            .event(EventKind::TimerFired)
            .capability(Capability::Kv)
            .capability(Capability::Route)
            .capability(Capability::Sessions)
            .capability(Capability::Timers);
        for kind in EVENTS {
            d = d.event(kind);
        }
        d
    }

    fn on_iq(iq: Iq) -> Handled {
        match (iq.stanza_type(), iq.payload_name()) {
            ("get", "log") => iq.reply_with(read_log()?),
            ("get", "sessions") => list_sessions(&iq),
            ("set", "timer") => set_timer(&iq),
            ("set", "say") => say(&iq),
            ("set", "scope") => scope(&iq),
            // The routes admit nothing else; should they ever, say so.
            _ => Err(Condition::FeatureNotImplemented.into()),
        }
    }

    fn on_event(event: Event) -> Result<(), String> {
        match event.kind {
            EventKind::TimerFired => fire(&event.data),
            kind => match kind_name(kind) {
                Some(name) => append(&log_line(name, &event.jid)),
                None => Err(format!("an event this plugin did not subscribe to: {kind:?}")),
            },
        }
    }

    fn filter(stanza: Stanza) -> Verdict {
        match stanza.element() {
            Ok(el) => decide(el),
            // The kernel parsed the stanza before handing it over, so this
            // cannot happen; were it to, judging the message is not this
            // test filter's job.
            Err(_) => Verdict::Pass,
        }
    }
}

fn bad_request(text: impl Into<String>) -> StanzaError {
    StanzaError::new(Condition::BadRequest).with_text(text)
}

/// The WIT name of a logged event kind; `None` for the ones not logged.
fn kind_name(kind: EventKind) -> Option<&'static str> {
    Some(match kind {
        EventKind::SessionStarted => "session-started",
        EventKind::SessionEnded => "session-ended",
        EventKind::PresenceChanged => "presence-changed",
        EventKind::UserCreated => "user-created",
        EventKind::UserDeleted => "user-deleted",
        EventKind::MessageUndeliverable | EventKind::TimerFired => return None,
    })
}

fn log_line(kind: &str, jid: &str) -> String {
    format!("{kind} {jid}")
}

/// The key of entry `seq`. Zero-padded so key order is append order. The
/// suffix keeps two entries apart should concurrent events (two sessions'
/// tasks, two instances) read the same count: `kv` has no compare-and-swap,
/// so both would otherwise write one key and an entry would be lost.
fn entry_key(seq: u64, suffix: &str) -> String {
    format!("{LOG_PREFIX}{seq:020}/{suffix}")
}

/// The stored count, decimal text; a missing one is zero.
fn parse_count(stored: Option<&[u8]>) -> Result<u64, String> {
    match stored {
        None => Ok(0),
        Some(bytes) => std::str::from_utf8(bytes)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("the stored count {:?} is not a number", String::from_utf8_lossy(bytes))),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Appends one entry and bumps the count in one atomic batch: a reader never
/// sees an entry the count does not include, nor the reverse.
fn append(line: &str) -> Result<(), String> {
    let stored = kv::get(COUNT_KEY).map_err(|e| e.to_string())?;
    let seq = parse_count(stored.as_deref())? + 1;
    let key = entry_key(seq, &hex(&waxwing_sdk::random(4)));
    kv::batch(&[
        Op::Put(key.into_bytes(), line.as_bytes().to_vec()),
        Op::Put(COUNT_KEY.as_bytes().to_vec(), seq.to_string().into_bytes()),
    ])
    .map_err(|e| e.to_string())
}

fn read_log() -> Result<Element, StanzaError> {
    let count = parse_count(kv::get(COUNT_KEY)?.as_deref())
        .map_err(|e| StanzaError::new(Condition::InternalServerError).with_text(e))?;
    // One past the cap, so that a full reply can tell "exactly the cap" from
    // "more than fits". Only an empty page ends the log: the kernel may cut
    // a page short when its values are large.
    let mut entries: Vec<kv::Entry> = Vec::new();
    while entries.len() <= MAX_REPLY_ENTRIES {
        let after = entries.last().map(|(k, _)| k.clone()).unwrap_or_default();
        let want = (MAX_REPLY_ENTRIES + 1 - entries.len()).min(SCAN_PAGE as usize) as u32;
        let page = kv::scan(LOG_PREFIX, after, want)?;
        if page.is_empty() {
            break;
        }
        entries.extend(page);
    }
    let truncated = entries.len() > MAX_REPLY_ENTRIES;
    entries.truncate(MAX_REPLY_ENTRIES);
    Ok(log_element(count, entries.iter().map(|(_, v)| String::from_utf8_lossy(v).into_owned()), truncated))
}

fn log_element(count: u64, lines: impl Iterator<Item = String>, truncated: bool) -> Element {
    let mut el = Element::new("log", NS).with_attr("count", count.to_string());
    if truncated {
        el.set_attr("truncated", "true");
    }
    for line in lines {
        el.push_child(Element::new("entry", NS).with_text(line));
    }
    el
}

fn list_sessions(iq: &Iq) -> Handled {
    let payload = iq.payload()?;
    let bare = payload.attr("jid").ok_or_else(|| bad_request("<sessions/> needs a 'jid' attribute"))?;
    let list = match sessions::of(bare) {
        Ok(list) => list,
        // The kernel refuses what is not a bare account JID on this host:
        // the requester's mistake, so it hears why.
        Err(HostError::Invalid(why)) => return Err(bad_request(why)),
        Err(e) => return Err(e.into()),
    };
    iq.reply_with(sessions_element(bare, &list))
}

fn sessions_element(bare: &str, list: &[SessionInfo]) -> Element {
    let mut el = Element::new("sessions", NS).with_attr("jid", bare);
    for s in list {
        el.push_child(
            Element::new("session", NS)
                .with_attr("jid", s.jid.clone())
                .with_attr("priority", s.priority.to_string())
                .with_attr("available", if s.available { "true" } else { "false" }),
        );
    }
    el
}

fn set_timer(iq: &Iq) -> Handled {
    let payload = iq.payload()?;
    let ms = payload
        .attr("ms")
        .ok_or_else(|| bad_request("<timer/> needs an 'ms' attribute"))?
        .parse::<u64>()
        .map_err(|_| bad_request("'ms' must be a whole number of milliseconds"))?;
    // The timer outlives this call and this instance, so who to tell travels
    // with it as its data.
    match timers::set(ms, iq.from()) {
        Ok(_) => iq.reply_empty(),
        Err(HostError::Invalid(why)) => Err(bad_request(why)),
        Err(e) => Err(e.into()),
    }
}

fn fired_message(domain: &str, to: &str) -> Element {
    waxwing_sdk::new_message(to, "headline").with_attr("from", domain).with_child(Element::new("fired", NS))
}

fn scope(iq: &Iq) -> Handled {
    for watch in iq.payload()?.elements().filter(|e| e.is("watch", NS)) {
        waxwing_sdk::filter_scope::watch(&watch.text(), true)?;
    }
    waxwing_sdk::filter_scope::restrict();
    iq.reply_empty()
}

fn say(iq: &Iq) -> Handled {
    let payload = iq.payload()?;
    let to = payload.attr("to").ok_or_else(|| bad_request("<say/> needs a 'to'"))?;
    let message =
        waxwing_sdk::new_message(to, "chat").with_child(Element::new("body", ns::CLIENT).with_text(payload.text()));
    route::send(&message)?;
    iq.reply_empty()
}

fn fire(requester: &str) -> Result<(), String> {
    if waxwing_sdk::jid::Jid::parse(requester).is_none() {
        return Err(format!("a timer fired for {requester:?}, which is not a JID"));
    }
    route::send(&fired_message(&waxwing_sdk::domain(), requester)).map_err(|e| e.to_string())
}

/// The filter's verdict on a message, by its first body.
fn decide(message: &Element) -> Verdict {
    let body = message.child("body", ns::CLIENT).map(Element::text);
    match body.as_deref() {
        Some("drop me") => Verdict::Drop,
        Some("rewrite me") => {
            let mut out = message.clone();
            if let Some(b) = out.child_mut("body", ns::CLIENT) {
                b.children = vec![Node::Text("rewritten".into())];
            }
            Verdict::Rewrite(out)
        }
        Some("reject me") => Verdict::Reject(
            StanzaError::new(Condition::PolicyViolation).with_text("the observer test filter refuses this body"),
        ),
        _ => Verdict::Pass,
    }
}

waxwing_sdk::export_plugin!(Observer);

#[cfg(test)]
mod tests {
    use super::*;

    fn message(body: &str) -> Element {
        Element::parse(&format!(
            "<message xmlns='jabber:client' from='a@h/r' to='b@h' type='chat'><body>{body}</body></message>"
        ))
        .unwrap()
    }

    #[test]
    fn filter_verdicts_follow_the_body() {
        assert_eq!(decide(&message("drop me")), Verdict::Drop);
        assert_eq!(decide(&message("hello")), Verdict::Pass);
        assert_eq!(decide(&message("drop me please")), Verdict::Pass);
        let Verdict::Reject(e) = decide(&message("reject me")) else { panic!("expected a rejection") };
        assert_eq!(e.condition, Condition::PolicyViolation);
        let Verdict::Rewrite(out) = decide(&message("rewrite me")) else { panic!("expected a rewrite") };
        assert_eq!(out.child("body", ns::CLIENT).map(Element::text).as_deref(), Some("rewritten"));
        assert_eq!(out.attr("from"), Some("a@h/r"));
        assert_eq!(out.attr("to"), Some("b@h"));
        let no_body = Element::parse("<message xmlns='jabber:client' to='b@h'/>").unwrap();
        assert_eq!(decide(&no_body), Verdict::Pass);
    }

    #[test]
    fn keys_sort_in_append_order() {
        assert_eq!(entry_key(7, "ab"), "log/00000000000000000007/ab");
        assert!(entry_key(9, "ff") < entry_key(10, "00"));
        assert_eq!(hex(&[0, 0xab, 0x10]), "00ab10");
    }

    #[test]
    fn counts_parse_or_say_why_not() {
        assert_eq!(parse_count(None), Ok(0));
        assert_eq!(parse_count(Some(b"41")), Ok(41));
        assert!(parse_count(Some(b"x")).unwrap_err().contains("not a number"));
    }

    #[test]
    fn replies_have_the_documented_shape() {
        let log =
            log_element(2, ["user-created a@h".to_string(), log_line("session-started", "a@h/r")].into_iter(), false);
        assert_eq!(
            log.to_xml(),
            "<log xmlns='urn:waxwing:test:observer' count='2'><entry>user-created a@h</entry>\
             <entry>session-started a@h/r</entry></log>"
        );
        let s = sessions_element(
            "a@h",
            &[SessionInfo { jid: "a@h/r".into(), priority: -1, available: true, presence: String::new() }],
        );
        assert_eq!(
            s.to_xml(),
            "<sessions xmlns='urn:waxwing:test:observer' jid='a@h'>\
             <session jid='a@h/r' priority='-1' available='true'/></sessions>"
        );
        assert_eq!(
            fired_message("h", "a@h/r").to_xml_in(ns::CLIENT),
            "<message to='a@h/r' type='headline' from='h'><fired xmlns='urn:waxwing:test:observer'/></message>"
        );
        assert_eq!(kind_name(EventKind::TimerFired), None);
        assert_eq!(kind_name(EventKind::UserDeleted), Some("user-deleted"));
    }
}
