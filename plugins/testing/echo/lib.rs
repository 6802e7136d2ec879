//! Test plugin `echo`, built twice from this one file: crates `echo_v1`
//! (1.0.0) and `echo_v2` (2.0.0) differ only in their Cargo version, which
//! is what the plugin reports, so a hot-swap test sees which one answered.
//!
//! Settings: `fail_init = true` refuses the load; `refuse_migrate = true`
//! makes `migrate` fail, keeping the old version serving.

use waxwing_sdk::prelude::*;

const NS: &str = "urn:waxwing:test:echo";
const VERSION: &str = env!("CARGO_PKG_VERSION");

struct Echo;

impl Plugin for Echo {
    fn describe() -> Describe {
        Describe::new("echo", VERSION)
            .iq_get_host(NS, "")
            .setting_bool("fail_init", false, "Refuse to load, to test a failed init")
            .setting_bool("refuse_migrate", false, "Refuse to take over from another version, to test a failed swap")
    }

    fn init(config: &Json) -> Result<Ready, String> {
        match config.require_bool("fail_init")? {
            true => Err(format!("echo {VERSION} refused to load (fail_init)")),
            false => Ok(Ready::new()),
        }
    }

    fn on_iq(iq: Iq) -> Handled {
        iq.reply_with(Element::new("echo", NS).with_attr("version", VERSION))
    }

    fn migrate(from_version: &str) -> Result<(), String> {
        match waxwing_sdk::config().require_bool("refuse_migrate")? {
            true => Err(format!("echo {VERSION} refused to migrate from {from_version}")),
            false => Ok(()),
        }
    }
}

waxwing_sdk::export_plugin!(Echo);
