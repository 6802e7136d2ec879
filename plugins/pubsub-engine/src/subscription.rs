//! Subscriptions: one per JID (bare or full, as subscribed) and node, under
//! `S␟svc␟node␟jid`, with an index by account (`U␟…`). The value is short
//! text a publish to many subscribers reads quickly:
//! `state;deliver;type;depth`, e.g. `subscribed;1;items;1`.

use waxwing_sdk::kv;
use waxwing_sdk::prelude::*;

use crate::{FORM_SUB_OPTIONS, Service, store};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Subscribed,
    Pending,
    Unconfigured,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Subscribed => "subscribed",
            State::Pending => "pending",
            State::Unconfigured => "unconfigured",
        }
    }

    pub fn parse(s: &str) -> Option<State> {
        Some(match s {
            "subscribed" => State::Subscribed,
            "pending" => State::Pending,
            "unconfigured" => State::Unconfigured,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub jid: String,
    pub state: State,
    /// `pubsub#deliver`: notifications wanted at all.
    pub deliver: bool,
    /// XEP-0248 `pubsub#subscription_type` on a collection: `items` (its
    /// leaves' items) or `nodes` (new child nodes).
    pub kind_nodes: bool,
    /// XEP-0248 `pubsub#subscription_depth`: 1, or every level (`all`).
    pub depth_all: bool,
}

impl Subscription {
    pub fn new(jid: &str, state: State) -> Subscription {
        Subscription { jid: jid.to_string(), state, deliver: true, kind_nodes: false, depth_all: false }
    }

    fn encode(&self) -> String {
        format!(
            "{};{};{};{}",
            self.state.as_str(),
            u8::from(self.deliver),
            if self.kind_nodes { "nodes" } else { "items" },
            if self.depth_all { "all" } else { "1" }
        )
    }

    pub fn decode(jid: &str, raw: &[u8]) -> Option<Subscription> {
        let text = std::str::from_utf8(raw).ok()?;
        let mut parts = text.split(';');
        let state = State::parse(parts.next()?)?;
        Some(Subscription {
            jid: jid.to_string(),
            state,
            deliver: parts.next() != Some("0"),
            kind_nodes: parts.next() == Some("nodes"),
            depth_all: parts.next() == Some("all"),
        })
    }

    /// The `<subscription/>` element of a reply or notification.
    pub fn element(&self, ns: &str, node: &str) -> Element {
        Element::new("subscription", ns)
            .with_attr("node", node)
            .with_attr("jid", self.jid.as_str())
            .with_attr("subscription", self.state.as_str())
    }

    /// The options form (`pubsub#subscribe_options`), current values.
    pub fn options_form(&self, collection: bool) -> DataForm {
        let mut form = DataForm::form()
            .with_form_type(FORM_SUB_OPTIONS)
            .field(Field::boolean("pubsub#deliver", self.deliver).label("Enable delivery?"));
        if collection {
            form = form
                .field(
                    Field::list_single("pubsub#subscription_type", if self.kind_nodes { "nodes" } else { "items" })
                        .label("Notifications of new items or new nodes")
                        .option("items", "items")
                        .option("nodes", "nodes"),
                )
                .field(
                    Field::list_single("pubsub#subscription_depth", if self.depth_all { "all" } else { "1" })
                        .label("How far down the collection")
                        .option("1", "1")
                        .option("all", "all"),
                );
        }
        form
    }

    /// Applies a submitted options form; `Err` names the bad field.
    pub fn apply(&mut self, form: &DataForm) -> Result<(), String> {
        for field in &form.fields {
            let Some(var) = field.var.as_deref() else { continue };
            let value = field.values.first().map(String::as_str).unwrap_or("");
            match var {
                "pubsub#deliver" => {
                    self.deliver = match value {
                        "1" | "true" => true,
                        "0" | "false" => false,
                        _ => return Err(var.to_string()),
                    }
                }
                "pubsub#subscription_type" => {
                    self.kind_nodes = match value {
                        "items" => false,
                        "nodes" => true,
                        _ => return Err(var.to_string()),
                    }
                }
                "pubsub#subscription_depth" => {
                    self.depth_all = match value {
                        "1" => false,
                        "all" => true,
                        _ => return Err(var.to_string()),
                    }
                }
                // Digests, presence filters and expiry are not offered;
                // the form we hand out does not have them.
                "FORM_TYPE" => {}
                _ => return Err(var.to_string()),
            }
        }
        Ok(())
    }
}

pub fn get(service: &Service, node: &str, jid: &str) -> Result<Option<Subscription>, HostError> {
    Ok(kv::get(store::sub_key(service, node, jid))?.and_then(|raw| Subscription::decode(jid, &raw)))
}

pub fn put(service: &Service, node: &str, sub: &Subscription) -> Result<(), HostError> {
    kv::batch(&[
        kv::Op::put(store::sub_key(service, node, &sub.jid), sub.encode()),
        kv::Op::put(store::user_sub_key(service, &sub.jid, node), Vec::new()),
    ])
}

pub fn remove(service: &Service, node: &str, jid: &str) -> Result<(), HostError> {
    kv::batch(&[
        kv::Op::delete(store::sub_key(service, node, jid)),
        kv::Op::delete(store::user_sub_key(service, jid, node)),
    ])
}

/// Every subscription to `node`, in key order.
pub fn of_node(service: &Service, node: &str) -> Result<Vec<Subscription>, HostError> {
    let prefix = store::subs_prefix(service, node);
    let mut out = Vec::new();
    for entry in kv::scan_iter(&prefix) {
        let (key, value) = entry?;
        let jid = store::last_part(&key);
        if let Some(sub) = Subscription::decode(&jid, &value) {
            out.push(sub);
        }
    }
    Ok(out)
}

/// The (node, subscription) pairs of an account and its resources.
pub fn of_account(service: &Service, bare: &str) -> Result<Vec<(String, Subscription)>, HostError> {
    let prefix = store::user_subs_prefix(service, bare);
    let mut out = Vec::new();
    for entry in kv::scan_iter(&prefix) {
        let (key, _) = entry?;
        let key = String::from_utf8_lossy(&key).into_owned();
        let rest = &key[prefix.len()..];
        let Some((jid, node)) = rest.split_once(store::SEP) else { continue };
        if let Some(sub) = get(service, node, jid)? {
            out.push((node.to_string(), sub));
        }
    }
    Ok(out)
}

/// Drops every subscription to `node` (deleted with it).
pub fn remove_all(service: &Service, node: &str) -> Result<(), HostError> {
    let ops: Vec<kv::Op> = of_node(service, node)?
        .iter()
        .flat_map(|s| {
            [
                kv::Op::delete(store::sub_key(service, node, &s.jid)),
                kv::Op::delete(store::user_sub_key(service, &s.jid, node)),
            ]
        })
        .collect();
    kv::batch(&ops)
}
