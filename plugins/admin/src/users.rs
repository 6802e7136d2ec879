//! The commands: their forms, and what submitting each does.

use waxwing_sdk::adhoc::{Note, Request, Step};
use waxwing_sdk::forms::FieldType;
use waxwing_sdk::prelude::*;
use waxwing_sdk::{accounts, route, sessions};

use crate::{form, result};

fn jid_single(var: &str, label: &str) -> Field {
    Field::new(var, FieldType::JidSingle).label(label).required()
}

fn jid_multi(var: &str, label: &str) -> Field {
    Field::new(var, FieldType::JidMulti).label(label).required()
}

fn private(var: &str, label: &str) -> Field {
    Field::new(var, FieldType::TextPrivate).label(label).required()
}

fn bad(text: &str) -> StanzaError {
    StanzaError::new(Condition::BadRequest).with_text(text.to_string())
}

/// The first stage: the command's form, or its answer when it asks nothing.
pub fn first_stage(name: &str) -> Result<Step, StanzaError> {
    let f = match name {
        "add-user" => form(
            "Adding a User",
            vec![
                jid_single("accountjid", "The Jabber ID for the account to be added"),
                private("password", "The password for this account"),
                private("password-verify", "Retype password"),
            ],
        ),
        "delete-user" => form("Deleting a User", vec![jid_multi("accountjids", "The Jabber ID(s) to delete")]),
        "disable-user" => form("Disabling a User", vec![jid_multi("accountjids", "The Jabber ID(s) to disable")]),
        "reenable-user" => form("Re-Enabling a User", vec![jid_multi("accountjids", "The Jabber ID(s) to re-enable")]),
        "change-user-password" => form(
            "Changing a User Password",
            vec![
                jid_single("accountjid", "The Jabber ID for this account"),
                private("password", "The password for this account"),
            ],
        ),
        "end-user-session" => form(
            "Ending a User Session",
            vec![jid_multi(
                "accountjids",
                "The Jabber ID(s) whose sessions to end: bare for all of an account's, full for one",
            )],
        ),
        "announce" => form(
            "Making an Announcement",
            vec![
                Field::text_single("subject", "").label("Subject"),
                Field::new("announcement", FieldType::TextMulti).label("Announcement").required(),
            ],
        ),
        "get-registered-users-num" => {
            let n = accounts::count()?;
            return Ok(Step::result(result(vec![Field::text_single("registeredusersnum", &n.to_string())])));
        }
        "get-registered-users-list" => {
            let domain = waxwing_sdk::domain();
            let jids: Vec<String> = accounts::list_all()?.into_iter().map(|u| format!("{u}@{domain}")).collect();
            return Ok(Step::result(result(vec![Field::jid_multi("registereduserjids", &jids)])));
        }
        "get-online-users-num" => {
            let n = online_accounts()?.len();
            return Ok(Step::result(result(vec![Field::text_single("onlineusersnum", &n.to_string())])));
        }
        "get-online-users-list" => {
            return Ok(Step::result(result(vec![Field::jid_multi("onlineuserjids", &online_accounts()?)])));
        }
        _ => return Err(Condition::ItemNotFound.into()),
    };
    Ok(Step::form(f, 1))
}

