//! The engine on the SDK's fake host: each flow as a client drives it, with
//! what the XEP says must come back and who must hear of it.

use waxwing_sdk::prelude::*;
use waxwing_sdk::testing::FakeHost;

use crate::config::{Access, NodeConfig};
use crate::{Answer, Limits, NS, NS_ERRORS, NS_EVENT, NS_OWNER, NS_SHIM, Service, handle_iq};

const PS: &str = "pubsub.example.org";

fn limits() -> Limits {
    Limits { max_items: 100, default_max_items: 10, max_payload_bytes: 1024 }
}

fn component() -> Service {
    FakeHost::reset();
    // Sends from the subdomain are the service's own, as the kernel knows.
    FakeHost::declare(
        &Describe::new("pubsub", "0").service("pubsub").reads("roster", "subscriptions").reads("roster", "groups"),
    );
    Service::component(PS, true, vec!["admin@example.org".into()], limits())
}

/// Sends `payload` (inside `<pubsub xmlns=ns>`) as an iq of `ty` from `from`.
fn ask(service: &Service, from: &str, ty: &str, ns: &str, payload: &str) -> Answer {
    let xml = format!(
        "<iq xmlns='jabber:client' type='{ty}' id='q' from='{from}' to='{}'><pubsub xmlns='{ns}'>{payload}</pubsub></iq>",
        service.jid
    );
    let addressed = if service.is_pep() { Address::Bare } else { Address::Service };
    let iq = Iq(Stanza::from_xml(&xml, addressed, "example.org").expect("test iq parses"));
    match handle_iq(service, &iq)? {
        Outcome::Reply(el) => Ok(el.first_element().cloned()),
        other => panic!("unexpected outcome {other:?}"),
    }
}

fn ok(service: &Service, from: &str, ty: &str, ns: &str, payload: &str) -> Option<Element> {
    ask(service, from, ty, ns, payload).unwrap_or_else(|e| panic!("{payload}: {e:?}"))
}

/// The condition and pubsub#errors element of a refusal.
fn refused(service: &Service, from: &str, ty: &str, ns: &str, payload: &str) -> (Condition, Option<String>) {
    let e = ask(service, from, ty, ns, payload).expect_err(payload);
    let app = e.app_condition.as_ref().filter(|a| a.ns == NS_ERRORS).map(|a| a.name.clone());
    (e.condition, app)
}

fn publish(service: &Service, from: &str, node: &str, id: &str, body: &str) -> Option<Element> {
    ok(
        service,
        from,
        "set",
        NS,
        &format!("<publish node='{node}'><item id='{id}'><entry xmlns='urn:t'>{body}</entry></item></publish>"),
    )
}

fn sent_to(to: &str) -> Vec<Element> {
    FakeHost::sent().into_iter().filter(|m| m.attr("to") == Some(to)).collect()
}

fn item_ids(items: &Element) -> Vec<String> {
    items.elements().filter_map(|i| i.attr("id").map(str::to_string)).collect()
}

const ALICE: &str = "alice@example.org/phone";
const BOB: &str = "bob@example.org/laptop";

#[test]
fn a_publish_reaches_each_subscriber_with_its_payload() {
    let s = component();
    ok(&s, ALICE, "set", NS, "<create node='news'/>");
    let sub = ok(&s, BOB, "set", NS, "<subscribe node='news' jid='bob@example.org'/>").unwrap();
    assert_eq!(sub.child("subscription", NS).and_then(|e| e.attr("subscription")), Some("subscribed"));
    FakeHost::take_sent();
    let reply = publish(&s, ALICE, "news", "first", "hello").unwrap();
    assert_eq!(reply.child("publish", NS).and_then(|p| p.child("item", NS)).and_then(|i| i.attr("id")), Some("first"));
    let got = sent_to("bob@example.org");
    assert_eq!(got.len(), 1, "{got:?}");
    let item = got[0]
        .child("event", NS_EVENT)
        .and_then(|e| e.child("items", NS_EVENT))
        .and_then(|i| i.child("item", NS_EVENT));
    let item = item.expect("an item in the notification");
    assert_eq!(item.attr("id"), Some("first"));
    assert_eq!(item.child("entry", "urn:t").map(Element::text).as_deref(), Some("hello"));
    assert_eq!(got[0].attr("type"), Some("headline"));
    assert!(sent_to("alice@example.org").is_empty(), "the publisher is no subscriber");
}

