//! XEP-0191 Blocking Command: each account keeps a list of JIDs (domains,
//! bare or full JIDs, domain/resource) it wants nothing to do with. The iq
//! handlers edit the list, push changes to the account's interested
//! resources and tell subscribed contacts the user went away or came back;
//! a filter, which the kernel calls only for accounts with a list, keeps
//! stanzas from crossing the block either way.

mod command;
mod enforce;
mod handlers;
mod items;
mod policy;
mod presence;
mod storage;

use waxwing_sdk::prelude::*;

/// Above the roster's (50) and carbons' (0) filters: a blocked stanza
/// should not be copied or counted before it is refused.
const FILTER_PRIORITY: i32 = 100;
/// What one call may spend rebuilding the watched accounts, well inside
/// the kernel's default call deadline (200 ms).
const REBUILD_BUDGET_MS: u64 = 50;

struct Blocking;

impl Plugin for Blocking {
    fn describe() -> Describe {
        let mut d = Describe::new("blocking", env!("CARGO_PKG_VERSION"))
            .feature(command::NS)
            // No `to` means the account's own bare JID (RFC 6120 §10.3).
            .route(Route::iq().of_types([StanzaType::Get, StanzaType::Set]).payload(command::NS, "").to(Address::Bare))
            .filter_scope(FilterScope::WatchedAccounts)
            .event(EventKind::SessionEnded)
            .event(EventKind::UserDeleted)
            .capabilities([Capability::Kv, Capability::Mem, Capability::Route, Capability::Sessions])
            .reads(presence::ROSTER, presence::SUBSCRIPTIONS);
        // Every kind to every address: a blocked party may be a local
        // account, another host, a remote server or a service.
        for kind in [Kind::Message, Kind::Presence, Kind::Iq] {
            d = d.filter(Route::new(kind).to_anywhere().priority(FILTER_PRIORITY));
        }
        d
    }

    fn init(_config: &Json) -> Result<Ready, String> {
        rebuild_scope("init");
        Ok(Ready::new())
    }

    fn migrate(_from_version: &str) -> Result<(), String> {
        rebuild_scope("migrate");
        Ok(())
    }

    fn on_iq(iq: Iq) -> Handled {
        rebuild_scope("an iq");
        handlers::on_iq(&iq)
    }

    fn on_event(event: Event) -> Result<(), EventError> {
        rebuild_scope("an event");
        match event {
            // A resource that is gone gets no more pushes; a new one of the
            // same name must ask again.
            Event::SessionEnded { jid, .. } => storage::forget_interest(&jid)?,
            // A deleted account's list goes with it, so that an account
            // created later under the same name starts with nothing blocked.
            Event::UserDeleted { jid } => drop(storage::remove_all(&jid)?),
            _ => {}
        }
        Ok(())
    }

    fn filter(stanza: Stanza) -> Verdict {
        enforce::filter(&stanza)
    }
}

/// Takes the rebuild of the watched accounts on within the budget. A
/// failure is logged, not passed on: the next call retries.
fn rebuild_scope(during: &str) {
    if let Err(e) = storage::rebuild_scope(REBUILD_BUDGET_MS) {
        waxwing_sdk::log::warn(&format!("watching the accounts with a blocklist during {during}: {e}"));
    }
}

waxwing_sdk::export_plugin!(Blocking);

#[cfg(test)]
mod tests;
