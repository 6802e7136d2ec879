//! Test plugin: panics on `urn:waxwing:test:trap`. Plugins are built with
//! `panic = "abort"`, so the panic is a wasm trap the kernel must contain.

use waxwing_sdk::prelude::*;

const NS: &str = "urn:waxwing:test:trap";

struct Trap;

impl Plugin for Trap {
    fn describe() -> Describe {
        Describe::new("trap", env!("CARGO_PKG_VERSION")).iq_get_host(NS, "")
    }

    fn on_iq(_iq: Iq) -> Handled {
        panic!("trap plugin: trapping as asked");
    }
}

waxwing_sdk::export_plugin!(Trap);
