//! Write Waxwing XMPP server plugins in Rust.
//!
//! A plugin implements [`Plugin`] and hands it to [`export_plugin!`]; the
//! SDK turns the component-model exports into calls on that trait, stanzas
//! into [`Stanza`]/[`Iq`]/[`Message`]/[`Presence`], and stanza errors in both
//! directions. Host functions are wrapped in [`kv`], [`mem`], [`route`],
//! [`sessions`], [`accounts`], [`timers`] and [`log`], each returning
//! `Result<_, HostError>` so `?` works inside handlers.
//!
//! ```ignore
//! use waxwing_sdk::prelude::*;
//!
//! struct Ping;
//!
//! impl Plugin for Ping {
//!     fn describe() -> Describe {
//!         Describe::new("ping", env!("CARGO_PKG_VERSION")).feature(ns::PING).iq_get_host(ns::PING, "ping")
//!     }
//!
//!     fn on_iq(iq: Iq) -> Handled {
//!         iq.reply_empty()
//!     }
//! }
//!
//! waxwing_sdk::export_plugin!(Ping);
//! ```
//!
//! Everything except the host wrappers is plain Rust and runs natively, so a
//! plugin's logic can be unit-tested with `cargo test` on the host; a host
//! wrapper called outside wasm panics.

// Handlers return `Result<_, StanzaError>` by design; the error is large only
// because it can carry an app-specific condition element, and it is the cold
// path of a call that already crossed a wasm boundary.
#![allow(clippy::result_large_err)]

// `default_bindings_module` below names this crate by its external name, which
// only resolves inside the crate through this alias.
extern crate self as waxwing_sdk;

/// The raw bindings generated from `plugin-abi/wit`. Prefer the wrappers; these
/// are here for what the wrappers do not cover.
#[allow(clippy::all, missing_docs, dead_code)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "plugin",
        path: "../plugin-abi/wit",
        pub_export_macro: true,
        default_bindings_module: "waxwing_sdk::bindings",
        additional_derives: [PartialEq, Eq],
    });
}

mod config;
mod datetime;
mod describe;
mod error;
pub mod forms;
mod host;
pub mod jid;
mod json;
mod plugin;
mod stanza;

pub use config::config;
pub use datetime::format_utc;
pub use describe::{Describe, Route};
pub use error::{HostError, capability_name, stanza_error_from_wit, stanza_error_to_wit};
pub use host::{accounts, domain, filter_scope, kv, log, mem, now_ms, random, route, sessions, timers};
pub use json::{Json, JsonError};
pub use plugin::{Export, Handled, Outcome, Plugin, Verdict};
pub use stanza::{Iq, Message, Presence, Stanza, new_iq, new_message, new_presence, parse_client_xml};

pub use bindings::waxwing::plugin::types::{
    Address, Capability, DiscoItem, Event, EventKind, Identity, StanzaKind as Kind,
};
pub use waxwing_xml::caps;
pub use waxwing_xml::{Element, ErrorType, Node, StanzaError, StanzaErrorCondition as Condition, ns};

/// What almost every plugin imports.
pub mod prelude {
    pub use crate::forms::{DataForm, Field, FieldType, FormKind};
    pub use crate::jid::Jid;
    pub use crate::{
        Address, Capability, Condition, Describe, Element, ErrorType, Event, EventKind, Handled, HostError, Iq, Json,
        Kind, Message, Outcome, Plugin, Presence, Route, Stanza, StanzaError, Verdict, ns,
    };
}

/// Exports a [`Plugin`] implementation as the component's `guest` interface.
/// Use once, at the root of a `cdylib` plugin crate.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        type __WaxwingPluginExport = $crate::Export<$plugin>;
        $crate::bindings::export!(__WaxwingPluginExport with_types_in $crate::bindings);
    };
}
