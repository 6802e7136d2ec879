//! What every plugin on this host declared: what a disco plugin aggregates
//! (capability `disco`).

use super::{lift, sys};
use crate::error::HostError;

pub use crate::bindings::waxwing::plugin::disco::HostInfo;

/// The host's domain and every plugin's disco features, identities, items
/// and extensions.
pub fn host() -> Result<HostInfo, HostError> {
    lift(sys::disco::host())
}
