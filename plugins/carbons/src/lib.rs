//! XEP-0280 Message Carbons (`urn:xmpp:carbons:2`): a session that enabled
//! carbons gets a copy of what its account's other sessions send and of
//! what the account receives on them, so every device sees the whole
//! conversation.
//!
//! - `enable`: the `<enable/>`/`<disable/>` iqs, per session.
//! - `filter`: the copying, a filter on chat and normal messages.
//! - `eligibility`: which messages are copied; `copies`: to whom, and how.
//! - `state`: the per-session flags in `mem`.

mod copies;
mod eligibility;
mod enable;
mod filter;
mod state;

use waxwing_sdk::prelude::*;

use crate::eligibility::CARBONS;

/// Below `blocking` (100) and `roster` (50): a message they drop or refuse
/// must not have been copied already.
const FILTER_PRIORITY: i32 = 0;

struct Carbons;

impl Plugin for Carbons {
    fn describe() -> Describe {
        Describe::new("carbons", env!("CARGO_PKG_VERSION"))
            .feature(CARBONS)
            .route(Route::iq_set().payload(CARBONS, "enable").to(Address::Bare))
            .route(Route::iq_set().payload(CARBONS, "disable").to(Address::Bare))
            // To an account or one of its sessions, or out to another domain:
            // the sent side matters for all three.
            .filter(
                Route::message()
                    .of_types([StanzaType::Chat, StanzaType::Normal])
                    .to_each([Address::Bare, Address::Full, Address::Elsewhere])
                    .priority(FILTER_PRIORITY),
            )
            // Only accounts with a session that enabled carbons: everyone
            // else's messages skip wasm. The kernel keeps the set.
            .filter_scope(FilterScope::WatchedAccounts)
            .event(EventKind::SessionEnded)
            .capabilities([Capability::Mem, Capability::Route, Capability::Sessions])
    }

    fn on_iq(iq: Iq) -> Handled {
        enable::handle(&iq)
    }

    fn on_event(event: Event) -> Result<(), EventError> {
        if let Event::SessionEnded { jid, .. } = event {
            state::disable(&jid)?;
        }
        Ok(())
    }

    fn filter(stanza: Stanza) -> Verdict {
        filter::filter(&stanza)
    }
}

waxwing_sdk::export_plugin!(Carbons);

#[cfg(test)]
mod tests;