#[test]
fn max_items_keeps_the_newest_and_a_republish_moves_to_newest() {
    let s = component();
    let form = "<configure><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#node_config</value></field><field var='pubsub#max_items'><value>2</value></field></x></configure>";
    ok(&s, ALICE, "set", NS, &format!("<create node='n'/>{form}"));
    for id in ["a", "b", "c"] {
        publish(&s, ALICE, "n", id, id);
    }
    let items = ok(&s, BOB, "get", NS, "<items node='n'/>").unwrap();
    assert_eq!(item_ids(items.child("items", NS).unwrap()), ["c", "b"]);
    publish(&s, ALICE, "n", "b", "again");
    let items = ok(&s, BOB, "get", NS, "<items node='n' max_items='1'/>").unwrap();
    assert_eq!(item_ids(items.child("items", NS).unwrap()), ["b"]);
}

#[test]
fn items_page_by_rsm_newest_first() {
    let s = component();
    ok(&s, ALICE, "set", NS, "<create node='n'/>");
    for id in ["1", "2", "3", "4", "5"] {
        publish(&s, ALICE, "n", id, id);
    }
    let rsm = |set: &str| {
        let p = ok(
            &s,
            BOB,
            "get",
            NS,
            &format!("<items node='n'/><set xmlns='http://jabber.org/protocol/rsm'>{set}</set>"),
        )
        .unwrap();
        let ids = item_ids(p.child("items", NS).unwrap());
        let count = p.child("set", crate::NS_RSM).and_then(|x| x.child("count", crate::NS_RSM)).map(Element::text);
        (ids, count)
    };
    assert_eq!(rsm("<max>2</max>"), (vec!["5".into(), "4".into()], Some("5".into())));
    assert_eq!(rsm("<max>2</max><after>4</after>").0, ["3", "2"]);
    assert_eq!(rsm("<max>2</max><before/>").0, ["2", "1"]);
    let (c, _) =
        refused(&s, BOB, "get", NS, "<items node='n'/><set xmlns='http://jabber.org/protocol/rsm'><max>x</max></set>");
    assert_eq!(c, Condition::BadRequest);
}

#[test]
fn access_models_refuse_with_the_errors_the_xep_names() {
    let s = component();
    let create = |node: &str, model: &str| {
        ok(
            &s,
            ALICE,
            "set",
            NS,
            &format!(
                "<create node='{node}'/><configure><x xmlns='jabber:x:data' type='submit'><field var='pubsub#access_model'><value>{model}</value></field></x></configure>"
            ),
        );
    };
    create("p", "presence");
    create("w", "whitelist");
    create("r", "roster");
    let sub =
        |node: &str| refused(&s, BOB, "set", NS, &format!("<subscribe node='{node}' jid='{}'/>", "bob@example.org"));
    assert_eq!(sub("p"), (Condition::NotAuthorized, Some("presence-subscription-required".into())));
    assert_eq!(sub("w"), (Condition::NotAllowed, Some("closed-node".into())));
    assert_eq!(sub("r"), (Condition::NotAuthorized, Some("not-in-roster-group".into())));
    // Bob sees Alice's presence, and is in her "friends".
    FakeHost::set_dataset("roster", "subscriptions", "alice@example.org bob@example.org", b"from");
    FakeHost::set_dataset("roster", "groups", "alice@example.org bob@example.org", b"friends");
    ok(&s, BOB, "set", NS, "<subscribe node='p' jid='bob@example.org'/>");
    assert_eq!(sub("r"), (Condition::NotAuthorized, Some("not-in-roster-group".into())));
    ok(
        &s,
        ALICE,
        "set",
        NS_OWNER,
        "<configure node='r'><x xmlns='jabber:x:data' type='submit'><field var='pubsub#roster_groups_allowed'><value>friends</value></field></x></configure>",
    );
    ok(&s, BOB, "set", NS, "<subscribe node='r' jid='bob@example.org'/>");
    // A member of the whitelist gets in; an outcast nowhere.
    ok(
        &s,
        ALICE,
        "set",
        NS_OWNER,
        "<affiliations node='w'><affiliation jid='bob@example.org' affiliation='member'/></affiliations>",
    );
    ok(&s, BOB, "set", NS, "<subscribe node='w' jid='bob@example.org'/>");
    ok(
        &s,
        ALICE,
        "set",
        NS_OWNER,
        "<affiliations node='p'><affiliation jid='bob@example.org' affiliation='outcast'/></affiliations>",
    );
    assert_eq!(refused(&s, BOB, "get", NS, "<items node='p'/>").0, Condition::Forbidden);
    let subs = ok(&s, ALICE, "get", NS_OWNER, "<subscriptions node='p'/>").unwrap();
    assert_eq!(subs.child("subscriptions", NS_OWNER).unwrap().elements().count(), 0, "an outcast's subscription ends");
}

