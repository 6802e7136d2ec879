//! XEP-0030 Service Discovery for the virtual host, answered from what every
//! plugin on it declared (`disco::host()`), plus XEP-0157 contact addresses
//! from this plugin's settings, and disco#info on behalf of accounts.
//!
//! The host's ad-hoc commands (XEP-0050 §2): the items of its commands node
//! and the info of each command node, as the asker may run them (the
//! kernel's `commands.visible-to`).
//!
//! The host's own XEP-0115 node, `https://waxwing.im#<ver>`, is answered
//! like the node-less query while `ver` is the hash of that answer, so a
//! client can check the caps the stream features advertised.
//!
//! Settings: `name` names the server identity; each XEP-0157 field
//! (`admin-addresses`, `abuse-addresses`, ...) takes a URI or a list.

use waxwing_sdk::adhoc;
use waxwing_sdk::caps;
use waxwing_sdk::disco::{self, HostInfo};
use waxwing_sdk::prelude::*;

const SERVERINFO: &str = "http://jabber.org/network/serverinfo";

/// The XEP-0157 registry's fields, each a setting of its own.
const CONTACT_FIELDS: &[&str] = &[
    "abuse-addresses",
    "admin-addresses",
    "feedback-addresses",
    "sales-addresses",
    "security-addresses",
    "status-addresses",
    "support-addresses",
];

struct Disco;

impl Plugin for Disco {
    fn describe() -> Describe {
        let d = Describe::new("disco", env!("CARGO_PKG_VERSION"))
            .feature(ns::DISCO_INFO)
            .feature(ns::DISCO_ITEMS)
            .route(Route::iq_get().payload(ns::DISCO_INFO, "query").to_each([Address::Host, Address::Bare]))
            .iq_get_host(ns::DISCO_ITEMS, "query")
            .setting_text("name", "", "The name of the server identity in disco#info")
            .capability(Capability::Disco);
        // "A URI or a list" is no setting type of its own: declared as any
        // value, checked in `init`.
        CONTACT_FIELDS.iter().fold(d, |d, field| {
            d.setting_any(field, Json::Array(Vec::new()), "XEP-0157 contact addresses: a URI or a list of URIs")
        })
    }

    fn init(config: &Json) -> Result<Ready, String> {
        for field in CONTACT_FIELDS {
            match config.get(field) {
                Json::Null | Json::String(_) => {}
                Json::Array(items) if items.iter().all(|i| i.as_str().is_some()) => {}
                _ => return Err(format!("config '{field}' must be a URI or a list of URIs")),
            }
        }
        Ok(Ready::new())
    }

    fn on_iq(iq: Iq) -> Handled {
        let query = iq.payload()?;
        let node = query.attr("node").unwrap_or("");
        let reply = match (iq.addressed(), query.ns.as_str()) {
            (Address::Bare, ns::DISCO_INFO) if node.is_empty() => account_info(),
            (Address::Host, ns::DISCO_INFO) if node.is_empty() || caps_ver_of(node).is_some() => {
                answer_host_node(host_info(&disco::host()?, &waxwing_sdk::config()), node)?
            }
            (Address::Host, ns::DISCO_ITEMS) if node.is_empty() => host_items(&disco::host()?),
            (Address::Host, ns::DISCO_ITEMS) if node == adhoc::NS => command_items(iq.from()),
            (Address::Host, ns::DISCO_INFO) if command_name(iq.from(), node).is_some() => command_info(node),
            // Plugins that publish nodes route them at a higher priority;
            // whatever reaches here is a node nobody serves.
            (Address::Bare | Address::Host, ns::DISCO_INFO | ns::DISCO_ITEMS) => {
                return Err(Condition::ItemNotFound.into());
            }
            _ => return Ok(Outcome::Pass),
        };
        iq.reply_with(reply)
    }
}

