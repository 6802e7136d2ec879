//! A plugin built against `waxwing:plugin@3.0.0` (see `wit/plugin.wit`, the
//! 2.0 contract with its major raised). Apart from the version it is an
//! ordinary plugin, so a kernel that loads it has failed to check the ABI
//! major version.

wit_bindgen::generate!({
    world: "plugin",
    path: "wit",
});

use exports::waxwing::plugin::guest::Guest;
use waxwing::plugin::types::{Description, Event, FilterScope, Outcome, Ready, Stanza, StanzaError, Verdict};

struct AbiV3;

impl Guest for AbiV3 {
    fn describe() -> Description {
        Description {
            name: "abi_v3".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            features: Vec::new(),
            identities: Vec::new(),
            items: Vec::new(),
            extensions: Vec::new(),
            routes: Vec::new(),
            filters: Vec::new(),
            filter_scope: FilterScope::EveryAccount,
            events: Vec::new(),
            service_subdomain: None,
            capabilities: Vec::new(),
            settings: Vec::new(),
            publishes: Vec::new(),
            reads: Vec::new(),
        }
    }

    fn init(_config: String) -> Result<Ready, String> {
        Ok(Ready { stream_features: Vec::new() })
    }

    fn handle_stanza(_stanza: Stanza) -> Result<Outcome, StanzaError> {
        Ok(Outcome::Pass)
    }

    fn handle_event(_event: Event) -> Result<(), String> {
        Ok(())
    }

    fn filter(_stanza: Stanza) -> Verdict {
        Verdict::Pass
    }

    fn migrate(_from_version: String) -> Result<(), String> {
        Ok(())
    }
}

export!(AbiV3);