#[test]
fn authorize_waits_for_the_owner_and_tells_the_subscriber() {
    let s = component();
    ok(
        &s,
        ALICE,
        "set",
        NS,
        "<create node='a'/><configure><x xmlns='jabber:x:data' type='submit'><field var='pubsub#access_model'><value>authorize</value></field></x></configure>",
    );
    publish(&s, ALICE, "a", "i1", "x");
    FakeHost::take_sent();
    let sub = ok(&s, BOB, "set", NS, "<subscribe node='a' jid='bob@example.org/laptop'/>").unwrap();
    assert_eq!(sub.child("subscription", NS).and_then(|e| e.attr("subscription")), Some("pending"));
    assert_eq!(
        refused(&s, BOB, "get", NS, "<items node='a'/>"),
        (Condition::NotAuthorized, Some("not-subscribed".into()))
    );
    let asked = sent_to("alice@example.org");
    let form = asked[0].child("x", ns::DATA_FORMS).map(|x| DataForm::from_element(x).unwrap()).expect("a form");
    assert_eq!(form.form_type(), Some(crate::FORM_SUB_AUTH));
    assert_eq!(form.value("pubsub#subscriber_jid"), Some("bob@example.org/laptop"));
    let answer = "<message xmlns='jabber:client' from='alice@example.org/phone' to='pubsub.example.org'><x xmlns='jabber:x:data' type='submit'>\
        <field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#subscribe_authorization</value></field>\
        <field var='pubsub#node'><value>a</value></field><field var='pubsub#subscriber_jid'><value>bob@example.org/laptop</value></field>\
        <field var='pubsub#allow'><value>true</value></field></x></message>";
    let msg = Message(Stanza::from_xml(answer, Address::Service, "example.org").unwrap());
    FakeHost::take_sent();
    assert_eq!(crate::authorize::handle_answer(&s, &msg).unwrap(), Some(()));
    let told = sent_to(BOB);
    let state = told[0]
        .child("event", NS_EVENT)
        .and_then(|e| e.child("subscription", NS_EVENT))
        .and_then(|x| x.attr("subscription"));
    assert_eq!(state, Some("subscribed"));
    assert_eq!(told.len(), 2, "the approval, then the last item: {told:?}");
    ok(&s, BOB, "get", NS, "<items node='a'/>");
}

