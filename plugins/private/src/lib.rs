//! XEP-0049 private XML storage: elements an account keeps on its server
//! for itself alone (bookmarks, client settings).
//!
//! Config (optional): `max_bytes`, the largest element accepted (64 KiB).

mod handlers;
mod limits;
mod store;

use waxwing_sdk::prelude::*;

struct Private;

impl Plugin for Private {
    fn describe() -> Describe {
        // With no `to` the kernel addresses an iq to the sender's own bare
        // JID; one to another account arrives here too, to be refused.
        Describe::new("private", env!("CARGO_PKG_VERSION"))
            .route(Route::iq().payload(handlers::NS, "query").of_type("get").to(Address::Bare))
            .route(Route::iq().payload(handlers::NS, "query").of_type("set").to(Address::Bare))
            .event(EventKind::UserDeleted)
            .capability(Capability::Kv)
    }

    fn init(config: &Json) -> Result<(), String> {
        limits::max_bytes(config).map(|_| ())
    }

    fn on_iq(iq: Iq) -> Handled {
        let max_bytes = limits::max_bytes(&waxwing_sdk::config()).unwrap_or(limits::DEFAULT_MAX_BYTES);
        handlers::handle(&iq, max_bytes)
    }

    fn on_event(event: Event) -> Result<(), String> {
        match event.kind {
            EventKind::UserDeleted => {
                store::delete_account(&event.jid).map_err(|e| format!("private storage of {}: {e}", event.jid))
            }
            _ => Ok(()),
        }
    }
}

waxwing_sdk::export_plugin!(Private);
