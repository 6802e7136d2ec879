//! A node: its configuration and affiliations, one JSON document under
//! `N␟svc␟node`, changed by compare-and-swap so concurrent owners never
//! lose an edit.

use waxwing_sdk::kv;
use waxwing_sdk::prelude::*;

use crate::config::{NodeConfig, NodeType};
use crate::{Service, errors, store};

/// XEP-0060 §4.1 affiliations, weakest first but for `Outcast`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Affiliation {
    Outcast,
    None,
    Member,
    PublishOnly,
    Publisher,
    Owner,
}

impl Affiliation {
    pub fn as_str(self) -> &'static str {
        match self {
            Affiliation::Outcast => "outcast",
            Affiliation::None => "none",
            Affiliation::Member => "member",
            Affiliation::PublishOnly => "publish-only",
            Affiliation::Publisher => "publisher",
            Affiliation::Owner => "owner",
        }
    }

    pub fn parse(s: &str) -> Option<Affiliation> {
        Some(match s {
            "outcast" => Affiliation::Outcast,
            "none" => Affiliation::None,
            "member" => Affiliation::Member,
            "publish-only" => Affiliation::PublishOnly,
            "publisher" => Affiliation::Publisher,
            "owner" => Affiliation::Owner,
            _ => return None,
        })
    }

    /// May publish whatever the publish model (§4.1 table).
    pub fn publishes(self) -> bool {
        matches!(self, Affiliation::Owner | Affiliation::Publisher | Affiliation::PublishOnly)
    }

    /// May retrieve items and subscribe whatever the access model.
    pub fn reads(self) -> bool {
        matches!(self, Affiliation::Owner | Affiliation::Publisher | Affiliation::Member)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub name: String,
    pub config: NodeConfig,
    /// Bare JIDs and their affiliations other than `none`.
    pub affiliations: Vec<(String, Affiliation)>,
    pub creator: String,
    pub created_ms: u64,
}

/// A node as read, with the bytes a swap must find to replace it.
pub struct Stored {
    pub node: Node,
    raw: Vec<u8>,
}

impl Node {
    pub fn new(name: &str, creator: &str, config: NodeConfig) -> Node {
        let owner = waxwing_sdk::jid::bare(creator).to_string();
        Node {
            name: name.to_string(),
            config,
            affiliations: vec![(owner.clone(), Affiliation::Owner)],
            creator: owner,
            created_ms: waxwing_sdk::now_ms(),
        }
    }

    pub fn is_collection(&self) -> bool {
        self.config.node_type == NodeType::Collection
    }

    /// The affiliation of `jid` (any form) with this node, the service's
    /// own (admins, PEP's account) first.
    pub fn affiliation(&self, service: &Service, jid: &str) -> Affiliation {
        let bare = waxwing_sdk::jid::bare(jid);
        if let Some(a) = service.implicit_affiliation(bare) {
            return a;
        }
        self.affiliations.iter().find(|(j, _)| j == bare).map_or(Affiliation::None, |(_, a)| *a)
    }

    pub fn set_affiliation(&mut self, bare: &str, affiliation: Affiliation) {
        self.affiliations.retain(|(j, _)| j != bare);
        if affiliation != Affiliation::None {
            self.affiliations.push((bare.to_string(), affiliation));
        }
    }

    pub fn owners(&self) -> impl Iterator<Item = &str> {
        self.affiliations.iter().filter(|(_, a)| *a == Affiliation::Owner).map(|(j, _)| j.as_str())
    }

    fn encode(&self) -> String {
        let affs = self.affiliations.iter().map(|(j, a)| (j.clone(), Json::String(a.as_str().to_string()))).collect();
        Json::Object(vec![
            ("config".into(), self.config.to_json()),
            ("affiliations".into(), Json::Object(affs)),
            ("creator".into(), Json::String(self.creator.clone())),
            ("created".into(), Json::Number(self.created_ms.to_string())),
        ])
        .to_string()
    }

    fn decode(service: &Service, name: &str, raw: &[u8]) -> Result<Node, StanzaError> {
        let text = std::str::from_utf8(raw).map_err(|_| errors::internal(format!("node {name} is not UTF-8")))?;
        let j = Json::parse(text).map_err(|e| errors::internal(format!("node {name}: {e}")))?;
        let base = base_config(service);
        let affiliations = j
            .get("affiliations")
            .as_object()
            .unwrap_or_default()
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), Affiliation::parse(v.as_str()?)?)))
            .collect();
        Ok(Node {
            name: name.to_string(),
            config: NodeConfig::from_json(j.get("config"), base),
            affiliations,
            creator: j.get("creator").as_str().unwrap_or_default().to_string(),
            created_ms: j.get("created").as_i64().and_then(|v| u64::try_from(v).ok()).unwrap_or(0),
        })
    }
}

/// The defaults of a new node on `service`.
pub fn base_config(service: &Service) -> NodeConfig {
    if service.is_pep() {
        NodeConfig::pep_default(&service.limits)
    } else {
        NodeConfig::component_default(&service.limits)
    }
}

pub fn load(service: &Service, name: &str) -> Result<Option<Stored>, StanzaError> {
    let Some(raw) = kv::get(store::node_key(service, name))? else { return Ok(None) };
    Ok(Some(Stored { node: Node::decode(service, name, &raw)?, raw }))
}

/// The node, or `item-not-found`.
pub fn require(service: &Service, name: &str) -> Result<Stored, StanzaError> {
    load(service, name)?.ok_or_else(errors::node_not_found)
}

/// Stores a new node; false when one of that name exists.
pub fn create(service: &Service, node: &Node) -> Result<bool, StanzaError> {
    Ok(kv::compare_and_swap(store::node_key(service, &node.name), None, Some(node.encode().as_bytes()))?)
}

/// Replaces `stored` with `node`; false when someone changed it meanwhile.
pub fn replace(service: &Service, stored: &Stored, node: &Node) -> Result<bool, StanzaError> {
    Ok(kv::compare_and_swap(store::node_key(service, &node.name), Some(&stored.raw), Some(node.encode().as_bytes()))?)
}

/// Applies `change` to the stored node until the swap holds; `change` may
/// refuse with an error. Returns the node as written.
pub fn update(
    service: &Service,
    name: &str,
    mut change: impl FnMut(&mut Node) -> Result<(), StanzaError>,
) -> Result<Node, StanzaError> {
    loop {
        let stored = require(service, name)?;
        let mut node = stored.node.clone();
        change(&mut node)?;
        if replace(service, &stored, &node)? {
            return Ok(node);
        }
    }
}

/// Every node of a service, in key order.
pub fn all(service: &Service) -> Result<Vec<Node>, StanzaError> {
    let prefix = store::nodes_prefix(service);
    let mut out = Vec::new();
    for entry in kv::scan_iter(&prefix) {
        let (key, value) = entry?;
        let name = store::last_part(&key);
        out.push(Node::decode(service, &name, &value)?);
    }
    Ok(out)
}
