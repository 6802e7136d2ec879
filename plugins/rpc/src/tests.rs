//! Calls on the SDK's fake host, as an admin's XML-RPC client makes them.

use waxwing_sdk::testing::{self, FakeHost};

use super::*;
use crate::xmlrpc::{Value, parse_value, value_element};

const BOSS: &str = "boss@example.org/desk";

fn load() {
    FakeHost::set_admins(&["boss@example.org"]);
    testing::init::<Rpc>("{}").unwrap();
}

fn send(from: &str, query: &str) -> Result<Element, StanzaError> {
    let xml = format!("<iq type='set' id='r1' from='{from}' to='example.org'>{query}</iq>");
    match Rpc::on_iq(Iq(Stanza::from_xml(&xml, Address::Host, "example.org").unwrap())) {
        Ok(Outcome::Reply(r)) => Ok(r),
        Ok(other) => panic!("{other:?}"),
        Err(e) => Err(e),
    }
}

fn call_xml(method: &str, params: &[Value]) -> String {
    let params: String = params.iter().map(|p| format!("<param>{}</param>", value_element(p).to_xml_in(NS))).collect();
    format!(
        "<query xmlns='{NS}'><methodCall><methodName>{method}</methodName><params>{params}</params></methodCall></query>"
    )
}

fn strs(values: &[&str]) -> Vec<Value> {
    values.iter().map(|s| Value::Str(s.to_string())).collect()
}

/// The admin's call: its return value, or its fault's (code, string).
fn call(method: &str, params: &[Value]) -> Result<Value, (i32, String)> {
    let reply = send(BOSS, &call_xml(method, params)).unwrap_or_else(|e| panic!("{method}: {e:?}"));
    let query = reply.child("query", NS).unwrap();
    let response = query.child("methodResponse", NS).unwrap();
    if let Some(fault) = response.child("fault", NS) {
        let Ok(Value::Struct(members)) = parse_value(fault.child("value", NS).unwrap()) else { panic!("{fault}") };
        let get = |n: &str| members.iter().find(|(m, _)| m == n).map(|(_, v)| v.clone());
        let (Some(Value::Int(code)), Some(Value::Str(text))) = (get("faultCode"), get("faultString")) else {
            panic!("{fault}")
        };
        return Err((code, text));
    }
    let value = response.child("params", NS).and_then(|p| p.child("param", NS)).and_then(|p| p.child("value", NS));
    Ok(parse_value(value.unwrap()).unwrap())
}

#[test]
fn describes_the_protocol_and_takes_sets_to_the_host() {
    let d = Rpc::describe().into_wit();
    assert!(d.features.iter().any(|f| f == NS));
    assert!(d.identities.iter().any(|i| i.category == "automation" && i.type_ == "rpc"));
    assert_eq!(d.routes.len(), 1);
    assert_eq!((d.routes[0].to, d.routes[0].types.as_slice()), (Address::Host, [StanzaType::Set].as_slice()));
}

#[test]
fn only_admins_may_call() {
    load();
    let e = send("joe@example.org/pc", &call_xml("registered_users", &[])).unwrap_err();
    assert_eq!(e.condition, Condition::Forbidden);
    // Even a malformed call: a stranger learns nothing of what is accepted.
    let e = send("joe@example.org/pc", &format!("<query xmlns='{NS}'/>")).unwrap_err();
    assert_eq!(e.condition, Condition::Forbidden);
}

#[test]
fn malformed_calls_are_bad_requests() {
    load();
    let bad = [
        format!("<query xmlns='{NS}'/>"),
        format!("<query xmlns='{NS}'><methodCall/></query>"),
        format!("<query xmlns='{NS}'><methodResponse/></query>"),
        format!(
            "<query xmlns='{NS}'><methodCall><methodName>stats</methodName><params><param/></params></methodCall></query>"
        ),
        format!(
            "<query xmlns='{NS}'><methodCall><methodName>stats</methodName><params><param><value><int>x</int></value></param></params></methodCall></query>"
        ),
        format!(
            "<query xmlns='{NS}'><methodCall><methodName>stats</methodName><params><param><value><blob/></value></param></params></methodCall></query>"
        ),
    ];
    for q in bad {
        assert_eq!(send(BOSS, &q).unwrap_err().condition, Condition::BadRequest, "{q}");
    }
}

