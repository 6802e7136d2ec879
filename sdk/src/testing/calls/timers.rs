//! `timers` as a list of pending timers on the fake clock.

use crate::Capability;
use crate::bindings::waxwing::plugin::types::HostError;
use crate::testing::records::PendingTimer;
use crate::testing::state::with;

pub(crate) fn set(delay_ms: u64, data: &str) -> Result<u64, HostError> {
    with(|s| {
        s.need(Capability::Timers)?;
        let id = s.next_timer;
        s.next_timer += 1;
        s.timers.push(PendingTimer { id, due_ms: s.now_ms.saturating_add(delay_ms), data: data.to_string() });
        Ok(id)
    })
}

pub(crate) fn cancel(id: u64) -> Result<(), HostError> {
    with(|s| {
        s.need(Capability::Timers)?;
        s.timers.retain(|t| t.id != id);
        Ok(())
    })
}
