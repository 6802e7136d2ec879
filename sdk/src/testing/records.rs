//! What the fake host recorded, for a test to inspect.

use waxwing_xml::Element;

use crate::event::{Event, IqOutcome};

/// An iq the plugin sent with [`crate::route::request`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentRequest {
    /// The number `route::request` returned.
    pub id: u64,
    /// The iq as the kernel would send it: its `id` replaced by one of the
    /// host's own.
    pub iq: Element,
    /// The timeout asked for.
    pub timeout_ms: u32,
    /// The context to carry back in the response.
    pub context: String,
}

impl SentRequest {
    /// The event the kernel would deliver for this request ending with
    /// `outcome`: hand it to the plugin's `on_event`.
    pub fn answer(&self, outcome: IqOutcome) -> Event {
        Event::IqResponse { request: self.id, context: self.context.clone(), outcome }
    }
}

/// A timer set with [`crate::timers::set`] that has not fired yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingTimer {
    /// The number `timers::set` returned.
    pub id: u64,
    /// When it fires, on the fake clock.
    pub due_ms: u64,
    /// The data it carries.
    pub data: String,
}

impl PendingTimer {
    /// The event the kernel delivers when it fires.
    pub fn event(&self) -> Event {
        Event::TimerFired { id: self.id, data: self.data.clone() }
    }
}
