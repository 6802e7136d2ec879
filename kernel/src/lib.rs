//! Waxwing: the kernel of an XMPP server whose extensions are sandboxed
//! WebAssembly plugins. See ARCHITECTURE.md for the map of this crate.

pub mod accounts;
pub mod admin;
pub mod blocking;
pub mod c2s;
pub mod cli;
pub mod component;
pub mod config;
pub mod http;
pub mod migrate;
pub mod plugins;
pub mod router;
pub mod s2s;
pub mod sasl;
pub mod server;
pub mod storage;
pub mod stream;
pub mod tenants;
pub mod tls;
pub mod uploads;
pub mod xml;

#[cfg(test)]
mod testutil;
