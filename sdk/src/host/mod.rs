//! Safe wrappers over the host interfaces, one module each. Every call needs
//! its capability granted, except `log`, the clock, `random`, `domain`,
//! `jid` and `filter_scope`; otherwise it returns `HostError::NotGranted`
//! and does nothing.
//!
//! Compiled for wasm32 they call the kernel; compiled for anything else
//! they call the in-memory fake of `waxwing_sdk::testing`, so the code that
//! uses them is unit-tested natively.

pub mod accounts;
pub mod datasets;
pub mod disco;
pub mod filter_scope;
pub mod kv;
pub mod log;
pub mod mem;
mod paging;
pub mod route;
pub mod server;
pub mod sessions;
pub(crate) mod sys;
mod system;
pub mod timers;
pub mod uploads;

pub use system::{domain, is_admin, now_ms, random};

use crate::bindings::waxwing::plugin::types as wit;
use crate::error::HostError;

fn lift<T>(r: Result<T, wit::HostError>) -> Result<T, HostError> {
    r.map_err(HostError::from)
}
