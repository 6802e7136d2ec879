//! `host`: a captured log, a settable clock and domain, and deterministic
//! "random" bytes, so tests repeat.

use crate::bindings::waxwing::plugin::host::Level;
use crate::testing::state::{try_with, with};

/// What the kernel takes per call.
const MAX_RANDOM_BYTES: u32 = 1024;

pub(crate) fn log(level: Level, message: &str) {
    try_with(|s| s.logs.push((level, message.to_string())));
}

pub(crate) fn now_ms() -> u64 {
    with(|s| s.now_ms)
}

/// xorshift64*: not secure, which a test does not need, and the same bytes
/// after every reset.
pub(crate) fn random(len: u32) -> Vec<u8> {
    with(|s| {
        (0..len.min(MAX_RANDOM_BYTES))
            .map(|_| {
                s.rng ^= s.rng >> 12;
                s.rng ^= s.rng << 25;
                s.rng ^= s.rng >> 27;
                (s.rng.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
            })
            .collect()
    })
}

pub(crate) fn domain() -> String {
    with(|s| s.domain.clone())
}

pub(crate) fn is_admin(jid: &str) -> bool {
    let bare = jid.split('/').next().unwrap_or_default();
    with(|s| s.admins.iter().any(|a| a == bare))
}
