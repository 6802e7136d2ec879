//! Items: stored under `I␟svc␟node␟id` (value `seq`, publisher, payload,
//! one per line but the payload may hold any) with the publication order in
//! `O␟svc␟node␟seq`. A sequence is the publish time in milliseconds (13 hex
//! digits) and a counter, so key order is publication order and the time of
//! an item (for `<delay/>`) is read from its sequence.

use waxwing_sdk::prelude::*;
use waxwing_sdk::{kv, mem};

use crate::node::Node;
use crate::{Answer, NS, NS_RSM, Service, access, errors, node, store};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub id: String,
    pub seq: String,
    pub publisher: String,
    /// The payload, serialized; empty for a notification-only item.
    pub payload: String,
}

impl Item {
    fn encode(&self) -> String {
        format!("{}\n{}\n{}", self.seq, self.publisher, self.payload)
    }

    fn decode(id: &str, raw: &[u8]) -> Option<Item> {
        let text = std::str::from_utf8(raw).ok()?;
        let mut parts = text.splitn(3, '\n');
        Some(Item {
            id: id.to_string(),
            seq: parts.next()?.to_string(),
            publisher: parts.next()?.to_string(),
            payload: parts.next().unwrap_or_default().to_string(),
        })
    }

    /// When it was published, in milliseconds since the epoch.
    pub fn published_ms(&self) -> u64 {
        self.seq.get(..13).and_then(|h| u64::from_str_radix(h, 16).ok()).unwrap_or(0)
    }

    /// `<item id='…'>payload</item>` in `ns`, the payload left out unless
    /// `with_payload`; `publisher` when given.
    pub fn element(&self, ns: &str, with_payload: bool, publisher: bool) -> Element {
        let mut el = Element::new("item", ns).with_attr("id", self.id.as_str());
        if publisher && !self.publisher.is_empty() {
            el.set_attr("publisher", self.publisher.as_str());
        }
        if with_payload
            && !self.payload.is_empty()
            && let Ok(payload) = Element::parse(&self.payload)
        {
            el.push_child(payload);
        }
        el
    }
}

/// A sequence later than every earlier one on this host, short of a clock
/// that steps back (then items published in that second sort by counter).
fn next_seq() -> Result<String, HostError> {
    let counter = mem::incr("seq", 1)?;
    Ok(format!("{:013x}{:06x}", waxwing_sdk::now_ms(), counter & 0xff_ffff))
}

pub fn get(service: &Service, node: &str, id: &str) -> Result<Option<Item>, HostError> {
    Ok(kv::get(store::item_key(service, node, id))?.and_then(|raw| Item::decode(id, &raw)))
}

/// Stores an item (replacing one of the same id, which moves to newest),
/// then drops the oldest beyond `max_items`.
pub fn put(service: &Service, node: &Node, id: &str, publisher: &str, payload: &str) -> Result<Item, HostError> {
    let mut ops = Vec::new();
    if let Some(old) = get(service, &node.name, id)? {
        ops.push(kv::Op::delete(store::order_key(service, &node.name, &old.seq)));
    }
    let item =
        Item { id: id.to_string(), seq: next_seq()?, publisher: publisher.to_string(), payload: payload.to_string() };
    ops.push(kv::Op::put(store::item_key(service, &node.name, id), item.encode()));
    ops.push(kv::Op::put(store::order_key(service, &node.name, &item.seq), id));
    kv::batch(&ops)?;
    trim(service, &node.name, node.config.max_items)?;
    Ok(item)
}

/// The ids in publication order, oldest first, with their sequences.
fn order(service: &Service, node: &str) -> Result<Vec<(String, String)>, HostError> {
    let prefix = store::order_prefix(service, node);
    let mut out = Vec::new();
    for entry in kv::scan_iter(&prefix) {
        let (key, value) = entry?;
        out.push((store::last_part(&key), String::from_utf8_lossy(&value).into_owned()));
    }
    Ok(out)
}

/// Keeps the newest `max` items of `node`.
pub fn trim(service: &Service, node: &str, max: u64) -> Result<(), HostError> {
    let all = order(service, node)?;
    let excess = all.len().saturating_sub(usize::try_from(max).unwrap_or(usize::MAX));
    let ops: Vec<kv::Op> = all[..excess]
        .iter()
        .flat_map(|(seq, id)| {
            [kv::Op::delete(store::order_key(service, node, seq)), kv::Op::delete(store::item_key(service, node, id))]
        })
        .collect();
    kv::batch(&ops)
}

