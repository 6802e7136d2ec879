//! Stanzas counted by where they entered and their kind, for `/metrics`.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::xml::StanzaKind;

/// Where a stanza entered the router.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Client = 0,
    Server = 1,
    Component = 2,
    Plugin = 3,
}

impl Source {
    pub const ALL: [Source; 4] = [Source::Client, Source::Server, Source::Component, Source::Plugin];

    pub fn as_str(self) -> &'static str {
        match self {
            Source::Client => "client",
            Source::Server => "server",
            Source::Component => "component",
            Source::Plugin => "plugin",
        }
    }
}

const KINDS: [StanzaKind; 3] = [StanzaKind::Message, StanzaKind::Presence, StanzaKind::Iq];

fn kind_index(kind: StanzaKind) -> usize {
    match kind {
        StanzaKind::Message => 0,
        StanzaKind::Presence => 1,
        StanzaKind::Iq => 2,
    }
}

#[derive(Default)]
pub struct StanzaCounts([[AtomicU64; 3]; 4]);

impl StanzaCounts {
    pub fn count(&self, source: Source, kind: StanzaKind) {
        self.0[source as usize][kind_index(kind)].fetch_add(1, Ordering::Relaxed);
    }

    /// Every (source, kind, count), zeros included.
    pub fn snapshot(&self) -> Vec<(Source, StanzaKind, u64)> {
        Source::ALL
            .iter()
            .flat_map(|s| {
                KINDS.iter().map(move |k| (*s, *k, self.0[*s as usize][kind_index(*k)].load(Ordering::Relaxed)))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_source_and_kind() {
        let c = StanzaCounts::default();
        c.count(Source::Client, StanzaKind::Message);
        c.count(Source::Client, StanzaKind::Message);
        c.count(Source::Server, StanzaKind::Iq);
        let snap = c.snapshot();
        assert_eq!(snap.len(), 12);
        assert!(snap.contains(&(Source::Client, StanzaKind::Message, 2)));
        assert!(snap.contains(&(Source::Server, StanzaKind::Iq, 1)));
        assert!(snap.contains(&(Source::Plugin, StanzaKind::Presence, 0)));
    }
}
