//! Where the engine keeps its state in `kv`. Every key starts with a kind
//! letter and the service's id (empty for the component, the account for
//! PEP), parts split by U+001F, which XML (and so no node id, item id or
//! JID) can carry:
//!
//! - `N␟svc␟node` → the node (`node.rs`)
//! - `S␟svc␟node␟jid` → a subscription (`subscription.rs`)
//! - `U␟svc␟bare␟jid␟node` → empty: the subscriptions of an account, for
//!   `<subscriptions/>` without a node
//! - `I␟svc␟node␟item` → an item (`items.rs`)
//! - `O␟svc␟node␟seq` → the item id published at `seq`: publication order

use waxwing_sdk::{HostError, kv};

use crate::Service;

pub const SEP: char = '\u{1f}';

pub fn node_key(s: &Service, node: &str) -> String {
    format!("N{SEP}{}{SEP}{node}", s.id)
}

/// The prefix of every node key of a service.
pub fn nodes_prefix(s: &Service) -> String {
    format!("N{SEP}{}{SEP}", s.id)
}

pub fn sub_key(s: &Service, node: &str, jid: &str) -> String {
    format!("S{SEP}{}{SEP}{node}{SEP}{jid}", s.id)
}

pub fn subs_prefix(s: &Service, node: &str) -> String {
    format!("S{SEP}{}{SEP}{node}{SEP}", s.id)
}

pub fn user_sub_key(s: &Service, jid: &str, node: &str) -> String {
    format!("U{SEP}{}{SEP}{}{SEP}{jid}{SEP}{node}", s.id, waxwing_sdk::jid::bare(jid))
}

pub fn user_subs_prefix(s: &Service, bare: &str) -> String {
    format!("U{SEP}{}{SEP}{bare}{SEP}", s.id)
}

pub fn item_key(s: &Service, node: &str, item: &str) -> String {
    format!("I{SEP}{}{SEP}{node}{SEP}{item}", s.id)
}

pub fn items_prefix(s: &Service, node: &str) -> String {
    format!("I{SEP}{}{SEP}{node}{SEP}", s.id)
}

pub fn order_key(s: &Service, node: &str, seq: &str) -> String {
    format!("O{SEP}{}{SEP}{node}{SEP}{seq}", s.id)
}

pub fn order_prefix(s: &Service, node: &str) -> String {
    format!("O{SEP}{}{SEP}{node}{SEP}", s.id)
}

/// The last part of a key.
pub fn last_part(key: &[u8]) -> String {
    let s = String::from_utf8_lossy(key);
    s.rsplit(SEP).next().unwrap_or_default().to_string()
}

/// Everything a service keeps: its nodes, subscriptions and items (a PEP
/// service whose account was deleted).
pub fn forget(s: &Service) -> Result<(), HostError> {
    let mut ops = Vec::new();
    for kind in ['N', 'S', 'U', 'I', 'O'] {
        for entry in kv::scan_iter(format!("{kind}{SEP}{}{SEP}", s.id)) {
            ops.push(kv::Op::delete(entry?.0));
        }
    }
    kv::batch(&ops)
}