/// Removes one item; false when there was none.
pub fn remove(service: &Service, node: &str, id: &str) -> Result<bool, HostError> {
    let Some(item) = get(service, node, id)? else { return Ok(false) };
    kv::batch(&[
        kv::Op::delete(store::order_key(service, node, &item.seq)),
        kv::Op::delete(store::item_key(service, node, id)),
    ])?;
    Ok(true)
}

/// Removes every item of `node`.
pub fn purge(service: &Service, node: &str) -> Result<(), HostError> {
    trim(service, node, 0)
}

/// The newest `n` items, newest first.
pub fn newest(service: &Service, node: &str, n: usize) -> Result<Vec<Item>, HostError> {
    let all = order(service, node)?;
    let mut out = Vec::new();
    for (_, id) in all.iter().rev().take(n) {
        if let Some(item) = get(service, node, id)? {
            out.push(item);
        }
    }
    Ok(out)
}

/// `<items node='…'/>` (§6.5): all, the newest `max_items`, named ones, or
/// a XEP-0059 page, newest first.
pub fn retrieve(service: &Service, iq: &Iq, payload: &Element, request: &Element) -> Answer {
    let name = crate::node_attr(request)?;
    let node = node::require(service, name)?.node;
    access::check_read(service, &node, iq.from())?;
    if !node.config.persist_items && !node.is_collection() {
        return Err(errors::unsupported("persistent-items"));
    }
    let publisher = !service.is_pep();
    let mut out = Element::new("items", NS).with_attr("node", name);
    let wanted: Vec<&str> = request.elements().filter(|e| e.is("item", NS)).filter_map(|e| e.attr("id")).collect();
    if !wanted.is_empty() {
        for id in wanted {
            if let Some(item) = get(service, name, id)? {
                out.push_child(item.element(NS, true, publisher));
            }
        }
        return Ok(Some(Element::new("pubsub", NS).with_child(out)));
    }
    let max_items = match request.attr("max_items") {
        None => None,
        Some(v) => Some(v.parse::<usize>().map_err(|_| {
            StanzaError::new(Condition::BadRequest).with_text("max_items must be a non-negative integer")
        })?),
    };
    let ids: Vec<String> = order(service, name)?.into_iter().rev().map(|(_, id)| id).collect();
    let (page, set) = match payload.child("set", NS_RSM) {
        Some(set) => paginate(&ids, set)?,
        None => (ids.iter().take(max_items.unwrap_or(usize::MAX)).cloned().collect(), None),
    };
    for id in &page {
        if let Some(item) = get(service, name, id)? {
            out.push_child(item.element(NS, true, publisher));
        }
    }
    let mut reply = Element::new("pubsub", NS).with_child(out);
    if let Some(set) = set {
        reply.push_child(set);
    }
    Ok(Some(reply))
}

/// One XEP-0059 page of `ids` (newest first) and its `<set/>` answer.
pub fn paginate(ids: &[String], set: &Element) -> Result<(Vec<String>, Option<Element>), StanzaError> {
    let bad = |what: &str| StanzaError::new(Condition::BadRequest).with_text(format!("rsm: {what}"));
    let max = match set.child("max", NS_RSM) {
        Some(m) => m.text().trim().parse::<usize>().map_err(|_| bad("max must be a non-negative integer"))?,
        None => ids.len(),
    };
    let position =
        |id: &str| ids.iter().position(|x| x == id).ok_or_else(|| StanzaError::from(Condition::ItemNotFound));
    let (start, end) = if let Some(after) = set.child("after", NS_RSM) {
        let from = position(after.text().trim())? + 1;
        (from, (from + max).min(ids.len()))
    } else if let Some(before) = set.child("before", NS_RSM) {
        let text = before.text();
        let until = if text.trim().is_empty() { ids.len() } else { position(text.trim())? };
        (until.saturating_sub(max), until)
    } else if let Some(index) = set.child("index", NS_RSM) {
        let from = index.text().trim().parse::<usize>().map_err(|_| bad("index must be a non-negative integer"))?;
        (from.min(ids.len()), (from + max).min(ids.len()))
    } else {
        (0, max.min(ids.len()))
    };
    let page: Vec<String> = ids[start..end].to_vec();
    let mut answer = Element::new("set", NS_RSM);
    if let (Some(first), Some(last)) = (page.first(), page.last()) {
        answer
            .push_child(Element::new("first", NS_RSM).with_attr("index", start.to_string()).with_text(first.as_str()));
        answer.push_child(Element::new("last", NS_RSM).with_text(last.as_str()));
    }
    answer.push_child(Element::new("count", NS_RSM).with_text(ids.len().to_string()));
    Ok((page, Some(answer)))
}
