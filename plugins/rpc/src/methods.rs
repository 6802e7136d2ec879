//! The methods: what each takes, does and returns.

use waxwing_sdk::prelude::*;
use waxwing_sdk::{accounts, route, sessions};

use crate::xmlrpc::{APPLICATION, Call, Fault, UNKNOWN_METHOD, Value, WRONG_PARAMS};

/// Why a call did not return a value: a fault of the method's (the caller's
/// mistake, or the kernel refusing it), or a failure inside the server,
/// answered as an iq error that does not say more.
#[derive(Debug)]
pub enum Failure {
    Fault(Fault),
    Error(StanzaError),
}

impl From<Fault> for Failure {
    fn from(f: Fault) -> Self {
        Failure::Fault(f)
    }
}

/// The kernel refusing the arguments (the account exists, there is no such
/// account, an empty password) is the caller's to hear; anything else is
/// the server's own failure.
impl From<HostError> for Failure {
    fn from(e: HostError) -> Self {
        match e {
            HostError::Invalid(why) => Failure::Fault(Fault::new(APPLICATION, why)),
            other => Failure::Error(other.into()),
        }
    }
}

/// Runs `call`.
pub fn run(call: &Call) -> Result<Value, Failure> {
    match call.method.as_str() {
        "register" => {
            let [user, password] = args(call, &["user", "password"])?;
            accounts::create(&username(&user)?, &password)?;
            Ok(Value::Int(0))
        }
        "unregister" => {
            let [user] = args(call, &["user"])?;
            accounts::delete(&username(&user)?)?;
            Ok(Value::Int(0))
        }
        "change_password" => {
            let [user, newpass] = args(call, &["user", "newpass"])?;
            accounts::set_password(&username(&user)?, &newpass)?;
            Ok(Value::Int(0))
        }
        "connected_users" => {
            no_args(call)?;
            Ok(strings(sessions::online_all()?))
        }
        "registered_users" => {
            no_args(call)?;
            let domain = waxwing_sdk::domain();
            Ok(strings(accounts::list_all()?.into_iter().map(|u| format!("{u}@{domain}"))))
        }
        "send_message" => {
            let [to, subject, body] = args(call, &["to", "subject", "body"])?;
            send_message(&to, &subject, &body)?;
            Ok(Value::Int(0))
        }
        "stats" => {
            let [name] = args(call, &["name"])?;
            let n = match name.as_str() {
                "registeredusers" => accounts::count()?,
                "onlineusers" => sessions::online_count()?,
                _ => return Err(wrong(&format!("no statistic {name:?}: registeredusers or onlineusers")).into()),
            };
            // XML-RPC has 32-bit ints only.
            Ok(Value::Int(i32::try_from(n).unwrap_or(i32::MAX)))
        }
        other => Err(Fault::new(UNKNOWN_METHOD, format!("no method {other:?}")).into()),
    }
}

fn wrong(text: &str) -> Fault {
    Fault::new(WRONG_PARAMS, text)
}

fn strings(items: impl IntoIterator<Item = String>) -> Value {
    Value::Array(items.into_iter().map(Value::Str).collect())
}

fn no_args(call: &Call) -> Result<(), Fault> {
    // ejabberd's clients send an empty struct where there is nothing to say.
    match call.params.as_slice() {
        [] => Ok(()),
        [Value::Struct(m)] if m.iter().all(|(name, _)| name == "host") => host_member(m),
        _ => Err(wrong(&format!("{} takes no parameters", call.method))),
    }
}

/// The string parameters `names`, given in that order or, as ejabberd's
/// XML-RPC clients send them, as the members of one struct (where a `host`
/// member, if any, must name this host).
fn args<const N: usize>(call: &Call, names: &[&str; N]) -> Result<[String; N], Fault> {
    let usage = || wrong(&format!("{} takes ({}), all strings", call.method, names.join(", ")));
    let values: Vec<&Value> = match call.params.as_slice() {
        [Value::Struct(members)] => {
            host_member(members)?;
            let member = |n: &&str| members.iter().find(|(m, _)| m == n).map(|(_, v)| v);
            names.iter().map(member).collect::<Option<_>>().ok_or_else(usage)?
        }
        list if list.len() == N => list.iter().collect(),
        _ => return Err(usage()),
    };
    let strings: Vec<String> = values
        .into_iter()
        .map(|v| match v {
            Value::Str(s) => Some(s.clone()),
            _ => None,
        })
        .collect::<Option<_>>()
        .ok_or_else(usage)?;
    strings.try_into().map_err(|_| usage())
}

fn host_member(members: &[(String, Value)]) -> Result<(), Fault> {
    let domain = waxwing_sdk::domain();
    match members.iter().find(|(m, _)| m == "host").map(|(_, v)| v) {
        None => Ok(()),
        Some(Value::Str(h)) if *h == domain => Ok(()),
        Some(_) => Err(wrong(&format!("host must be {domain}, the host called"))),
    }
}

/// The account `user` names: a username, or the bare JID of one of this
/// host's accounts.
fn username(user: &str) -> Result<String, Fault> {
    if !user.contains('@') {
        return Ok(user.to_string());
    }
    let domain = waxwing_sdk::domain();
    match Jid::prep(user) {
        Ok(Jid { node: Some(node), domain: d, resource: None }) if d == domain => Ok(node),
        _ => Err(Fault::new(APPLICATION, format!("{user} is not an account of {domain}"))),
    }
}

/// A message from the host, `subject` left out when empty.
fn send_message(to: &str, subject: &str, body: &str) -> Result<(), Failure> {
    let to = Jid::prep(to).map_err(|e| Fault::new(APPLICATION, e.message))?.to_string();
    if body.trim().is_empty() {
        return Err(wrong("the body is empty").into());
    }
    let mut message = Element::new("message", ns::CLIENT)
        .with_attr("from", waxwing_sdk::domain())
        .with_attr("to", to)
        .with_attr("type", "normal");
    if !subject.trim().is_empty() {
        message.push_child(Element::new("subject", ns::CLIENT).with_text(subject.to_string()));
    }
    message.push_child(Element::new("body", ns::CLIENT).with_text(body.to_string()));
    route::send(&message)?;
    Ok(())
}
