//! Test plugin `echo`, built twice from this one file: crates `echo_v1`
//! (1.0.0) and `echo_v2` (2.0.0) differ only in their Cargo version, which
//! is what the plugin reports, so a hot-swap test sees which one answered.
//!
//! Config: `fail_init = true` refuses the load; `refuse_migrate = true` makes
//! `migrate` fail, keeping the old version serving.

use waxwing_sdk::prelude::*;

const NS: &str = "urn:waxwing:test:echo";
const VERSION: &str = env!("CARGO_PKG_VERSION");

struct Echo;

impl Plugin for Echo {
    fn describe() -> Describe {
        Describe::new("echo", VERSION).iq_get_host(NS, "")
    }

    fn init(config: &Json) -> Result<(), String> {
        match config.get("fail_init").as_bool() {
            Some(true) => Err(format!("echo {VERSION} refused to load (fail_init)")),
            _ => Ok(()),
        }
    }

    fn on_iq(iq: Iq) -> Handled {
        iq.reply_with(Element::new("echo", NS).with_attr("version", VERSION))
    }

    fn migrate(from_version: &str) -> Result<(), String> {
        match waxwing_sdk::config().get("refuse_migrate").as_bool() {
            Some(true) => Err(format!("echo {VERSION} refused to migrate from {from_version}")),
            _ => Ok(()),
        }
    }
}

waxwing_sdk::export_plugin!(Echo);
