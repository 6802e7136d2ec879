//! XEP-0191 Blocking Command: each account keeps a list of JIDs (domains,
//! bare or full JIDs, domain/resource) it wants nothing to do with. The iq
//! handlers edit the list and push changes to the account's interested
//! resources; a filter keeps stanzas from crossing the block either way.
//!
//! Grants: `kv` (the lists), `mem` (markers, interested resources), `route`
//! (results and pushes), `sessions` (whom to push to).

mod command;
mod enforce;
mod handlers;
mod items;
mod policy;
mod storage;

use waxwing_sdk::prelude::*;

/// Above the roster's (50) and carbons' (0) filters: a blocked stanza
/// should not be copied or counted before it is refused.
const FILTER_PRIORITY: i32 = 100;

struct Blocking;

impl Plugin for Blocking {
    fn describe() -> Describe {
        let mut d = Describe::new("blocking", env!("CARGO_PKG_VERSION"))
            .feature(command::NS)
            // No `to` means the account's own bare JID (RFC 6120 §10.3).
            .route(Route::iq().of_type("get").payload(command::NS, "").to(Address::Bare))
            .route(Route::iq().of_type("set").payload(command::NS, "").to(Address::Bare))
            .event(EventKind::SessionEnded)
            .event(EventKind::UserDeleted)
            .capability(Capability::Kv)
            .capability(Capability::Mem)
            .capability(Capability::Route)
            .capability(Capability::Sessions);
        // Every kind to every address: a blocked party may be a local
        // account, another host, a remote server or a service.
        for kind in [Kind::Message, Kind::Presence, Kind::Iq] {
            for address in [Address::Bare, Address::Full, Address::Host, Address::Service] {
                d = d.filter(Route::new(kind).to(address).priority(FILTER_PRIORITY));
            }
        }
        d
    }

    fn on_iq(iq: Iq) -> Handled {
        handlers::on_iq(&iq)
    }

    fn on_event(event: Event) -> Result<(), String> {
        match event.kind {
            EventKind::SessionEnded => handlers::session_ended(&event.jid),
            EventKind::UserDeleted => handlers::user_deleted(&event.jid),
            _ => Ok(()),
        }
    }

    fn filter(stanza: Stanza) -> Verdict {
        enforce::filter(&stanza)
    }
}

waxwing_sdk::export_plugin!(Blocking);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_every_kind_to_every_address_before_roster_and_carbons() {
        let d = Blocking::describe().into_wit();
        assert_eq!(d.features, vec![command::NS.to_string()]);
        assert_eq!(d.filters.len(), 12);
        assert!(
            d.filters.iter().all(|f| f.priority == FILTER_PRIORITY && f.types.is_empty() && f.payload_ns.is_empty())
        );
        assert!(d.routes.iter().all(|r| r.payload_ns == command::NS && r.to == Address::Bare));
    }
}
