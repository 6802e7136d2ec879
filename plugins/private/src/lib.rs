//! XEP-0049 private XML storage: elements an account keeps on its server
//! for itself alone (bookmarks, client settings).
//!
//! Setting: `max_bytes`, the largest element accepted (64 KiB).

mod handlers;
mod store;

use waxwing_sdk::prelude::*;

/// Bookmarks and client settings, what clients keep here, are small; 64 KiB
/// leaves room for large bookmark lists without making storage a file store.
const DEFAULT_MAX_BYTES: i64 = 64 * 1024;

struct Private;

impl Plugin for Private {
    fn describe() -> Describe {
        // With no `to` the kernel addresses an iq to the sender's own bare
        // JID; one to another account arrives here too, to be refused.
        Describe::new("private", env!("CARGO_PKG_VERSION"))
            .route(
                Route::iq()
                    .of_types([StanzaType::Get, StanzaType::Set])
                    .payload(handlers::NS, "query")
                    .to(Address::Bare),
            )
            .event(EventKind::UserDeleted)
            .setting_bytes("max_bytes", 1, 16 << 20, DEFAULT_MAX_BYTES, "The largest element stored, in bytes")
            .capability(Capability::Kv)
    }

    fn on_iq(iq: Iq) -> Handled {
        // The kernel always hands over the declared setting; the default is
        // for a call without config, which only a unit test makes.
        let max_bytes = waxwing_sdk::config().require_i64("max_bytes").unwrap_or(DEFAULT_MAX_BYTES);
        handlers::handle(&iq, usize::try_from(max_bytes).unwrap_or(usize::MAX))
    }

    fn on_event(event: Event) -> Result<(), EventError> {
        match event {
            Event::UserDeleted { jid } => {
                store::delete_account(&jid).map_err(|e| EventError::from(e).context("deleting its private storage"))
            }
            _ => Ok(()),
        }
    }
}

waxwing_sdk::export_plugin!(Private);
