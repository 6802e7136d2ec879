//! The XML vocabulary shared by the Waxwing kernel and its plugin SDK: an
//! owned element tree, its (de)serialisation, the XMPP namespaces, and the
//! stream and stanza error conditions of RFC 6120.
//!
//! Both sides of the plugin boundary speak in serialized XML strings; keeping
//! one element model here means a stanza a plugin builds reads back in the
//! kernel exactly as it was written.

pub mod caps;
mod element;
mod errors;
pub mod ns;
mod parse;

pub use element::{Element, Node, escape_attr, escape_text};
pub use errors::{ErrorType, StanzaError, StanzaErrorCondition, StreamErrorCondition};
pub use parse::{ParseError, TreeBuilder, TreeLimits, namespace_of, read_attributes, resolve_reference};
