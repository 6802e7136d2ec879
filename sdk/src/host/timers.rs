//! One-shot timers (capability `timers`); each fires
//! [`crate::Event::TimerFired`] with its id and data, no subscription needed.

use super::{lift, sys};
use crate::error::HostError;

/// Fires after `delay_ms` with `data`; returns the id for [`cancel`], also
/// carried by the event.
pub fn set(delay_ms: u64, data: &str) -> Result<u64, HostError> {
    lift(sys::timers::set(delay_ms, data))
}

/// Cancels a timer that has not fired; one that has is fine.
pub fn cancel(id: u64) -> Result<(), HostError> {
    lift(sys::timers::cancel(id))
}