/// §2.2: the commands `from` may run, as items of the commands node.
fn command_items(from: &str) -> Element {
    let mut query = Element::new("query", ns::DISCO_ITEMS).with_attr("node", adhoc::NS);
    for c in adhoc::visible_to(from) {
        query.push_child(
            Element::new("item", ns::DISCO_ITEMS)
                .with_attr("jid", c.jid)
                .with_attr("node", c.node)
                .with_attr("name", c.name),
        );
    }
    query
}

/// The name of the command at `node`, if `from` may run it.
fn command_name(from: &str, node: &str) -> Option<String> {
    if node.is_empty() {
        return None;
    }
    adhoc::visible_to(from).into_iter().find(|c| c.node == node).map(|c| c.name)
}

/// §2.3: what a command node is.
fn command_info(node: &str) -> Element {
    Element::new("query", ns::DISCO_INFO)
        .with_attr("node", node)
        .with_child(identity("automation", "command-node", "", ""))
        .with_child(feature(adhoc::NS))
        .with_child(feature("jabber:x:data"))
}

/// The `ver` a node `https://waxwing.im#<ver>` names.
fn caps_ver_of(node: &str) -> Option<&str> {
    node.strip_prefix(caps::SERVER_NODE)?.strip_prefix('#')
}

/// The host's info for the node-less query, or for its caps node when the
/// node names the current `ver`; any other node is one nobody serves.
fn answer_host_node(info: Element, node: &str) -> Result<Element, StanzaError> {
    if node.is_empty() {
        return Ok(info);
    }
    match caps_ver_of(node) {
        Some(ver) if ver == caps::own_info_ver(&info) => Ok(info.with_attr("node", node)),
        _ => Err(Condition::ItemNotFound.into()),
    }
}

fn identity(category: &str, kind: &str, name: &str, lang: &str) -> Element {
    let mut el = Element::new("identity", ns::DISCO_INFO).with_attr("category", category).with_attr("type", kind);
    if !name.is_empty() {
        el.set_attr("name", name);
    }
    if !lang.is_empty() {
        el.set_attr("xml:lang", lang);
    }
    el
}

fn feature(var: &str) -> Element {
    Element::new("feature", ns::DISCO_INFO).with_attr("var", var)
}

/// The server answers for an account (RFC 6121 §8.5.1): it is a registered account.
fn account_info() -> Element {
    Element::new("query", ns::DISCO_INFO)
        .with_child(identity("account", "registered", "", ""))
        .with_child(feature(ns::DISCO_INFO))
}

fn host_info(host: &HostInfo, config: &Json) -> Element {
    let mut query = Element::new("query", ns::DISCO_INFO);
    let name = config.get("name").as_str().unwrap_or("");
    let mut identities = vec![("server", "im", name, "")];
    for i in &host.identities {
        identities.push((i.category.as_str(), i.type_.as_str(), i.name.as_str(), i.lang.as_str()));
    }
    let mut seen = Vec::new();
    for (category, kind, name, lang) in identities {
        // Only one server/im identity per language, whatever plugins declared.
        let key = (category, kind, if (category, kind) == ("server", "im") { "" } else { name }, lang);
        if !seen.contains(&key) {
            seen.push(key);
            query.push_child(identity(category, kind, name, lang));
        }
    }
    let mut features: Vec<&str> = host.features.iter().map(String::as_str).collect();
    features.extend([ns::DISCO_INFO, ns::DISCO_ITEMS]);
    features.sort_unstable();
    features.dedup();
    for f in features {
        query.push_child(feature(f));
    }
    let mut form_types: Vec<String> = Vec::new();
    for ext in &host.extensions {
        // A plugin's broken extension costs only that extension, not disco.
        let Ok(form) = Element::parse(ext) else { continue };
        let form_type = DataForm::from_element(&form).ok().and_then(|f| f.form_type().map(str::to_owned));
        if let Some(form_type) = form_type {
            // Two forms of one FORM_TYPE make the whole answer ill-formed
            // for XEP-0115 (§5.4): the first plugin's counts.
            if form_types.contains(&form_type) {
                continue;
            }
            form_types.push(form_type);
        }
        query.push_child(form);
    }
    let has_serverinfo = form_types.iter().any(|t| t == SERVERINFO);
    if !has_serverinfo && let Some(form) = contact_form(config) {
        query.push_child(form.to_element());
    }
    query
}

