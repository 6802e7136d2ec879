//! Service discovery of a service and its nodes (§5): the service's info,
//! its top-level nodes, a node's meta-data and what is in it. A node the
//! asker may not read is one it cannot see.

use waxwing_sdk::jid;
use waxwing_sdk::prelude::*;

use crate::node::{self, Node};
use crate::{FORM_META, Service, access, items};

fn identity(category: &str, kind: &str, name: &str) -> Element {
    let el = Element::new("identity", ns::DISCO_INFO).with_attr("category", category).with_attr("type", kind);
    if name.is_empty() { el } else { el.with_attr("name", name) }
}

fn feature(var: &str) -> Element {
    Element::new("feature", ns::DISCO_INFO).with_attr("var", var)
}

/// disco#info of the service itself: `identities` ((category, type,
/// name)) and `features` besides the pubsub ones.
pub fn service_info(service: &Service, identities: &[(&str, &str, &str)], extra_features: &[&str]) -> Element {
    let mut q = Element::new("query", ns::DISCO_INFO);
    for (c, t, n) in identities {
        q.push_child(identity(c, t, n));
    }
    let mut features: Vec<String> = vec![ns::DISCO_INFO.into(), ns::DISCO_ITEMS.into()];
    features.extend(crate::feature_uris(service.is_pep()));
    features.extend(extra_features.iter().map(|f| f.to_string()));
    features.sort();
    features.dedup();
    for f in features {
        q.push_child(feature(&f));
    }
    q
}

/// A node the asker may see, or `item-not-found`.
fn visible(service: &Service, name: &str, from: &str) -> Result<Node, StanzaError> {
    let node = node::require(service, name)?.node;
    access::check_read(service, &node, from).map_err(|_| StanzaError::from(Condition::ItemNotFound))?;
    Ok(node)
}

/// disco#info of a node (§5.3, §5.4): its type and a meta-data form.
pub fn node_info(service: &Service, name: &str, from: &str) -> Result<Element, StanzaError> {
    let node = visible(service, name, from)?;
    let kind = if node.is_collection() { "collection" } else { "leaf" };
    let owners: Vec<String> = node.owners().map(str::to_string).collect();
    let meta = DataForm::result()
        .with_form_type(FORM_META)
        .field(Field::text_single("pubsub#title", &node.config.title))
        .field(Field::text_single("pubsub#description", &node.config.description))
        .field(Field::text_single("pubsub#type", &node.config.payload_type))
        .field(Field::text_single("pubsub#access_model", node.config.access.as_str()))
        .field(Field::text_single("pubsub#publish_model", node.config.publish_model.as_str()))
        .field(Field::text_single("pubsub#creator", &node.creator))
        .field(Field::text_single("pubsub#creation_date", &waxwing_sdk::format_utc(node.created_ms)))
        .field(Field::jid_multi("pubsub#owner", &owners))
        .field(Field::text_single("pubsub#max_items", &node.config.max_items.to_string()));
    Ok(Element::new("query", ns::DISCO_INFO)
        .with_attr("node", name)
        .with_child(identity("pubsub", kind, &node.config.title))
        .with_child(feature(ns::DISCO_INFO))
        .with_child(feature(ns::DISCO_ITEMS))
        .with_child(feature(crate::NS))
        .with_child(meta.to_element()))
}

fn node_item(service: &Service, node: &Node) -> Element {
    let el = Element::new("item", ns::DISCO_ITEMS)
        .with_attr("jid", service.jid.as_str())
        .with_attr("node", node.name.as_str());
    if node.config.title.is_empty() { el } else { el.with_attr("name", node.config.title.as_str()) }
}

/// disco#items of the service (its top-level nodes the asker may see) or
/// of a node (a collection's nodes, a leaf's item ids).
pub fn items(service: &Service, node: Option<&str>, from: &str) -> Result<Element, StanzaError> {
    let mut q = Element::new("query", ns::DISCO_ITEMS);
    let bare = jid::bare(from);
    match node {
        None => {
            for n in node::all(service)? {
                if n.config.collections.is_empty() && access::check_read(service, &n, bare).is_ok() {
                    q.push_child(node_item(service, &n));
                }
            }
        }
        Some(name) => {
            q.set_attr("node", name);
            let parent = visible(service, name, from)?;
            if parent.is_collection() {
                for n in node::all(service)? {
                    if n.config.collections.contains(&parent.name) && access::check_read(service, &n, bare).is_ok() {
                        q.push_child(node_item(service, &n));
                    }
                }
            } else {
                for item in items::newest(service, name, usize::MAX)? {
                    q.push_child(
                        Element::new("item", ns::DISCO_ITEMS)
                            .with_attr("jid", service.jid.as_str())
                            .with_attr("name", item.id.as_str()),
                    );
                }
            }
        }
    }
    Ok(q)
}
