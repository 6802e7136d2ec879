//! XML on the wire: the incremental stream reader and the stanza type.

mod limited;
mod reader;
mod stanza;

pub use reader::{StreamEvent, StreamHeader, StreamLimits, StreamReadError, StreamReader};
pub use stanza::{Stanza, StanzaKind};