#[test]
fn publish_errors_follow_section_7_1_3() {
    let s = component();
    ok(&s, ALICE, "set", NS, "<create node='n'/>");
    assert_eq!(
        refused(&s, BOB, "set", NS, "<publish node='n'><item><e xmlns='urn:t'/></item></publish>").0,
        Condition::Forbidden
    );
    assert_eq!(
        refused(&s, ALICE, "set", NS, "<publish node='n'/>"),
        (Condition::BadRequest, Some("item-required".into()))
    );
    assert_eq!(
        refused(&s, ALICE, "set", NS, "<publish node='n'><item/></publish>"),
        (Condition::BadRequest, Some("payload-required".into()))
    );
    assert_eq!(
        refused(&s, ALICE, "set", NS, "<publish node='n'><item><a xmlns='urn:t'/><b xmlns='urn:t'/></item></publish>"),
        (Condition::BadRequest, Some("invalid-payload".into()))
    );
    let big = "x".repeat(2000);
    assert_eq!(
        refused(&s, ALICE, "set", NS, &format!("<publish node='n'><item><a xmlns='urn:t'>{big}</a></item></publish>")),
        (Condition::NotAcceptable, Some("payload-too-big".into()))
    );
    assert_eq!(
        refused(&s, ALICE, "set", NS, "<publish><item><a xmlns='urn:t'/></item></publish>"),
        (Condition::BadRequest, Some("nodeid-required".into()))
    );
    let mismatch = "<publish node='n'><item><a xmlns='urn:t'/></item></publish><publish-options><x xmlns='jabber:x:data' type='submit'>\
        <field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>\
        <field var='pubsub#access_model'><value>whitelist</value></field></x></publish-options>";
    assert_eq!(refused(&s, ALICE, "set", NS, mismatch), (Condition::Conflict, Some("precondition-not-met".into())));
    assert_eq!(
        refused(&s, ALICE, "set", NS, "<retract node='n'><item id='nope'/></retract>").0,
        Condition::ItemNotFound
    );
    assert_eq!(
        refused(&s, ALICE, "set", NS, "<retract node='n'/>"),
        (Condition::BadRequest, Some("item-required".into()))
    );
    assert_eq!(
        refused(&s, ALICE, "set", NS, "<retract><item id='x'/></retract>"),
        (Condition::BadRequest, Some("nodeid-required".into()))
    );
    assert_eq!(refused(&s, ALICE, "set", NS, "<create node='n'/>").0, Condition::Conflict);
    assert_eq!(refused(&s, "eve@elsewhere.example/x", "set", NS, "<create node='m'/>").0, Condition::Forbidden);
    assert_eq!(refused(&s, BOB, "get", NS_OWNER, "<configure node='n'/>").0, Condition::Forbidden);
    assert_eq!(refused(&s, ALICE, "get", NS_OWNER, "<configure node='none'/>").0, Condition::ItemNotFound);
    assert_eq!(
        refused(&s, BOB, "set", NS, "<unsubscribe node='n' jid='bob@example.org'/>"),
        (Condition::UnexpectedRequest, Some("not-subscribed".into()))
    );
    assert_eq!(
        refused(&s, BOB, "set", NS, "<subscribe node='n' jid='alice@example.org'/>"),
        (Condition::BadRequest, Some("invalid-jid".into()))
    );
    assert_eq!(refused(&s, ALICE, "set", NS, "<frobnicate node='n'/>").0, Condition::FeatureNotImplemented);
    // The node is untouched by all that.
    publish(&s, ALICE, "n", "fine", "ok");
}

#[test]
fn delete_and_purge_notify_subscribers() {
    let s = component();
    ok(&s, ALICE, "set", NS, "<create node='n'/>");
    ok(&s, BOB, "set", NS, "<subscribe node='n' jid='bob@example.org'/>");
    publish(&s, ALICE, "n", "1", "x");
    FakeHost::take_sent();
    ok(&s, ALICE, "set", NS_OWNER, "<purge node='n'/>");
    assert!(sent_to("bob@example.org")[0].child("event", NS_EVENT).unwrap().child("purge", NS_EVENT).is_some());
    assert_eq!(item_ids(ok(&s, BOB, "get", NS, "<items node='n'/>").unwrap().child("items", NS).unwrap()).len(), 0);
    FakeHost::take_sent();
    ok(&s, ALICE, "set", NS_OWNER, "<delete node='n'><redirect uri='xmpp:pubsub.example.org?;node=m'/></delete>");
    let delete =
        sent_to("bob@example.org")[0].child("event", NS_EVENT).unwrap().child("delete", NS_EVENT).cloned().unwrap();
    assert_eq!(delete.child("redirect", NS_EVENT).and_then(|r| r.attr("uri")), Some("xmpp:pubsub.example.org?;node=m"));
    assert_eq!(refused(&s, BOB, "get", NS, "<items node='n'/>").0, Condition::ItemNotFound);
    assert!(FakeHost::kv_entries().is_empty(), "nothing of the node is left: {:?}", FakeHost::kv_entries());
}

#[test]
fn transient_nodes_keep_no_items() {
    let s = component();
    ok(
        &s,
        ALICE,
        "set",
        NS,
        "<create node='t'/><configure><x xmlns='jabber:x:data' type='submit'><field var='pubsub#persist_items'><value>0</value></field></x></configure>",
    );
    ok(&s, BOB, "set", NS, "<subscribe node='t' jid='bob@example.org'/>");
    FakeHost::take_sent();
    publish(&s, ALICE, "t", "1", "x");
    assert_eq!(sent_to("bob@example.org").len(), 1);
    assert_eq!(refused(&s, ALICE, "set", NS_OWNER, "<purge node='t'/>").0, Condition::FeatureNotImplemented);
    assert_eq!(refused(&s, BOB, "get", NS, "<items node='t'/>").0, Condition::FeatureNotImplemented);
}

