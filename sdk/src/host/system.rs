//! The clock, randomness and the host's name. Always available.

use super::sys;

/// The most random bytes the host gives per call.
const MAX_RANDOM_PER_CALL: usize = 1024;

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    sys::host::now_ms()
}

/// `len` cryptographically secure random bytes; the host gives at most 1024
/// per call, so larger requests are made in several. Should the host's
/// source fail, fewer come back: short, never predictable.
pub fn random(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        let want = (len - out.len()).min(MAX_RANDOM_PER_CALL) as u32;
        let chunk = sys::host::random(want);
        if chunk.is_empty() {
            break;
        }
        out.extend_from_slice(&chunk);
    }
    out.truncate(len);
    out
}

/// This virtual host's domain.
pub fn domain() -> String {
    sys::host::domain()
}

/// Whether `jid` (bare or full) is one of this host's admins (its config's
/// `admins`).
pub fn is_admin(jid: &str) -> bool {
    sys::host::is_admin(jid)
}
