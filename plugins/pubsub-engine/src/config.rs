//! A node's configuration (XEP-0060 §16.4.4, `pubsub#node_config`): its
//! form both ways, its stored form, and publish-options preconditions.

use waxwing_sdk::prelude::*;

use crate::{FORM_NODE_CONFIG, Limits, errors};

/// `pubsub#access_model`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Open,
    Presence,
    Roster,
    Authorize,
    Whitelist,
}

/// `pubsub#publish_model`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishModel {
    Publishers,
    Subscribers,
    Open,
}

/// `pubsub#send_last_published_item`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendLast {
    Never,
    OnSub,
    OnSubAndPresence,
}

/// `pubsub#node_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeType {
    Leaf,
    Collection,
}

macro_rules! choice {
    ($t:ty { $($v:ident = $s:literal),* $(,)? }) => {
        impl $t {
            pub const ALL: &'static [$t] = &[$(<$t>::$v),*];
            pub fn as_str(self) -> &'static str {
                match self { $(<$t>::$v => $s),* }
            }
            pub fn parse(s: &str) -> Option<$t> {
                match s { $($s => Some(<$t>::$v),)* _ => None }
            }
        }
    };
}

choice!(Access { Open = "open", Presence = "presence", Roster = "roster", Authorize = "authorize", Whitelist = "whitelist" });
choice!(PublishModel { Publishers = "publishers", Subscribers = "subscribers", Open = "open" });
choice!(SendLast { Never = "never", OnSub = "on_sub", OnSubAndPresence = "on_sub_and_presence" });
choice!(NodeType { Leaf = "leaf", Collection = "collection" });

/// Every setting of a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeConfig {
    pub title: String,
    pub description: String,
    /// `pubsub#type`: the payload's namespace, informational.
    pub payload_type: String,
    pub access: Access,
    pub roster_groups: Vec<String>,
    pub publish_model: PublishModel,
    pub persist_items: bool,
    pub max_items: u64,
    pub max_payload_size: u64,
    pub deliver_payloads: bool,
    pub deliver_notifications: bool,
    pub notify_retract: bool,
    pub notify_delete: bool,
    pub notify_config: bool,
    pub notify_sub: bool,
    pub send_last: SendLast,
    /// `pubsub#notification_type`: headline or normal.
    pub notification_type: String,
    pub node_type: NodeType,
    /// `pubsub#collection`: the collections this node is in.
    pub collections: Vec<String>,
    /// `pubsub#itemreply`: owner or publisher.
    pub itemreply: String,
}

impl NodeConfig {
    /// A new node's settings on a component.
    pub fn component_default(limits: &Limits) -> NodeConfig {
        NodeConfig {
            title: String::new(),
            description: String::new(),
            payload_type: String::new(),
            access: Access::Open,
            roster_groups: Vec::new(),
            publish_model: PublishModel::Publishers,
            persist_items: true,
            max_items: limits.default_max_items.min(limits.max_items),
            max_payload_size: limits.max_payload_bytes,
            deliver_payloads: true,
            deliver_notifications: true,
            notify_retract: true,
            notify_delete: true,
            notify_config: false,
            notify_sub: false,
            send_last: SendLast::OnSub,
            notification_type: "headline".into(),
            node_type: NodeType::Leaf,
            collections: Vec::new(),
            itemreply: "owner".into(),
        }
    }

    /// A new PEP node's settings (XEP-0163 §4: presence access, last item
    /// on subscription and on presence, one item kept).
    pub fn pep_default(limits: &Limits) -> NodeConfig {
        NodeConfig {
            access: Access::Presence,
            max_items: 1,
            send_last: SendLast::OnSubAndPresence,
            ..NodeConfig::component_default(limits)
        }
    }

