//! The error an event handler reports back, which the kernel logs.

use std::fmt;

use waxwing_xml::StanzaError;

use crate::error::HostError;
use crate::jid::JidError;
use crate::json::JsonError;

/// Why an event handler failed. The kernel logs it (with the event the SDK
/// names in front of it) and counts it against nothing: the event is gone.
///
/// Built from a message, or with `?` from a [`HostError`], a `String`, a
/// [`StanzaError`], a [`JidError`] or a [`JsonError`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventError(String);

impl EventError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        EventError(message.into())
    }

    /// The same error with `context` in front: `"{context}: {message}"`.
    pub fn context(self, context: impl fmt::Display) -> Self {
        EventError(format!("{context}: {}", self.0))
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.0
    }

    /// What crosses to the kernel: the message after the event it is about
    /// ([`Event::label`]).
    pub(crate) fn report(self, label: &str) -> String {
        format!("{label}: {}", self.0)
    }
}

impl fmt::Display for EventError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for EventError {}

impl From<String> for EventError {
    fn from(message: String) -> Self {
        EventError(message)
    }
}

impl From<&str> for EventError {
    fn from(message: &str) -> Self {
        EventError(message.to_string())
    }
}

impl From<HostError> for EventError {
    fn from(e: HostError) -> Self {
        EventError(e.to_string())
    }
}

impl From<StanzaError> for EventError {
    fn from(e: StanzaError) -> Self {
        EventError(e.to_string())
    }
}

impl From<JidError> for EventError {
    fn from(e: JidError) -> Self {
        EventError(e.to_string())
    }
}

impl From<JsonError> for EventError {
    fn from(e: JsonError) -> Self {
        EventError(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Event;

    fn fails_with_host_error() -> Result<(), EventError> {
        Err(HostError::Quota("keys".into()))?
    }

    fn fails_with_string() -> Result<(), EventError> {
        let r: Result<(), String> = Err("roster unreadable".into());
        r?;
        Ok(())
    }

    #[test]
    fn errors_convert_with_question_mark_and_name_the_event() {
        assert_eq!(fails_with_host_error().unwrap_err().message(), "quota reached: keys");
        let e = fails_with_string().unwrap_err().context("loading roster");
        assert_eq!(e.to_string(), "loading roster: roster unreadable");
        let ended = Event::SessionEnded { jid: "u@h/r".into(), last_presence: None };
        assert_eq!(e.clone().report(&ended.label()), "session-ended (u@h/r): loading roster: roster unreadable");
        let timer = Event::TimerFired { id: 4, data: String::new() };
        assert_eq!(EventError::new("x").report(&timer.label()), "timer-fired (timer 4): x");
        let undeliverable = Event::MessageUndeliverable { message: String::new() };
        assert_eq!(EventError::from("x").report(&undeliverable.label()), "message-undeliverable: x");
    }
}
