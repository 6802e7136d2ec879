//! Test plugin: never returns from `urn:waxwing:test:spin`, so the kernel's
//! call deadline (epoch interruption) must stop it. It logs `spinning for
//! <id>` first, so a test can tell when the call is under way.

use std::hint::black_box;

use waxwing_sdk::prelude::*;

const NS: &str = "urn:waxwing:test:spin";

struct Spin;

impl Plugin for Spin {
    fn describe() -> Describe {
        Describe::new("spin", env!("CARGO_PKG_VERSION")).iq_get_host(NS, "")
    }

    fn on_iq(iq: Iq) -> Handled {
        waxwing_sdk::log::info(&format!("spinning for {}", iq.id()));
        // black_box keeps the optimizer from proving the loop empty.
        let mut n: u64 = 0;
        loop {
            n = black_box(n.wrapping_add(1));
        }
    }
}

waxwing_sdk::export_plugin!(Spin);
