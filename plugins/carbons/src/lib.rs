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
        let mut d = Describe::new("carbons", env!("CARGO_PKG_VERSION"))
            .feature(CARBONS)
            .route(Route::iq().of_type("set").payload(CARBONS, "enable").to(Address::Bare))
            .route(Route::iq().of_type("set").payload(CARBONS, "disable").to(Address::Bare))
            .event(EventKind::SessionEnded)
            .capability(Capability::Mem)
            .capability(Capability::Route)
            .capability(Capability::Sessions);
        // To an account or one of its sessions, or out to another server
        // (what the kernel calls a service address): the sent side matters
        // for all three.
        for address in [Address::Bare, Address::Full, Address::Service] {
            d = d.filter(Route::message().of_type("chat").of_type("normal").to(address).priority(FILTER_PRIORITY));
        }
        d
    }

    fn on_iq(iq: Iq) -> Handled {
        enable::handle(&iq)
    }

    fn on_event(event: Event) -> Result<(), String> {
        match event.kind {
            EventKind::SessionEnded => state::disable(&event.jid).map_err(|e| e.to_string()),
            other => Err(format!("an event this plugin did not subscribe to: {other:?}")),
        }
    }

    fn filter(stanza: Stanza) -> Verdict {
        filter::filter(&stanza)
    }
}

waxwing_sdk::export_plugin!(Carbons);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_feature_routes_and_filters() {
        let d = Carbons::describe().into_wit();
        assert_eq!(d.features, vec![CARBONS.to_string()]);
        assert_eq!(d.routes.len(), 2);
        assert_eq!(d.filters.len(), 3);
        assert!(d.filters.iter().all(|f| f.kind == Kind::Message && f.priority == FILTER_PRIORITY));
        assert_eq!(d.events, vec![EventKind::SessionEnded]);
    }
}