    /// The configuration form (`type='form'`, current values); a
    /// collection's lists its `children`.
    pub fn to_form(&self, limits: &Limits, children: &[String]) -> DataForm {
        let list = |var: &str, label: &str, value: &str, options: &[&str]| {
            options.iter().fold(Field::list_single(var, value).label(label), |f, o| f.option(o, o))
        };
        DataForm::form()
            .with_form_type(FORM_NODE_CONFIG)
            .field(Field::text_single("pubsub#title", &self.title).label("A friendly name for the node"))
            .field(Field::text_single("pubsub#description", &self.description).label("A description of the node"))
            .field(
                Field::text_single("pubsub#type", &self.payload_type)
                    .label("The type of node data, usually a namespace"),
            )
            .field(list(
                "pubsub#access_model",
                "Who may subscribe and retrieve items",
                self.access.as_str(),
                &Access::ALL.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
            ))
            .field(
                Field::new("pubsub#roster_groups_allowed", FieldType::ListMulti)
                    .label("Roster groups allowed to subscribe")
                    .values(&self.roster_groups),
            )
            .field(list(
                "pubsub#publish_model",
                "Who may publish",
                self.publish_model.as_str(),
                &PublishModel::ALL.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
            ))
            .field(Field::boolean("pubsub#persist_items", self.persist_items).label("Persist items to storage"))
            .field(
                Field::text_single("pubsub#max_items", &self.max_items.to_string())
                    .label(&format!("Max # of items to persist (at most {}; `max` for that)", limits.max_items)),
            )
            .field(
                Field::text_single("pubsub#max_payload_size", &self.max_payload_size.to_string())
                    .label("Max payload size in bytes"),
            )
            .field(
                Field::boolean("pubsub#deliver_payloads", self.deliver_payloads)
                    .label("Deliver payloads with event notifications"),
            )
            .field(
                Field::boolean("pubsub#deliver_notifications", self.deliver_notifications)
                    .label("Deliver event notifications"),
            )
            .field(
                Field::boolean("pubsub#notify_retract", self.notify_retract)
                    .label("Notify subscribers when items are removed"),
            )
            .field(
                Field::boolean("pubsub#notify_delete", self.notify_delete)
                    .label("Notify subscribers when the node is deleted"),
            )
            .field(
                Field::boolean("pubsub#notify_config", self.notify_config)
                    .label("Notify subscribers when the configuration changes"),
            )
            .field(Field::boolean("pubsub#notify_sub", self.notify_sub).label("Notify owners about new subscribers"))
            .field(list(
                "pubsub#send_last_published_item",
                "When to send the last published item",
                self.send_last.as_str(),
                &SendLast::ALL.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
            ))
            .field(list(
                "pubsub#notification_type",
                "Message type of notifications",
                &self.notification_type,
                &["headline", "normal"],
            ))
            .field(list(
                "pubsub#node_type",
                "Whether the node is a leaf or a collection",
                self.node_type.as_str(),
                &["leaf", "collection"],
            ))
            .field(
                Field::new("pubsub#collection", FieldType::TextMulti)
                    .label("The collections this node is in")
                    .values(&self.collections),
            )
            .field(list("pubsub#itemreply", "Whom replies to items go to", &self.itemreply, &["owner", "publisher"]))
            .field(
                Field::new("pubsub#children", FieldType::TextMulti)
                    .label("The nodes in this collection")
                    .values(children),
            )
    }