/// XEP-0157 contact addresses, or `None` when the operator configured none.
fn contact_form(config: &Json) -> Option<DataForm> {
    let mut form = DataForm::result().with_form_type(SERVERINFO);
    for var in CONTACT_FIELDS {
        let addresses = config.get(var).as_str_list();
        if !addresses.is_empty() {
            form = form.field(Field { values: addresses, ..Field::new(var, FieldType::ListMulti) });
        }
    }
    (form.fields.len() > 1).then_some(form)
}

fn host_items(host: &HostInfo) -> Element {
    let mut query = Element::new("query", ns::DISCO_ITEMS);
    let mut seen: Vec<(&str, &str)> = Vec::new();
    for item in &host.items {
        if item.jid.is_empty() || seen.contains(&(item.jid.as_str(), item.node.as_str())) {
            continue;
        }
        seen.push((&item.jid, &item.node));
        let mut el = Element::new("item", ns::DISCO_ITEMS).with_attr("jid", item.jid.clone());
        if !item.node.is_empty() {
            el.set_attr("node", item.node.clone());
        }
        if !item.name.is_empty() {
            el.set_attr("name", item.name.clone());
        }
        query.push_child(el);
    }
    query
}

waxwing_sdk::export_plugin!(Disco);

#[cfg(test)]
mod tests {
    use super::*;
    use waxwing_sdk::testing::FakeHost;
    use waxwing_sdk::{DiscoItem, Identity};

    fn host() -> HostInfo {
        let id = |c: &str, t: &str, n: &str| Identity {
            category: c.into(),
            type_: t.into(),
            name: n.into(),
            lang: String::new(),
        };
        let item = |j: &str, n: &str| DiscoItem { jid: j.into(), node: n.into(), name: String::new() };
        HostInfo {
            domain: "example.org".into(),
            features: vec!["urn:xmpp:ping".into(), ns::DISCO_INFO.into(), "urn:xmpp:ping".into()],
            identities: vec![id("server", "im", "Other"), id("pubsub", "pep", "")],
            items: vec![item("conference.example.org", ""), item("conference.example.org", ""), item("example.org", "n")],
            extensions: vec![
                "<x xmlns='jabber:x:data' type='result'><field var='FORM_TYPE' type='hidden'><value>urn:ext</value></field></x>"
                    .into(),
                "<broken".into(),
            ],
        }
    }

    fn cfg(json: &str) -> Json {
        Json::parse(json).unwrap()
    }

    fn vars(q: &Element, name: &str, attr: &str) -> Vec<String> {
        q.elements().filter(|e| e.name == name).filter_map(|e| e.attr(attr).map(str::to_owned)).collect()
    }