#[test]
fn a_collection_subscriber_hears_of_its_leaves_with_the_collection_header() {
    let s = component();
    ok(
        &s,
        ALICE,
        "set",
        NS,
        "<create node='c'/><configure><x xmlns='jabber:x:data' type='submit'><field var='pubsub#node_type'><value>collection</value></field></x></configure>",
    );
    ok(
        &s,
        ALICE,
        "set",
        NS,
        "<create node='leaf'/><configure><x xmlns='jabber:x:data' type='submit'><field var='pubsub#collection'><value>c</value></field></x></configure>",
    );
    assert_eq!(
        refused(&s, ALICE, "set", NS, "<publish node='c'><item><a xmlns='urn:t'/></item></publish>").0,
        Condition::FeatureNotImplemented
    );
    ok(&s, BOB, "set", NS, "<subscribe node='c' jid='bob@example.org'/>");
    FakeHost::take_sent();
    publish(&s, ALICE, "leaf", "1", "x");
    let got = sent_to("bob@example.org");
    assert_eq!(got.len(), 1);
    let header =
        got[0].child("headers", NS_SHIM).and_then(|h| h.child("header", NS_SHIM)).map(|h| (h.attr("name"), h.text()));
    assert_eq!(header, Some((Some("Collection"), "c".to_string())));
    let items = crate::disco::items(&s, Some("c"), BOB).unwrap();
    assert_eq!(items.elements().filter_map(|i| i.attr("node")).collect::<Vec<_>>(), ["leaf"]);
    // Bob now subscribes to the leaf too: one notification, not two.
    ok(&s, BOB, "set", NS, "<subscribe node='leaf' jid='bob@example.org'/>");
    FakeHost::take_sent();
    publish(&s, ALICE, "leaf", "2", "y");
    assert_eq!(sent_to("bob@example.org").len(), 1);
}

#[test]
fn pep_notifies_contacts_whose_caps_ask_for_the_node() {
    FakeHost::reset();
    let s = Service::pep("alice@example.org", limits());
    FakeHost::set_dataset("roster", "subscriptions", "alice@example.org bob@example.org", b"both");
    FakeHost::set_dataset("roster", "subscriptions", "alice@example.org carol@example.org", b"to");
    let avail = Some("<presence xmlns='jabber:client'/>");
    for full in [BOB, "bob@example.org/phone", "carol@example.org/x", ALICE] {
        FakeHost::add_session(full, avail);
    }
    FakeHost::set_dataset("caps", "caps", BOB, b"http://jabber.org/protocol/nick+notify\nurn:xmpp:receipts");
    FakeHost::set_dataset("caps", "caps", "bob@example.org/phone", b"urn:xmpp:receipts");
    FakeHost::set_dataset("caps", "caps", "carol@example.org/x", b"http://jabber.org/protocol/nick+notify");
    FakeHost::set_dataset("caps", "caps", ALICE, b"http://jabber.org/protocol/nick+notify");
    // Auto-created on first publish; only the owner may.
    assert_eq!(
        refused(&s, BOB, "set", NS, "<publish node='http://jabber.org/protocol/nick'><item><nick xmlns='http://jabber.org/protocol/nick'>B</nick></item></publish>").0,
        Condition::Forbidden
    );
    ok(
        &s,
        ALICE,
        "set",
        NS,
        "<publish node='http://jabber.org/protocol/nick'><item><nick xmlns='http://jabber.org/protocol/nick'>Al</nick></item></publish>",
    );
    let mut to: Vec<String> = FakeHost::sent().iter().filter_map(|m| m.attr("to").map(str::to_string)).collect();
    to.sort();
    assert_eq!(
        to,
        [ALICE, BOB],
        "bob's laptop (caps), alice's own session; not bob's phone (no +notify) nor carol (no from)"
    );
    assert_eq!(FakeHost::sent()[0].attr("from"), Some("alice@example.org"));
    // Subscribed by his bare JID as well: still one copy for his laptop.
    ok(&s, BOB, "set", NS, "<subscribe node='http://jabber.org/protocol/nick' jid='bob@example.org'/>");
    FakeHost::take_sent();
    ok(
        &s,
        ALICE,
        "set",
        NS,
        "<publish node='http://jabber.org/protocol/nick'><item><nick xmlns='http://jabber.org/protocol/nick'>Ali</nick></item></publish>",
    );
    let mut to: Vec<String> = FakeHost::sent().iter().filter_map(|m| m.attr("to").map(str::to_string)).collect();
    to.sort();
    assert_eq!(to, [ALICE, "bob@example.org"]);
    let stored = crate::node::require(&s, "http://jabber.org/protocol/nick").unwrap().node;
    assert_eq!(stored.config.access, Access::Presence);
    assert_eq!(stored.config.max_items, 1);
}