/// The submitted form: what the command does.
pub fn submit(name: &str, req: &Request) -> Result<Step, StanzaError> {
    let Some(f) = req.form.as_ref() else { return Err(bad("submit the command's form")) };
    match name {
        "add-user" => {
            let user = username(f.value("accountjid"))?;
            let password = f.value("password").unwrap_or_default();
            if password != f.value("password-verify").unwrap_or_default() {
                return Err(StanzaError::new(Condition::NotAcceptable).with_text("the passwords do not match"));
            }
            accounts::create(&user, password).map_err(refused)?;
            Ok(Step::done(&format!("{user}@{} was added", waxwing_sdk::domain())))
        }
        "delete-user" => {
            let mut notes = Vec::new();
            for jid in f.values("accountjids") {
                let user = username(Some(jid))?;
                match accounts::delete(&user) {
                    Ok(()) => notes.push(Note::Info(format!("{jid} was deleted"))),
                    Err(e) => notes.push(Note::Error(format!("{jid}: {e}"))),
                }
            }
            Ok(notes.into_iter().fold(Step::result(result(Vec::new())), Step::note))
        }
        "disable-user" | "reenable-user" => {
            let disable = name == "disable-user";
            let mut notes = Vec::new();
            for jid in f.values("accountjids") {
                let user = username(Some(jid))?;
                match accounts::set_disabled(&user, disable) {
                    Ok(()) => {
                        notes.push(Note::Info(format!("{jid} is {}", if disable { "disabled" } else { "enabled" })))
                    }
                    Err(e) => notes.push(Note::Error(format!("{jid}: {e}"))),
                }
            }
            Ok(notes.into_iter().fold(Step::result(result(Vec::new())), Step::note))
        }
        "change-user-password" => {
            let user = username(f.value("accountjid"))?;
            accounts::set_password(&user, f.value("password").unwrap_or_default()).map_err(refused)?;
            Ok(Step::done("the password was changed"))
        }
        "end-user-session" => {
            let mut ended = 0;
            for jid in f.values("accountjids") {
                let full: Vec<String> = if jid.contains('/') {
                    vec![jid.clone()]
                } else {
                    username(Some(jid))?;
                    sessions::of(jid)?.into_iter().map(|s| s.jid).collect()
                };
                for s in full {
                    if accounts::end_session(&s, "an administrator ended this session").map_err(refused)? {
                        ended += 1;
                    }
                }
            }
            Ok(Step::done(&format!("{ended} sessions ended")))
        }
        "announce" => {
            let text = f.values("announcement").join("\n");
            if text.trim().is_empty() {
                return Err(bad("the announcement is empty"));
            }
            let mut message = Element::new("message", ns::CLIENT)
                .with_attr("from", waxwing_sdk::domain())
                .with_attr("type", "headline")
                .with_child(Element::new("body", ns::CLIENT).with_text(text));
            if let Some(subject) = f.value("subject").filter(|s| !s.trim().is_empty()) {
                message.push_child(Element::new("subject", ns::CLIENT).with_text(subject.to_string()));
            }
            let to = sessions::online_all()?;
            route::send_many(&message, &to)?;
            Ok(Step::done(&format!("sent to {} sessions", to.len())))
        }
        // The lookups answer once they have a JID (`lookups::answer`).
        "get-user-roster" | "get-user-lastlogin" => Err(bad("give the account's JID")),
        _ => Err(Condition::ItemNotFound.into()),
    }
}

/// The bare JID of an account of this host that `jid` names; `None` when
/// the form named none.
pub fn account_jid(jid: Option<&str>) -> Result<Option<String>, StanzaError> {
    match jid.filter(|j| !j.is_empty()) {
        None => Ok(None),
        Some(j) => Ok(Some(format!("{}@{}", username(Some(j))?, waxwing_sdk::domain()))),
    }
}

/// The username of `jid`, an account of this host.
fn username(jid: Option<&str>) -> Result<String, StanzaError> {
    let jid = jid.filter(|j| !j.is_empty()).ok_or_else(|| bad("give the account's JID"))?;
    let parsed = Jid::prep(jid)?;
    let domain = waxwing_sdk::domain();
    match parsed.node {
        Some(node) if parsed.domain == domain && parsed.resource.is_none() => Ok(node),
        _ => Err(bad(&format!("{jid} is not an account of {domain}"))),
    }
}

/// A refusal of the kernel's (no such account, a bad password) as the
/// admin's error.
fn refused(e: HostError) -> StanzaError {
    match e {
        HostError::Invalid(why) => StanzaError::new(Condition::NotAcceptable).with_text(why),
        other => other.into(),
    }
}

/// Bare JIDs with at least one session, sorted.
fn online_accounts() -> Result<Vec<String>, StanzaError> {
    let mut bare: Vec<String> = sessions::online_all()?.iter().map(|j| waxwing_sdk::jid::bare(j).to_string()).collect();
    bare.dedup();
    Ok(bare)
}
