//! XEP-0163 Personal Eventing Protocol: the pubsub engine (`pubsub-engine`)
//! serving every account's bare JID as its own pubsub service.
//!
//! Nodes appear on first publish (configured by the publish-options);
//! notifications go to the account's sessions and its contacts' sessions
//! whose verified caps ask for `<node>+notify` (the caps plugin's dataset),
//! and a contact coming online gets the newest items it asks for
//! (`online.rs`); contacts on other servers alike, from the presence they
//! send (`remote.rs`). The account's bare JID answers disco as the service
//! (`disco.rs`). XEP-0398: avatars published here reach vcard-temp and back
//! (`avatar.rs`).
//!
//! Settings: `max_items` (the most items a node may keep; `max` means
//! this), `max_payload_bytes`.

mod avatar;
mod disco;
mod online;
mod remote;

use pubsub_engine::{self as engine, Limits, Service};
use waxwing_sdk::jid;
use waxwing_sdk::prelude::*;
use waxwing_sdk::sessions;

/// The PEP service of `bare`.
pub fn service(bare: &str) -> Service {
    let c = waxwing_sdk::config();
    let int = |k: &str, d: u64| c.get(k).as_i64().and_then(|v| u64::try_from(v).ok()).unwrap_or(d);
    let limits = Limits {
        max_items: int("max_items", 10_000),
        default_max_items: 1,
        max_payload_bytes: int("max_payload_bytes", 262_144),
    };
    Service::pep(bare, limits)
}

/// The account an iq is for: its `to`, or the sender's own without one.
fn account_of(iq: &Iq) -> String {
    let to = iq.to();
    if jid::node(to).is_some() { jid::bare(to).to_string() } else { jid::bare(iq.from()).to_string() }
}

fn event_error(e: impl std::fmt::Debug) -> EventError {
    EventError::new(format!("{e:?}"))
}

struct Pep;

impl Plugin for Pep {
    fn describe() -> Describe {
        let d = Describe::new("pep", env!("CARGO_PKG_VERSION"))
            .identity("pubsub", "pep", "")
            .route(Route::iq().payload(engine::NS, "pubsub").to(Address::Bare))
            .route(Route::iq().payload(engine::NS_OWNER, "pubsub").to(Address::Bare))
            // Above the disco plugin's answer for accounts: this one adds PEP.
            .route(Route::iq_get().payload(ns::DISCO_INFO, "query").to(Address::Bare).priority(10))
            .route(Route::iq_get().payload(ns::DISCO_ITEMS, "query").to(Address::Bare).priority(10))
            // Presence from other servers only (`remote.rs`).
            .filter(remote::route())
            .filter_scope(FilterScope::WatchedAccounts)
            .event(EventKind::PresenceChanged)
            .event(EventKind::SessionEnded)
            .event(EventKind::UserDeleted)
            .capabilities([
                Capability::Kv,
                Capability::Mem,
                Capability::Route,
                Capability::Sessions,
                Capability::Timers,
            ])
            .reads(engine::access::ROSTER, engine::access::SUBSCRIPTIONS)
            .reads(engine::access::ROSTER, engine::access::GROUPS)
            .reads(engine::notify::CAPS_PLUGIN, engine::notify::CAPS_DATASET)
            .setting_int("max_items", 1, 1_000_000, 10_000, "The most items a node may keep; a node's `max` is this")
            .setting_bytes("max_payload_bytes", 256, 1 << 20, 262_144, "The largest item payload");
        engine::feature_uris(true).iter().fold(d, |d, f| d.feature(f))
    }

    fn init(_config: &Json) -> Result<Ready, String> {
        remote::watch().map_err(|e| format!("watching presence from other servers: {e}"))?;
        Ok(Ready::new())
    }

    fn filter(stanza: Stanza) -> Verdict {
        remote::presence(&stanza)
    }

    fn on_iq(iq: Iq) -> Handled {
        let account = account_of(&iq);
        if !sessions::account_exists(&account)? {
            return Err(Condition::ServiceUnavailable.into());
        }
        let service = service(&account);
        match iq.payload_ns() {
            ns::DISCO_INFO | ns::DISCO_ITEMS => disco::answer(&service, &iq),
            _ => {
                let reply = engine::handle_iq(&service, &iq)?;
                if let Err(e) = avatar::published(&service, &iq) {
                    // The publish stands; only the vCard copy failed.
                    waxwing_sdk::log::warn(&format!("{account}: avatar not copied to the vCard: {e:?}"));
                }
                Ok(reply)
            }
        }
    }

    fn on_event(event: Event) -> Result<(), EventError> {
        match event {
            Event::PresenceChanged { jid, presence } => online::presence(&jid, &presence).map_err(event_error),
            Event::TimerFired { data, .. } if remote::is_timer(&data) => remote::retry(&data).map_err(event_error),
            Event::TimerFired { data, .. } => online::retry(&data).map_err(event_error),
            Event::SessionEnded { jid, .. } => online::ended(&jid).map_err(event_error),
            Event::UserDeleted { jid } => {
                remote::account_deleted(&jid).map_err(event_error)?;
                pubsub_engine::store::forget(&service(&jid)).map_err(event_error)
            }
            Event::IqResponse { context, outcome, .. } => {
                avatar::answered(&context, &outcome).map(|_| ()).map_err(event_error)
            }
            _ => Ok(()),
        }
    }
}

waxwing_sdk::export_plugin!(Pep);

#[cfg(test)]
mod tests;