#[test]
fn pep_publish_options_configure_a_new_node_and_guard_it_after() {
    FakeHost::reset();
    let s = Service::pep("alice@example.org", limits());
    let opts = |model: &str| {
        format!(
            "<publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>\
             <field var='pubsub#persist_items'><value>true</value></field><field var='pubsub#max_items'><value>max</value></field>\
             <field var='pubsub#access_model'><value>{model}</value></field></x></publish-options>"
        )
    };
    let item = "<publish node='urn:xmpp:bookmarks:1'><item id='room@conference.example.org'><conference xmlns='urn:xmpp:bookmarks:1'/></item></publish>";
    ok(&s, ALICE, "set", NS, &format!("{item}{}", opts("whitelist")));
    let node = crate::node::require(&s, "urn:xmpp:bookmarks:1").unwrap().node;
    assert_eq!((node.config.access, node.config.max_items), (Access::Whitelist, 100));
    ok(&s, ALICE, "set", NS, &format!("{item}{}", opts("whitelist")));
    assert_eq!(
        refused(&s, ALICE, "set", NS, &format!("{item}{}", opts("open"))),
        (Condition::Conflict, Some("precondition-not-met".into()))
    );
    FakeHost::set_dataset("roster", "subscriptions", "alice@example.org bob@example.org", b"both");
    assert_eq!(
        refused(&s, BOB, "get", NS, "<items node='urn:xmpp:bookmarks:1'/>"),
        (Condition::NotAllowed, Some("closed-node".into()))
    );
}

#[test]
fn config_forms_round_trip_and_refuse_bad_values() {
    let l = limits();
    let mut c = NodeConfig::component_default(&l);
    let form = DataForm::from_element(
        &Element::parse("<x xmlns='jabber:x:data' type='submit'><field var='pubsub#max_items'><value>max</value></field><field var='pubsub#title'><value>T</value></field></x>").unwrap(),
    )
    .unwrap();
    c.apply(&form, &l).unwrap();
    assert_eq!((c.max_items, c.title.as_str()), (100, "T"));
    assert_eq!(NodeConfig::from_json(&c.to_json(), NodeConfig::pep_default(&l)), c);
    for bad in [
        "<field var='pubsub#max_items'><value>0</value></field>",
        "<field var='pubsub#max_items'><value>101</value></field>",
        "<field var='pubsub#access_model'><value>friends</value></field>",
        "<field var='pubsub#persist_items'><value>yes</value></field>",
    ] {
        let form = DataForm::from_element(
            &Element::parse(&format!("<x xmlns='jabber:x:data' type='submit'>{bad}</x>")).unwrap(),
        )
        .unwrap();
        assert_eq!(c.clone().apply(&form, &l).unwrap_err().condition, Condition::NotAcceptable, "{bad}");
    }
}

#[test]
fn ids_too_long_for_storage_are_refused_before_they_reach_it() {
    let s = component();
    let long = "n".repeat(crate::MAX_ID_BYTES + 1);
    assert_eq!(refused(&s, ALICE, "set", NS, &format!("<create node='{long}'/>")).0, Condition::NotAcceptable);
    assert_eq!(refused(&s, ALICE, "get", NS, &format!("<items node='{long}'/>")).0, Condition::NotAcceptable);
    ok(&s, ALICE, "set", NS, "<create node='n'/>");
    let item = format!("<publish node='n'><item id='{long}'><a xmlns='urn:t'/></item></publish>");
    assert_eq!(refused(&s, ALICE, "set", NS, &item).0, Condition::NotAcceptable);
    let jid = format!("bob@example.org/{}", "r".repeat(600));
    assert_eq!(
        refused(&s, BOB, "set", NS, &format!("<subscribe node='n' jid='{jid}'/>")).1.as_deref(),
        Some("invalid-jid")
    );
    assert!(FakeHost::kv_entries().iter().all(|(k, _)| k.len() < 1024));
}