    /// Applies a submitted form's known fields; a value outside what a field
    /// allows is `not-acceptable`, naming the field. Unknown fields are
    /// ignored, as a client may send what another server offers (publish
    /// options are stricter: [`Self::check_preconditions`]). `pubsub#children`
    /// is the collection's to apply to its children.
    pub fn apply(&mut self, form: &DataForm, limits: &Limits) -> Result<(), StanzaError> {
        for field in &form.fields {
            let Some(var) = field.var.as_deref() else { continue };
            let value = field.values.first().map(String::as_str).unwrap_or("");
            let bad =
                || StanzaError::new(Condition::NotAcceptable).with_text(format!("{var}: '{value}' is not allowed"));
            let boolean = || match value {
                "1" | "true" => Ok(true),
                "0" | "false" => Ok(false),
                _ => Err(bad()),
            };
            match var {
                "pubsub#title" => self.title = value.to_string(),
                "pubsub#description" => self.description = value.to_string(),
                "pubsub#type" => self.payload_type = value.to_string(),
                "pubsub#access_model" => {
                    self.access = Access::parse(value).ok_or_else(|| {
                        errors::pubsub(Condition::NotAcceptable, "unsupported-access-model")
                            .with_text(format!("no access model '{value}' here"))
                    })?
                }
                "pubsub#roster_groups_allowed" => self.roster_groups = field.values.clone(),
                "pubsub#publish_model" => self.publish_model = PublishModel::parse(value).ok_or_else(bad)?,
                "pubsub#persist_items" => self.persist_items = boolean()?,
                "pubsub#max_items" => self.max_items = parse_max_items(value, limits).ok_or_else(bad)?,
                "pubsub#max_payload_size" => {
                    self.max_payload_size =
                        value.parse().ok().filter(|n| (1..=limits.max_payload_bytes).contains(n)).ok_or_else(bad)?
                }
                "pubsub#deliver_payloads" => self.deliver_payloads = boolean()?,
                "pubsub#deliver_notifications" => self.deliver_notifications = boolean()?,
                "pubsub#notify_retract" => self.notify_retract = boolean()?,
                "pubsub#notify_delete" => self.notify_delete = boolean()?,
                "pubsub#notify_config" => self.notify_config = boolean()?,
                "pubsub#notify_sub" => self.notify_sub = boolean()?,
                "pubsub#send_last_published_item" => self.send_last = SendLast::parse(value).ok_or_else(bad)?,
                "pubsub#notification_type" if matches!(value, "headline" | "normal") => {
                    self.notification_type = value.to_string()
                }
                "pubsub#notification_type" => return Err(bad()),
                "pubsub#node_type" => self.node_type = NodeType::parse(value).ok_or_else(bad)?,
                "pubsub#collection" => {
                    self.collections = field.values.iter().filter(|v| !v.is_empty()).cloned().collect()
                }
                "pubsub#itemreply" if matches!(value, "owner" | "publisher") => self.itemreply = value.to_string(),
                "pubsub#itemreply" => return Err(bad()),
                _ => {}
            }
        }
        Ok(())
    }

    /// Whether every field of a publish-options form matches this
    /// configuration (§7.1.5): the first that does not is named in the
    /// `precondition-not-met` error.
    pub fn check_preconditions(&self, options: &DataForm, limits: &Limits) -> Result<(), StanzaError> {
        let mut wanted = self.clone();
        wanted.apply(options, limits).map_err(|_| precondition_not_met("a value no node can have"))?;
        for field in &options.fields {
            let Some(var) = field.var.as_deref() else { continue };
            let same = match var {
                "FORM_TYPE" => true,
                "pubsub#access_model" => wanted.access == self.access,
                "pubsub#roster_groups_allowed" => wanted.roster_groups == self.roster_groups,
                "pubsub#publish_model" => wanted.publish_model == self.publish_model,
                "pubsub#persist_items" => wanted.persist_items == self.persist_items,
                "pubsub#max_items" => wanted.max_items == self.max_items,
                "pubsub#max_payload_size" => wanted.max_payload_size == self.max_payload_size,
                "pubsub#deliver_payloads" => wanted.deliver_payloads == self.deliver_payloads,
                "pubsub#deliver_notifications" => wanted.deliver_notifications == self.deliver_notifications,
                "pubsub#notify_retract" => wanted.notify_retract == self.notify_retract,
                "pubsub#notify_delete" => wanted.notify_delete == self.notify_delete,
                "pubsub#notify_config" => wanted.notify_config == self.notify_config,
                "pubsub#send_last_published_item" => wanted.send_last == self.send_last,
                "pubsub#notification_type" => wanted.notification_type == self.notification_type,
                "pubsub#title" => wanted.title == self.title,
                "pubsub#description" => wanted.description == self.description,
                "pubsub#type" => wanted.payload_type == self.payload_type,
                "pubsub#itemreply" => wanted.itemreply == self.itemreply,
                // §7.1.5: a precondition the service does not know is unmet.
                _ => false,
            };
            if !same {
                return Err(precondition_not_met(var));
            }
        }
        Ok(())
    }

