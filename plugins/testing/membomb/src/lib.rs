//! Test plugin: allocates without bound on `urn:waxwing:test:membomb`, so the
//! kernel's memory cap must stop it (the failed allocation aborts: a trap).

use std::hint::black_box;

use waxwing_sdk::prelude::*;

const NS: &str = "urn:waxwing:test:membomb";
const CHUNK: usize = 1 << 20;

struct MemBomb;

impl Plugin for MemBomb {
    fn describe() -> Describe {
        Describe::new("membomb", env!("CARGO_PKG_VERSION")).iq_get_host(NS, "")
    }

    fn on_iq(_iq: Iq) -> Handled {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            // Writing to every page makes the memory real even on hosts that
            // would otherwise hand out untouched pages lazily.
            let mut chunk = vec![0u8; CHUNK];
            for i in (0..CHUNK).step_by(4096) {
                chunk[i] = 1;
            }
            hoard.push(black_box(chunk));
        }
    }
}

waxwing_sdk::export_plugin!(MemBomb);