#[test]
fn the_node_graph_stays_a_tree_of_collections() {
    let s = component();
    let form = |var: &str, value: &str| {
        format!("<x xmlns='jabber:x:data' type='submit'><field var='{var}'><value>{value}</value></field></x>")
    };
    let create = |node: &str, var: &str, value: &str| {
        format!("<create node='{node}'/><configure>{}</configure>", form(var, value))
    };
    let configure =
        |node: &str, var: &str, value: &str| format!("<configure node='{node}'>{}</configure>", form(var, value));
    ok(&s, ALICE, "set", NS, &create("top", "pubsub#node_type", "collection"));
    ok(&s, ALICE, "set", NS, &create("mid", "pubsub#node_type", "collection"));
    ok(&s, ALICE, "set", NS_OWNER, &configure("mid", "pubsub#collection", "top"));
    ok(&s, ALICE, "set", NS, &create("leaf", "pubsub#collection", "mid"));
    let invalid = (Condition::NotAllowed, Some("invalid-options".to_string()));
    // top under mid, when mid is under top.
    assert_eq!(refused(&s, ALICE, "set", NS_OWNER, &configure("top", "pubsub#collection", "mid")), invalid);
    assert_eq!(refused(&s, ALICE, "set", NS, &create("x", "pubsub#collection", "leaf")), invalid);
    assert_eq!(refused(&s, ALICE, "set", NS_OWNER, &configure("mid", "pubsub#node_type", "leaf")), invalid);
    assert_eq!(refused(&s, ALICE, "set", NS_OWNER, "<delete/>").0, Condition::NotAllowed);
    let reply = ok(&s, ALICE, "get", NS_OWNER, "<configure node='top'/>").unwrap();
    let x = reply.child("configure", NS_OWNER).and_then(|c| c.child("x", ns::DATA_FORMS)).unwrap();
    assert_eq!(DataForm::from_element(x).unwrap().values("pubsub#children"), ["mid"]);
}

#[test]
fn unknown_publish_options_are_unmet_preconditions() {
    let s = component();
    ok(&s, ALICE, "set", NS, "<create node='n'/>");
    let unknown = "<publish node='n'><item><a xmlns='urn:t'/></item></publish><publish-options><x xmlns='jabber:x:data' type='submit'>\
        <field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>\
        <field var='pubsub#frobnicate'><value>1</value></field></x></publish-options>";
    assert_eq!(refused(&s, ALICE, "set", NS, unknown), (Condition::Conflict, Some("precondition-not-met".into())));
}

#[test]
fn an_owner_changing_a_subscription_tells_the_entity() {
    let s = component();
    ok(&s, ALICE, "set", NS, "<create node='n'/>");
    FakeHost::take_sent();
    ok(
        &s,
        ALICE,
        "set",
        NS_OWNER,
        "<subscriptions node='n'><subscription jid='bob@example.org' subscription='subscribed'/></subscriptions>",
    );
    let told = sent_to("bob@example.org");
    let sub = told[0].child("event", NS_EVENT).and_then(|e| e.child("subscription", NS_EVENT)).unwrap();
    assert_eq!(sub.attr("subscription"), Some("subscribed"));
    let dup = "<affiliations node='n'><affiliation jid='bob@example.org' affiliation='member'/><affiliation jid='bob@example.org' affiliation='publisher'/></affiliations>";
    assert_eq!(refused(&s, ALICE, "set", NS_OWNER, dup).0, Condition::BadRequest);
}

#[test]
fn forgetting_a_pep_service_leaves_nothing_of_it_and_everything_else() {
    FakeHost::reset();
    let alice = Service::pep("alice@example.org", limits());
    let bob = Service::pep("bob@example.org", limits());
    FakeHost::set_dataset("roster", "subscriptions", "alice@example.org bob@example.org", b"both");
    for s in [&alice, &bob] {
        let owner = format!("{}/r", s.jid);
        publish(s, &owner, "urn:t", "1", "x");
    }
    ok(&alice, BOB, "set", NS, "<subscribe node='urn:t' jid='bob@example.org'/>");
    let before = FakeHost::kv_entries().len();
    crate::store::forget(&alice).unwrap();
    let left = FakeHost::kv_entries();
    assert!(left.len() < before);
    assert!(left.iter().all(|(k, _)| !String::from_utf8_lossy(k).contains("alice@example.org")), "{left:?}");
    assert!(crate::node::load(&bob, "urn:t").unwrap().is_some());
}
