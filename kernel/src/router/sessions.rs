//! The session table of one virtual host: bound resources by account.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use jid::{FullJid, ResourcePart};
use tokio::sync::mpsc;
use waxwing_xml::StreamErrorCondition;

use crate::plugins::SessionInfo;

/// What a session's writer is asked to do.
#[derive(Debug, Clone)]
pub enum Outbound {
    /// A serialized stanza, shared by every recipient of a fan-out.
    Stanza(Arc<str>),
    /// Close the stream with this error.
    Close(StreamErrorCondition, Option<String>),
}

#[derive(Debug, Default, Clone)]
pub struct PresenceState {
    pub available: bool,
    pub priority: i8,
    pub last: Option<Arc<str>>,
}

/// A bound client resource.
pub struct Session {
    pub id: u64,
    pub jid: FullJid,
    tx: mpsc::UnboundedSender<Outbound>,
    presence: Mutex<PresenceState>,
    /// The client's address, for `waxwing sessions`; set once after binding.
    peer: OnceLock<SocketAddr>,
}

impl Session {
    pub fn send(&self, out: Outbound) {
        // A closed channel means the session is already going away; nothing to do.
        let _ = self.tx.send(out);
    }

    pub fn presence(&self) -> PresenceState {
        self.presence.lock().map(|p| p.clone()).unwrap_or_default()
    }

    pub fn set_presence(&self, state: PresenceState) {
        if let Ok(mut p) = self.presence.lock() {
            *p = state;
        }
    }

    /// Records the client's address (the first call wins).
    pub fn set_peer(&self, peer: SocketAddr) {
        let _ = self.peer.set(peer);
    }

    pub fn peer(&self) -> Option<SocketAddr> {
        self.peer.get().copied()
    }

    pub fn info(&self) -> SessionInfo {
        let p = self.presence();
        SessionInfo {
            jid: self.jid.to_string(),
            priority: p.priority,
            available: p.available,
            presence: p.last.as_deref().unwrap_or("").to_string(),
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum BindError {
    /// The requested resource is not a valid resourcepart (RFC 7622 §3.4).
    BadResource(String),
}

pub struct SessionTable {
    domain: String,
    accounts: RwLock<HashMap<String, Vec<Arc<Session>>>>,
    next_id: AtomicU64,
}

impl SessionTable {
    pub fn new(domain: String) -> Self {
        SessionTable { domain, accounts: RwLock::new(HashMap::new()), next_id: AtomicU64::new(1) }
    }

    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// Binds a resource (RFC 6120 §7). A resource already bound is taken
    /// over: the older session is told `<conflict/>` and closed (§7.7.2.2).
    pub fn bind(
        &self,
        node: &str,
        resource: Option<&str>,
        tx: mpsc::UnboundedSender<Outbound>,
    ) -> Result<Arc<Session>, BindError> {
        let resource = match resource {
            Some(r) => ResourcePart::new(r).map_err(|e| BindError::BadResource(e.to_string()))?.to_string(),
            None => generated_resource(),
        };
        let jid = FullJid::new(&format!("{node}@{}/{resource}", self.domain))
            .map_err(|e| BindError::BadResource(e.to_string()))?;
        let session = Arc::new(Session {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            jid,
            tx,
            presence: Mutex::new(PresenceState::default()),
            peer: OnceLock::new(),
        });
        let replaced = {
            let mut map = self.accounts.write().unwrap_or_else(|e| e.into_inner());
            let list = map.entry(node.to_string()).or_default();
            let old = list.iter().position(|s| s.jid == session.jid).map(|i| list.remove(i));
            list.push(session.clone());
            old
        };
        if let Some(old) = replaced {
            old.send(Outbound::Close(StreamErrorCondition::Conflict, Some("replaced by a new connection".into())));
        }
        Ok(session)
    }

    /// Removes a session; false if it was already gone (replaced).
    pub fn unbind(&self, session: &Session) -> bool {
        let mut map = self.accounts.write().unwrap_or_else(|e| e.into_inner());
        let Some(node) = session.jid.node() else { return false };
        let Some(list) = map.get_mut(node.as_str()) else { return false };
        let before = list.len();
        list.retain(|s| s.id != session.id);
        let removed = list.len() != before;
        if list.is_empty() {
            map.remove(node.as_str());
        }
        removed
    }

    /// The online sessions of an account.
    pub fn of(&self, node: &str) -> Vec<Arc<Session>> {
        let map = self.accounts.read().unwrap_or_else(|e| e.into_inner());
        map.get(node).cloned().unwrap_or_default()
    }

    pub fn get(&self, node: &str, resource: &str) -> Option<Arc<Session>> {
        let map = self.accounts.read().unwrap_or_else(|e| e.into_inner());
        map.get(node)?.iter().find(|s| s.jid.resource().as_str() == resource).cloned()
    }

    /// Every session of the domain.
    pub fn all(&self) -> Vec<Arc<Session>> {
        let map = self.accounts.read().unwrap_or_else(|e| e.into_inner());
        map.values().flatten().cloned().collect()
    }

    pub fn len(&self) -> usize {
        let map = self.accounts.read().unwrap_or_else(|e| e.into_inner());
        map.values().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn close_all(&self, condition: StreamErrorCondition, text: &str) {
        let map = self.accounts.read().unwrap_or_else(|e| e.into_inner());
        for s in map.values().flatten() {
            s.send(Outbound::Close(condition, Some(text.to_string())));
        }
    }
}

fn generated_resource() -> String {
    let bytes = crate::stream::random_bytes::<6>();
    let mut s = String::from("waxwing-");
    for b in bytes {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binding_the_same_resource_replaces_the_older_session() {
        let t = SessionTable::new("localhost".into());
        let (tx1, mut rx1) = mpsc::unbounded_channel();
        let (tx2, _rx2) = mpsc::unbounded_channel();
        let a = t.bind("alice", Some("phone"), tx1).unwrap();
        let b = t.bind("alice", Some("phone"), tx2).unwrap();
        assert!(matches!(rx1.try_recv(), Ok(Outbound::Close(StreamErrorCondition::Conflict, _))));
        assert_eq!(t.of("alice").len(), 1);
        assert!(!t.unbind(&a), "the replaced session is no longer in the table");
        assert!(t.unbind(&b));
        assert!(t.is_empty());
    }

    #[test]
    fn generates_resources_and_rejects_bad_ones() {
        let t = SessionTable::new("localhost".into());
        let (tx, _rx) = mpsc::unbounded_channel();
        let a = t.bind("bob", None, tx.clone()).unwrap();
        let b = t.bind("bob", None, tx.clone()).unwrap();
        assert_ne!(a.jid, b.jid);
        assert_eq!(t.of("bob").len(), 2);
        assert!(matches!(t.bind("bob", Some(""), tx), Err(BindError::BadResource(_))));
    }
}
