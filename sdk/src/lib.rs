//! Write Waxwing XMPP server plugins in Rust, against the plugin contract
//! `waxwing:plugin@2.4.0` (`plugin-abi/wit/plugin.wit`).
//!
//! A plugin implements [`Plugin`] and hands it to [`export_plugin!`]; the
//! SDK turns the component-model exports into calls on that trait: stanzas
//! into [`Stanza`]/[`Iq`]/[`Message`]/[`Presence`], events into [`Event`],
//! stanza errors in both directions. Host functions are wrapped in [`kv`],
//! [`mem`], [`route`], [`sessions`], [`disco`], [`accounts`], [`timers`],
//! [`datasets`], [`filter_scope`], [`jid`] and [`log`], each returning
//! `Result<_, HostError>` so `?` works inside handlers.
//!
//! ```ignore
//! use waxwing_sdk::prelude::*;
//!
//! struct Ping;
//!
//! impl Plugin for Ping {
//!     fn describe() -> Describe {
//!         Describe::new("ping", env!("CARGO_PKG_VERSION"))
//!             .feature(ns::PING)
//!             .route(Route::iq_get().payload(ns::PING, "ping").to_each([Address::Host, Address::Bare]))
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
//! Built for anything but wasm32, the host wrappers call an in-memory fake
//! host (`waxwing_sdk::testing::FakeHost`, only in native builds) instead of
//! the kernel, so a plugin's logic, storage included, is unit-tested with
//! `cargo test`.

#![warn(missing_docs)]
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
        additional_derives: [PartialEq, Eq, Hash],
    });
}

pub mod adhoc;
mod config;
mod datetime;
mod describe;
mod error;
mod event;
mod event_error;
mod export;
pub mod forms;
mod host;
pub mod jid;
mod json;
mod panic_hook;
mod plugin;
mod ready;
mod stanza;
mod stanza_error;
mod stanza_type;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;

pub use crate::jid::{Jid, JidError};
pub use config::config;
pub use datetime::{format_utc, parse_utc};
pub use describe::{Describe, Route};
pub use error::{HostError, capability_name};
pub use event::{Event, IqOutcome};
pub use event_error::EventError;
pub use export::Export;
pub use host::{
    accounts, datasets, disco, domain, filter_scope, is_admin, kv, log, mem, now_ms, random, route, server, sessions,
    timers, uploads,
};
pub use json::{Json, JsonError};
pub use plugin::{Handled, Outcome, Plugin, Verdict};
pub use ready::Ready;
pub use stanza::{Iq, Message, Presence, Stanza, new_iq, new_message, new_presence, parse_client_xml};
pub use stanza_error::{stanza_error_from_wit, stanza_error_to_wit};

pub use bindings::waxwing::plugin::types::{
    Address, Capability, DiscoItem, EventKind, FilterScope, Identity, IntegerRange, Setting, SettingType,
    StanzaKind as Kind, StanzaType, StreamStage as Stage,
};
pub use waxwing_xml::caps;
pub use waxwing_xml::{Element, ErrorType, Node, StanzaError, StanzaErrorCondition as Condition, ns};

/// What almost every plugin imports.
pub mod prelude {
    pub use crate::forms::{DataForm, Field, FieldType, FormKind};
    pub use crate::jid::Jid;
    pub use crate::{
        Address, Capability, Condition, Describe, Element, ErrorType, Event, EventError, EventKind, FilterScope,
        Handled, HostError, Iq, IqOutcome, Json, Kind, Message, Outcome, Plugin, Presence, Ready, Route, Stage, Stanza,
        StanzaError, StanzaType, Verdict, ns,
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
