//! The end-to-end test harness: the real `waxwing` binary ([`Server`]) and a
//! raw XMPP client ([`RawClient`]) that speaks the wire byte for byte, with a
//! SCRAM/PLAIN implementation of its own ([`scram`]).
//!
//! The tests live in `tests/tests/*.rs`; the slixmpp tests in `tests/python/`.

pub mod adhoc;
pub mod client;
pub mod dns;
pub mod frames;
pub mod http;
pub mod scram;
pub mod server;

pub use client::{Mech, RawClient, TIMEOUT, body, check_stream_error, stanza_error_condition, stanza_error_type};
pub use frames::Frame;
pub use server::{Server, shared, shared_listening, waxwing};
pub use waxwing_xml::Element;