    #[test]
    fn info_aggregates_and_dedups() {
        let q = host_info(&host(), &cfg(r#"{"name": "Waxwing"}"#));
        assert_eq!(vars(&q, "feature", "var"), [ns::DISCO_INFO, ns::DISCO_ITEMS, "urn:xmpp:ping"]);
        assert_eq!(vars(&q, "identity", "category"), ["server", "pubsub"]);
        assert_eq!(vars(&q, "identity", "name"), ["Waxwing"]);
        let forms: Vec<_> = q.elements().filter(|e| e.is("x", ns::DATA_FORMS)).collect();
        assert_eq!(forms.len(), 1, "broken extension skipped, no contact form without config");
    }

    #[test]
    fn contact_addresses_come_from_settings() {
        let config = cfg(
            r#"{"admin-addresses": ["xmpp:admin@example.org", "mailto:a@example.org"], "abuse-addresses": "mailto:abuse@example.org", "sales-addresses": []}"#,
        );
        let q = host_info(&host(), &config);
        let form = q
            .elements()
            .filter_map(|e| DataForm::from_element(e).ok())
            .find(|f| f.form_type() == Some(SERVERINFO))
            .expect("serverinfo form");
        assert_eq!(form.values("admin-addresses"), ["xmpp:admin@example.org", "mailto:a@example.org"]);
        assert_eq!(form.values("abuse-addresses"), ["mailto:abuse@example.org"]);
        assert!(form.get("sales-addresses").is_none());
        assert!(Disco::init(&config).is_ok());
        let err = Disco::init(&cfg(r#"{"admin-addresses": [1]}"#)).unwrap_err();
        assert!(err.contains("'admin-addresses'"), "{err}");
        assert!(Disco::init(&cfg(r#"{"abuse-addresses": {"a": "b"}}"#)).is_err());
    }

    #[test]
    fn settings_default_to_no_name_and_no_addresses() {
        let settings = Disco::describe().into_wit().settings;
        assert_eq!(settings.len(), 1 + CONTACT_FIELDS.len());
        assert!(settings.iter().skip(1).all(|s| s.default == "[]"));
        let defaults =
            Json::Object(settings.iter().map(|s| (s.key.clone(), Json::parse(&s.default).unwrap())).collect());
        assert!(Disco::init(&defaults).is_ok());
        let q = host_info(&host(), &defaults);
        assert_eq!(vars(&q, "identity", "name"), Vec::<String>::new());
        assert!(contact_form(&defaults).is_none());
    }

    /// A host whose plugins declared two forms of one FORM_TYPE.
    fn host_with_duplicate_forms() -> HostInfo {
        let mut host = host();
        host.extensions.push(
            "<x xmlns='jabber:x:data' type='result'><field var='FORM_TYPE' type='hidden'><value>urn:ext</value></field>\
             <field var='second'><value>ignored</value></field></x>"
                .into(),
        );
        host
    }

    /// The kernel advertises the hash of this answer in stream features and
    /// advertises nothing when the answer is ill-formed for XEP-0115.
    #[test]
    fn answer_is_well_formed_for_caps() {
        let q = host_info(&host_with_duplicate_forms(), &cfg(r#"{"name": "Waxwing"}"#));
        let forms: Vec<_> = q.elements().filter(|e| e.is("x", ns::DATA_FORMS)).collect();
        assert_eq!(forms.len(), 1, "the second form of one FORM_TYPE is left out: {q}");
        let ver = caps::info_ver(&q).unwrap_or_else(|e| panic!("{e}: {q}"));
        assert_eq!(ver, caps::own_info_ver(&q));
    }

    #[test]
    fn caps_node_of_the_current_ver_is_answered() {
        let info = host_info(&host_with_duplicate_forms(), &cfg("{}"));
        let node = format!("{}#{}", caps::SERVER_NODE, caps::info_ver(&info).unwrap());
        let answer = answer_host_node(info.clone(), &node).unwrap();
        assert_eq!(answer.attr("node"), Some(node.as_str()));
        assert_eq!(answer.elements().count(), info.elements().count());
        for stale in [format!("{}#AAAA", caps::SERVER_NODE), caps::SERVER_NODE.to_owned(), "other#x".to_owned()] {
            assert_eq!(answer_host_node(info.clone(), &stale).unwrap_err().condition, Condition::ItemNotFound);
        }
        assert_eq!(answer_host_node(info.clone(), "").unwrap(), info);
    }

    #[test]
    fn items_skip_duplicates() {
        let q = host_items(&host());
        assert_eq!(vars(&q, "item", "jid"), ["conference.example.org", "example.org"]);
        assert_eq!(vars(&q, "item", "node"), ["n"]);
    }

    fn host_iq(query: &str) -> Iq {
        let xml = format!("<iq xmlns='jabber:client' type='get' id='1' from='a@example.org/r'>{query}</iq>");
        Iq(Stanza::from_xml(&xml, Address::Host, "example.org").unwrap())
    }

    #[test]
    fn the_host_is_answered_from_the_disco_aggregate() {
        FakeHost::set_host_info(host());
        let Ok(Outcome::Reply(reply)) = Disco::on_iq(host_iq(&format!("<query xmlns='{}'/>", ns::DISCO_INFO))) else {
            panic!("expected a reply")
        };
        let q = reply.child("query", ns::DISCO_INFO).unwrap();
        assert_eq!(vars(q, "feature", "var"), [ns::DISCO_INFO, ns::DISCO_ITEMS, "urn:xmpp:ping"]);
        let Ok(Outcome::Reply(reply)) = Disco::on_iq(host_iq(&format!("<query xmlns='{}'/>", ns::DISCO_ITEMS))) else {
            panic!("expected a reply")
        };
        assert_eq!(vars(reply.child("query", ns::DISCO_ITEMS).unwrap(), "item", "node"), ["n"]);

        FakeHost::revoke(Capability::Disco);
        let err = Disco::on_iq(host_iq(&format!("<query xmlns='{}'/>", ns::DISCO_INFO))).unwrap_err();
        assert_eq!(err.condition, Condition::InternalServerError);
    }

    #[test]
    fn unknown_nodes_are_item_not_found() {
        let iq = host_iq(&format!("<query xmlns='{}' node='x'/>", ns::DISCO_INFO));
        assert_eq!(Disco::on_iq(iq).unwrap_err().condition, Condition::ItemNotFound);
    }

    #[test]
    fn commands_are_listed_to_those_who_may_run_them() {
        FakeHost::set_admins(&["boss@example.org"]);
        adhoc::declare(&[
            adhoc::Command::new("admin#x", "Admin only", adhoc::Audience::Admins),
            adhoc::Command::new("user#y", "For users", adhoc::Audience::LocalUsers),
        ])
        .unwrap();
        let ask = |from: &str, payload: String| {
            let xml =
                format!("<iq xmlns='jabber:client' type='get' id='1' from='{from}' to='example.org'>{payload}</iq>");
            Disco::on_iq(Iq(Stanza::from_xml(&xml, Address::Host, "example.org").unwrap()))
        };
        let items = |from: &str| {
            let Ok(Outcome::Reply(r)) = ask(from, format!("<query xmlns='{}' node='{}'/>", ns::DISCO_ITEMS, adhoc::NS))
            else {
                panic!("expected a reply")
            };
            vars(r.child("query", ns::DISCO_ITEMS).unwrap(), "item", "node")
        };
        assert_eq!(items("boss@example.org/desk"), ["admin#x", "user#y"]);
        assert_eq!(items("joe@example.org/pc"), ["user#y"]);
        assert!(items("far@other.example/pc").is_empty());
        let Ok(Outcome::Reply(r)) =
            ask("boss@example.org/desk", format!("<query xmlns='{}' node='admin#x'/>", ns::DISCO_INFO))
        else {
            panic!("expected a reply")
        };
        let q = r.child("query", ns::DISCO_INFO).unwrap();
        assert_eq!(vars(q, "identity", "type"), ["command-node"]);
        // A command one may not run is a node that does not exist.
        let err = ask("joe@example.org/pc", format!("<query xmlns='{}' node='admin#x'/>", ns::DISCO_INFO)).unwrap_err();
        assert_eq!(err.condition, Condition::ItemNotFound);
    }

    #[test]
    fn accounts_are_registered() {
        let iq = Iq(Stanza::from_xml(
            "<iq xmlns='jabber:client' type='get' id='1' to='u@example.org'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>",
            Address::Bare,
            "example.org",
        )
        .unwrap());
        let Ok(Outcome::Reply(reply)) = Disco::on_iq(iq) else { panic!("expected a reply") };
        assert_eq!(reply.attr("from"), Some("u@example.org"));
        let q = reply.first_element().unwrap();
        assert_eq!(vars(q, "identity", "type"), ["registered"]);
    }
}
