//! The message of the day (sent to every session as it starts, and to
//! those online when it is set) and the welcome message (sent to each new
//! account), kept in `kv` and edited by the admins' commands.

use waxwing_sdk::adhoc::{Request, Step};
use waxwing_sdk::forms::FieldType;
use waxwing_sdk::prelude::*;
use waxwing_sdk::{kv, route, sessions};

use crate::form;

const MOTD: &str = "motd";
const WELCOME: &str = "welcome";

fn stored(key: &str) -> Result<Option<String>, HostError> {
    Ok(kv::get(key)?.and_then(|v| String::from_utf8(v).ok()))
}

/// A message from the server; `to` is set by `send_many` when `None`.
fn message(to: Option<&str>, kind: &str, text: &str) -> Element {
    let mut m = Element::new("message", ns::CLIENT)
        .with_attr("from", waxwing_sdk::domain())
        .with_attr("type", kind)
        .with_child(Element::new("body", ns::CLIENT).with_text(text.to_string()));
    if let Some(to) = to {
        m.set_attr("to", to);
    }
    m
}

fn text_form(title: &str, var: &str, label: &str, current: Option<String>) -> DataForm {
    let field = Field::new(var, FieldType::TextMulti).label(label);
    let field = match current {
        Some(text) => field.values(&text.lines().collect::<Vec<_>>()),
        None => field,
    };
    form(title, vec![field])
}

/// The first stage of a notice command, if `name` is one.
pub fn first_stage(name: &str) -> Option<Result<Step, StanzaError>> {
    Some(match name {
        "set-motd" => {
            Ok(Step::form(text_form("Setting the Message of the Day", "motd", "Message of the day", None), 1))
        }
        "edit-motd" => stored(MOTD)
            .map(|m| Step::form(text_form("Editing the Message of the Day", "motd", "Message of the day", m), 1))
            .map_err(StanzaError::from),
        "delete-motd" => {
            kv::delete(MOTD).map(|()| Step::done("the message of the day was deleted")).map_err(StanzaError::from)
        }
        "edit-welcome" => stored(WELCOME)
            .map(|w| {
                Step::form(text_form("Editing the Welcome Message", "welcome", "Welcome message (empty: none)", w), 1)
            })
            .map_err(StanzaError::from),
        _ => return None,
    })
}

/// The submitted form of a notice command, if `name` is one.
pub fn submit(name: &str, req: &Request) -> Option<Result<Step, StanzaError>> {
    let text = |var: &str| req.form.as_ref().map(|f| f.values(var).join("\n")).unwrap_or_default();
    Some(match name {
        "set-motd" | "edit-motd" => set_motd(&text("motd")),
        "edit-welcome" => {
            let welcome = text("welcome");
            let saved = if welcome.trim().is_empty() { kv::delete(WELCOME) } else { kv::put(WELCOME, welcome) };
            saved.map(|()| Step::done("the welcome message was saved")).map_err(StanzaError::from)
        }
        _ => return None,
    })
}

/// §4.23: kept for those who log in later, sent to everyone online now.
fn set_motd(text: &str) -> Result<Step, StanzaError> {
    if text.trim().is_empty() {
        return Err(StanzaError::new(Condition::BadRequest).with_text("the message of the day is empty"));
    }
    kv::put(MOTD, text)?;
    let online = sessions::online_all()?;
    route::send_many(&message(None, "headline", text), &online)?;
    Ok(Step::done(&format!("set, and sent to {} sessions", online.len())))
}

/// A session started: it gets the message of the day, if there is one.
pub fn session_started(full_jid: &str) -> Result<(), HostError> {
    match stored(MOTD)? {
        Some(text) => route::send(&message(Some(full_jid), "headline", &text)),
        None => Ok(()),
    }
}

/// An account was created: it gets the welcome message, if there is one.
pub fn user_created(bare_jid: &str) -> Result<(), HostError> {
    match stored(WELCOME)? {
        Some(text) => route::send(&message(Some(bare_jid), "normal", &text)),
        None => Ok(()),
    }
}
