//! RFC 6121 rosters, presence subscriptions and the server's share of
//! presence; XEP-0237 roster versioning, XEP-0012 last activity of
//! contacts, XEP-0186 invisibility. One plugin, because all of them read
//! the roster and a plugin's storage is its own. Publishes who is
//! subscribed to whom as the `subscriptions` dataset, and the groups of
//! each contact as the `groups` dataset ([`dataset`]).

mod dataset;
mod invisibility;
mod item;
mod last_activity;
mod migrate;
mod presence;
mod roster_iq;
mod session_state;
mod stanzas;
mod storage;
mod subscription;
mod subscriptions;

use waxwing_sdk::prelude::*;

use crate::invisibility::NS_INVISIBLE;
use crate::item::NS_ROSTER;
use crate::stanzas::NS_LAST;
use crate::subscription::Request;

/// XEP-0237 and RFC 6121 §3.4 are announced as stream features.
const ROSTERVER_FEATURE: &str = "<ver xmlns='urn:xmpp:features:rosterver'/>";
const PRE_APPROVAL_FEATURE: &str = "<sub xmlns='urn:xmpp:features:pre-approval'/>";
const SUBSCRIPTION_TYPES: [StanzaType; 4] =
    [StanzaType::Subscribe, StanzaType::Subscribed, StanzaType::Unsubscribe, StanzaType::Unsubscribed];
/// Above carbons (0), below blocking (100): a blocked stanza never changes a roster.
const FILTER_PRIORITY: i32 = 50;
/// What one call may spend on the dataset backfill, well inside the
/// kernel's default call deadline (200 ms).
const BACKFILL_BUDGET_MS: u64 = 50;

struct Roster;

impl Plugin for Roster {
    fn describe() -> Describe {
        Describe::new(dataset::PLUGIN, env!("CARGO_PKG_VERSION"))
            .feature(NS_INVISIBLE)
            .route(
                Route::iq().of_types([StanzaType::Get, StanzaType::Set]).payload(NS_ROSTER, "query").to(Address::Bare),
            )
            .route(Route::iq_get().payload(NS_LAST, "query").to(Address::Bare))
            .route(Route::iq_set().payload(NS_INVISIBLE, "").to_each([Address::Bare, Address::Host]))
            .route(Route::presence().of_type(StanzaType::Probe).to(Address::Bare))
            .route(Route::presence().of_types(SUBSCRIPTION_TYPES).to(Address::Bare))
            // Outbound subscriptions and directed presence, wherever addressed.
            .filter(
                Route::presence()
                    .of_types([StanzaType::Available, StanzaType::Unavailable])
                    .of_types(SUBSCRIPTION_TYPES)
                    .to_anywhere()
                    .priority(FILTER_PRIORITY),
            )
            .event(EventKind::SessionStarted)
            .event(EventKind::PresenceChanged)
            .event(EventKind::SessionEnded)
            .event(EventKind::UserDeleted)
            .capabilities([Capability::Kv, Capability::Mem, Capability::Route, Capability::Sessions])
            .setting_int(
                "max_items",
                1,
                storage::HIGHEST_MAX_ITEMS,
                storage::DEFAULT_MAX_ITEMS,
                "Most contacts one roster may list",
            )
            .publishes(dataset::NAME, dataset::DOC)
            .publishes(dataset::GROUPS, dataset::GROUPS_DOC)
    }

    fn init(_config: &Json) -> Result<Ready, String> {
        // The kernel calls `migrate` only on a hot swap: a server upgraded
        // in place and restarted gets its dataset from here.
        backfill("init");
        Ok(Ready::new()
            .stream_feature(ROSTERVER_FEATURE, Stage::AfterAuth)
            .stream_feature(PRE_APPROVAL_FEATURE, Stage::AfterAuth))
    }

    fn migrate(_from_version: &str) -> Result<(), String> {
        backfill("migrate");
        Ok(())
    }

    fn on_iq(iq: Iq) -> Handled {
        match iq.payload_ns() {
            NS_ROSTER => roster_iq::handle(iq),
            NS_LAST => last_activity::handle(iq),
            NS_INVISIBLE => invisibility::handle(iq),
            _ => Ok(Outcome::Pass),
        }
    }

    fn on_presence(presence: Presence) -> Handled {
        if presence.stanza_type() == StanzaType::Probe {
            return presence::answer_probe(&presence);
        }
        match Request::from_type(presence.stanza_type()) {
            Some(request) => subscriptions::inbound(&presence, request),
            None => Ok(Outcome::Pass),
        }
    }

    fn filter(stanza: Stanza) -> Verdict {
        match Request::from_type(stanza.stanza_type()) {
            Some(request) => subscriptions::outbound(&stanza, request),
            None => presence::track_directed(&stanza),
        }
    }

    fn on_event(event: Event) -> Result<(), EventError> {
        backfill("an event");
        match event {
            // A session that replaced another with the same resource inherits
            // nothing of it: the kernel reports no end for the replaced one.
            Event::SessionStarted { jid } => session_state::forget(&jid)?,
            Event::PresenceChanged { jid, presence } => presence::changed(&jid, &presence)?,
            Event::SessionEnded { jid, .. } => presence::ended(&jid)?,
            Event::UserDeleted { jid } => subscriptions::forget_user(&jid)?,
            _ => {}
        }
        Ok(())
    }
}

/// Takes the dataset backfill on within the budget. A failure is logged,
/// not passed on: the roster serves without it, and the next call retries.
fn backfill(during: &str) {
    if let Err(e) = dataset::backfill(BACKFILL_BUDGET_MS) {
        waxwing_sdk::log::warn(&format!("writing the roster datasets during {during}: {e}"));
    }
}

waxwing_sdk::export_plugin!(Roster);

#[cfg(test)]
mod tests;