#[test]
fn accounts_are_registered_repassworded_listed_counted_and_unregistered() {
    load();
    assert_eq!(call("register", &strs(&["ann", "pw1"])), Ok(Value::Int(0)));
    assert_eq!(FakeHost::account_password("ann").as_deref(), Some("pw1"));
    // ejabberd's form: one struct, with the host.
    let named = Value::Struct(vec![
        ("user".into(), Value::Str("bo".into())),
        ("host".into(), Value::Str("example.org".into())),
        ("password".into(), Value::Str("pw2".into())),
    ]);
    assert_eq!(call("register", &[named]), Ok(Value::Int(0)));
    assert_eq!(FakeHost::account_password("bo").as_deref(), Some("pw2"));
    let (code, text) = call("register", &strs(&["ann", "again"])).unwrap_err();
    assert_eq!(code, xmlrpc::APPLICATION);
    assert!(text.contains("exists"), "{text}");
    assert_eq!(call("register", &strs(&["x@other.example", "pw"])).unwrap_err().0, xmlrpc::APPLICATION);
    assert_eq!(call("register", &strs(&["cy", ""])).unwrap_err().0, xmlrpc::APPLICATION);

    assert_eq!(call("change_password", &strs(&["ann@example.org", "pw3"])), Ok(Value::Int(0)));
    assert_eq!(FakeHost::account_password("ann").as_deref(), Some("pw3"));
    assert_eq!(call("stats", &strs(&["registeredusers"])), Ok(Value::Int(2)));
    assert_eq!(call("registered_users", &[]), Ok(Value::Array(strs(&["ann@example.org", "bo@example.org"]))));
    assert_eq!(call("unregister", &strs(&["bo"])), Ok(Value::Int(0)));
    assert_eq!(FakeHost::account_password("bo"), None);
    assert_eq!(call("unregister", &strs(&["bo"])).unwrap_err().0, xmlrpc::APPLICATION);
}

#[test]
fn sessions_are_listed_counted_and_messaged() {
    load();
    FakeHost::add_session("ann@example.org/a", Some("<presence/>"));
    FakeHost::add_session("ann@example.org/b", None);
    assert_eq!(call("connected_users", &[]), Ok(Value::Array(strs(&["ann@example.org/a", "ann@example.org/b"]))));
    assert_eq!(call("stats", &strs(&["onlineusers"])), Ok(Value::Int(2)));

    assert_eq!(call("send_message", &strs(&["ann@example.org", "Hi", "Tea at four"])), Ok(Value::Int(0)));
    let sent = FakeHost::take_sent();
    assert_eq!(sent.len(), 1);
    assert_eq!((sent[0].attr("from"), sent[0].attr("to")), (Some("example.org"), Some("ann@example.org")));
    assert_eq!(sent[0].child("subject", ns::CLIENT).map(Element::text).as_deref(), Some("Hi"));
    assert_eq!(sent[0].child("body", ns::CLIENT).map(Element::text).as_deref(), Some("Tea at four"));
    call("send_message", &strs(&["ann@example.org", "", "no subject"])).unwrap();
    assert!(FakeHost::take_sent()[0].child("subject", ns::CLIENT).is_none());
    assert_eq!(call("send_message", &strs(&["not a jid@@", "", "x"])).unwrap_err().0, xmlrpc::APPLICATION);
}

#[test]
fn bad_calls_are_faults() {
    load();
    assert_eq!(call("nope", &[]).unwrap_err().0, xmlrpc::UNKNOWN_METHOD);
    assert_eq!(call("register", &strs(&["only-a-user"])).unwrap_err().0, xmlrpc::WRONG_PARAMS);
    assert_eq!(call("register", &[Value::Str("u".into()), Value::Int(1)]).unwrap_err().0, xmlrpc::WRONG_PARAMS);
    assert_eq!(call("connected_users", &strs(&["extra"])).unwrap_err().0, xmlrpc::WRONG_PARAMS);
    assert_eq!(call("stats", &strs(&["uptime"])).unwrap_err().0, xmlrpc::WRONG_PARAMS);
    let elsewhere = Value::Struct(vec![
        ("user".into(), Value::Str("u".into())),
        ("host".into(), Value::Str("other.example".into())),
    ]);
    assert_eq!(call("unregister", &[elsewhere]).unwrap_err().0, xmlrpc::WRONG_PARAMS);
    // An untyped value is a string.
    let untyped = format!(
        "<query xmlns='{NS}'><methodCall><methodName>stats</methodName><params><param><value>registeredusers</value></param></params></methodCall></query>"
    );
    assert!(send(BOSS, &untyped).unwrap().to_xml().contains("<int>0</int>"));
}
