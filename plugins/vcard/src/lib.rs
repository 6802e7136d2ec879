//! XEP-0054 vcard-temp: each account's vCard, stored as the client sent it.
//!
//! Config (optional): `max_bytes`, the largest vCard accepted (64 KiB).

mod handlers;
mod limits;
mod store;

use waxwing_sdk::prelude::*;

struct VCard;

impl Plugin for VCard {
    fn describe() -> Describe {
        Describe::new("vcard", env!("CARGO_PKG_VERSION"))
            .feature(store::NS)
            // With no `to` the kernel addresses an iq to the sender's own
            // bare JID, so both "mine" and "theirs" arrive here.
            .route(Route::iq().of_type("get").payload(store::NS, "vCard").to(Address::Bare))
            .route(Route::iq().of_type("set").payload(store::NS, "vCard").to(Address::Bare))
            .event(EventKind::UserDeleted)
            .capability(Capability::Kv)
            .capability(Capability::Route)
    }

    fn init(config: &Json) -> Result<(), String> {
        limits::max_bytes(config).map(|_| ())
    }

    fn on_iq(iq: Iq) -> Handled {
        if iq.is_set() {
            let max_bytes = limits::max_bytes(&waxwing_sdk::config()).unwrap_or(limits::DEFAULT_MAX_BYTES);
            handlers::set(&iq, max_bytes)
        } else {
            handlers::get(&iq)
        }
    }

    fn on_event(event: Event) -> Result<(), String> {
        match event.kind {
            EventKind::UserDeleted => store::delete(&event.jid).map_err(|e| format!("vCard of {}: {e}", event.jid)),
            _ => Ok(()),
        }
    }
}

waxwing_sdk::export_plugin!(VCard);