    pub fn to_json(&self) -> Json {
        let s = |v: &str| Json::String(v.to_string());
        let b = Json::Bool;
        let n = |v: u64| Json::Number(v.to_string());
        let list = |v: &[String]| Json::Array(v.iter().map(|x| Json::String(x.clone())).collect());
        Json::Object(vec![
            ("title".into(), s(&self.title)),
            ("description".into(), s(&self.description)),
            ("type".into(), s(&self.payload_type)),
            ("access".into(), s(self.access.as_str())),
            ("groups".into(), list(&self.roster_groups)),
            ("publish".into(), s(self.publish_model.as_str())),
            ("persist".into(), b(self.persist_items)),
            ("max_items".into(), n(self.max_items)),
            ("max_payload".into(), n(self.max_payload_size)),
            ("payloads".into(), b(self.deliver_payloads)),
            ("notifications".into(), b(self.deliver_notifications)),
            ("notify_retract".into(), b(self.notify_retract)),
            ("notify_delete".into(), b(self.notify_delete)),
            ("notify_config".into(), b(self.notify_config)),
            ("notify_sub".into(), b(self.notify_sub)),
            ("send_last".into(), s(self.send_last.as_str())),
            ("notification_type".into(), s(&self.notification_type)),
            ("node_type".into(), s(self.node_type.as_str())),
            ("collections".into(), list(&self.collections)),
            ("itemreply".into(), s(&self.itemreply)),
        ])
    }

    /// Reads the stored form back over `base`, so a key a later version
    /// added takes its default.
    pub fn from_json(j: &Json, base: NodeConfig) -> NodeConfig {
        let s = |k: &str, d: String| j.get(k).as_str().map(str::to_string).unwrap_or(d);
        let b = |k: &str, d: bool| j.get(k).as_bool().unwrap_or(d);
        let n = |k: &str, d: u64| j.get(k).as_i64().and_then(|v| u64::try_from(v).ok()).unwrap_or(d);
        NodeConfig {
            title: s("title", base.title),
            description: s("description", base.description),
            payload_type: s("type", base.payload_type),
            access: j.get("access").as_str().and_then(Access::parse).unwrap_or(base.access),
            roster_groups: j.get("groups").as_str_list(),
            publish_model: j.get("publish").as_str().and_then(PublishModel::parse).unwrap_or(base.publish_model),
            persist_items: b("persist", base.persist_items),
            max_items: n("max_items", base.max_items),
            max_payload_size: n("max_payload", base.max_payload_size),
            deliver_payloads: b("payloads", base.deliver_payloads),
            deliver_notifications: b("notifications", base.deliver_notifications),
            notify_retract: b("notify_retract", base.notify_retract),
            notify_delete: b("notify_delete", base.notify_delete),
            notify_config: b("notify_config", base.notify_config),
            notify_sub: b("notify_sub", base.notify_sub),
            send_last: j.get("send_last").as_str().and_then(SendLast::parse).unwrap_or(base.send_last),
            notification_type: s("notification_type", base.notification_type),
            node_type: j.get("node_type").as_str().and_then(NodeType::parse).unwrap_or(base.node_type),
            collections: j.get("collections").as_str_list(),
            itemreply: s("itemreply", base.itemreply),
        }
    }
}

/// `pubsub#max_items`: a count up to the limit, or `max` for the limit.
pub fn parse_max_items(value: &str, limits: &Limits) -> Option<u64> {
    if value == "max" {
        return Some(limits.max_items);
    }
    value.parse().ok().filter(|n| (1..=limits.max_items).contains(n))
}

pub fn precondition_not_met(field: &str) -> StanzaError {
    errors::pubsub(Condition::Conflict, "precondition-not-met").with_text(format!("the node's {field} differs"))
}

/// The config form in a request, if any: `type='cancel'` counts as none.
pub fn submitted_form(parent: Option<&Element>) -> Result<Option<DataForm>, StanzaError> {
    let Some(parent) = parent else { return Ok(None) };
    match DataForm::find_in(parent) {
        None => Ok(None),
        Some(Err(e)) => Err(e),
        Some(Ok(f)) if f.kind == FormKind::Cancel => Ok(None),
        Some(Ok(f)) if f.kind == FormKind::Submit => Ok(Some(f)),
        Some(Ok(_)) => Err(StanzaError::new(Condition::BadRequest).with_text("the form must be of type 'submit'")),
    }
}
