//! An in-memory fake of the kernel, so a plugin's logic, storage and sends
//! included, is unit-tested natively with `cargo test`. Only compiled for
//! targets other than wasm32, where every host wrapper ([`crate::kv`],
//! [`crate::route`], ...) calls it instead of the kernel.
//!
//! Each thread has its own fake host, and cargo runs each test on a thread of
//! its own, so tests start from an empty host without calling
//! [`FakeHost::reset`]. The fake checks what the kernel checks where a plugin
//! could trip over it (key and value sizes, batch and scan limits, JIDs on
//! the host, grants), but applies `kv` writes at once rather than at the end
//! of the call.
//!
//! ```ignore
//! use waxwing_sdk::testing::FakeHost;
//!
//! #[test]
//! fn stores_the_item_and_pushes_it() {
//!     FakeHost::add_session("juliet@example.org/balcony", Some("<presence/>"));
//!     let iq = Iq(Stanza::from_xml(SET_ITEM, Address::Bare, "example.org").unwrap());
//!     assert!(matches!(Roster::on_iq(iq), Ok(Outcome::Reply(_))));
//!     assert!(waxwing_sdk::kv::get("roster/juliet@example.org/romeo@example.net").unwrap().is_some());
//!     assert_eq!(FakeHost::sent()[0].attr("to"), Some("juliet@example.org/balcony"));
//! }
//! ```

pub(crate) mod calls;
mod fake_host;
mod records;
pub(crate) mod state;

pub use fake_host::FakeHost;
pub use records::{PendingTimer, SentRequest};

use crate::plugin::Plugin;
use crate::ready::Ready;

/// Loads a plugin as the kernel does: its description is declared to the
/// fake host ([`FakeHost::declare`]), then `config` (a JSON object, as the
/// kernel hands it over with defaults filled in) is kept for
/// [`crate::config()`] and passed to [`Plugin::init`].
pub fn init<P: Plugin>(config: &str) -> Result<Ready, String> {
    FakeHost::declare(&P::describe());
    crate::config::load(config, P::init)
}

#[cfg(test)]
mod tests;
