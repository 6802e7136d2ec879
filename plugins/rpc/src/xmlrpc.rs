//! XML-RPC as XEP-0009 carries it: the `<methodCall/>` a client sends and
//! the `<methodResponse/>` it gets, unchanged except that every element is
//! in the query's namespace, `jabber:iq:rpc`.

use waxwing_sdk::Element;

/// XEP-0009's namespace: the query's, and so every XML-RPC element's.
pub const NS: &str = "jabber:iq:rpc";

/// An XML-RPC value. `Other` keeps the types no method takes (double,
/// base64, dateTime.iso8601) by name, so a call using them is still read
/// and answered with a fault rather than refused as malformed.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(i32),
    Bool(bool),
    Str(String),
    Nil,
    Array(Vec<Value>),
    Struct(Vec<(String, Value)>),
    Other(&'static str),
}

/// A method call: its name and parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub method: String,
    pub params: Vec<Value>,
}

/// A method's error, answered as `<fault/>` (XML-RPC says the struct holds
/// an int `faultCode` and a string `faultString`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub code: i32,
    pub text: String,
}

/// The codes of the XML-RPC fault code interoperability spec, which
/// XML-RPC libraries recognise, rather than codes of our own.
pub const UNKNOWN_METHOD: i32 = -32601;
pub const WRONG_PARAMS: i32 = -32602;
pub const APPLICATION: i32 = -32500;

impl Fault {
    pub fn new(code: i32, text: impl Into<String>) -> Self {
        Fault { code, text: text.into() }
    }
}

/// Reads the `<methodCall/>` in `query`; `Err` says what is malformed.
pub fn parse_call(query: &Element) -> Result<Call, String> {
    let call = query.first_element().filter(|c| c.is("methodCall", NS)).ok_or("the query holds no <methodCall/>")?;
    let method = call.child("methodName", NS).map(|n| n.text().trim().to_string()).unwrap_or_default();
    if method.is_empty() {
        return Err("the call has no <methodName/>".into());
    }
    let mut params = Vec::new();
    if let Some(list) = call.child("params", NS) {
        for param in list.elements() {
            let value = param.child("value", NS).filter(|_| param.is("param", NS));
            params.push(parse_value(value.ok_or("each <param/> holds one <value/>")?)?);
        }
    }
    Ok(Call { method, params })
}

/// Reads one `<value/>`.
pub fn parse_value(value: &Element) -> Result<Value, String> {
    // A value without a type element is a string (XML-RPC spec).
    let Some(typed) = value.first_element() else { return Ok(Value::Str(value.text())) };
    if typed.ns != NS {
        return Err(format!("<{}/> is not an XML-RPC type", typed.name));
    }
    let text = typed.text();
    Ok(match typed.name.as_str() {
        "i4" | "int" => Value::Int(text.trim().parse().map_err(|_| format!("{text:?} is not a 32-bit integer"))?),
        "boolean" => match text.trim() {
            "0" => Value::Bool(false),
            "1" => Value::Bool(true),
            _ => return Err(format!("{text:?} is not a boolean (0 or 1)")),
        },
        "string" => Value::Str(text),
        "nil" => Value::Nil,
        "double" => Value::Other("double"),
        "base64" => Value::Other("base64"),
        "dateTime.iso8601" => Value::Other("dateTime.iso8601"),
        "array" => {
            let data = typed.child("data", NS).ok_or("an <array/> holds one <data/>")?;
            Value::Array(data.elements().filter(|v| v.is("value", NS)).map(parse_value).collect::<Result<_, _>>()?)
        }
        "struct" => {
            let mut members = Vec::new();
            for m in typed.elements().filter(|m| m.is("member", NS)) {
                let name = m.child("name", NS).ok_or("a <member/> has a <name/>")?.text();
                let v = m.child("value", NS).ok_or("a <member/> has a <value/>")?;
                members.push((name, parse_value(v)?));
            }
            Value::Struct(members)
        }
        other => return Err(format!("<{other}/> is not an XML-RPC type")),
    })
}

fn el(name: &str) -> Element {
    Element::new(name, NS)
}

/// `value` as a `<value/>` element, typed (never the untyped string form,
/// which some clients, slixmpp's among them, cannot read).
pub fn value_element(value: &Value) -> Element {
    let typed = match value {
        Value::Int(i) => el("int").with_text(i.to_string()),
        Value::Bool(b) => el("boolean").with_text(if *b { "1" } else { "0" }),
        Value::Str(s) => el("string").with_text(s.clone()),
        Value::Nil | Value::Other(_) => el("nil"),
        Value::Array(items) => {
            el("array").with_child(items.iter().map(value_element).fold(el("data"), Element::with_child))
        }
        Value::Struct(members) => members.iter().fold(el("struct"), |s, (name, v)| {
            s.with_child(el("member").with_child(el("name").with_text(name.clone())).with_child(value_element(v)))
        }),
    };
    el("value").with_child(typed)
}

/// The `<query/>` answering a call: its one return value, or its fault.
pub fn response(answer: &Result<Value, Fault>) -> Element {
    let body = match answer {
        Ok(v) => el("params").with_child(el("param").with_child(value_element(v))),
        Err(f) => el("fault").with_child(value_element(&Value::Struct(vec![
            ("faultCode".into(), Value::Int(f.code)),
            ("faultString".into(), Value::Str(f.text.clone())),
        ]))),
    };
    el("query").with_child(el("methodResponse").with_child(body))
}
