//! The service itself (XEP-0133 §4.29–4.31): the admin list, restarting
//! and shutting down, through the kernel's `server` interface.

use waxwing_sdk::adhoc::{Request, Step};
use waxwing_sdk::forms::FieldType;
use waxwing_sdk::prelude::*;
use waxwing_sdk::server::{self, ServerError};
use waxwing_sdk::{route, sessions};

use crate::form;

/// §4.30's delays, in seconds, as the form offers them.
const DELAYS: &[(&str, &str)] = &[
    ("30 seconds", "30"),
    ("60 seconds", "60"),
    ("90 seconds", "90"),
    ("2 minutes", "120"),
    ("3 minutes", "180"),
    ("4 minutes", "240"),
    ("5 minutes", "300"),
    ("10 minutes", "600"),
    ("15 minutes", "900"),
    ("30 minutes", "1800"),
    ("1 hour", "3600"),
    ("2 hours", "7200"),
];

/// The longest delay accepted, in seconds: a day, as the kernel allows.
const MAX_DELAY_SECS: u64 = 86_400;

/// The kernel's refusal as the admin's error.
pub(crate) fn refused(e: ServerError) -> StanzaError {
    match e {
        ServerError::NotGranted => StanzaError::new(Condition::Forbidden)
            .with_text("the operator has not granted this plugin `server`; add it to its grants"),
        ServerError::Invalid(why) => StanzaError::new(Condition::BadRequest).with_text(why),
        ServerError::Failed(why) => StanzaError::new(Condition::InternalServerError).with_text(why),
    }
}

/// The first stage of a service command, if `name` is one.
pub fn first_stage(name: &str) -> Option<Result<Step, StanzaError>> {
    Some(match name {
        "edit-admin" => server::admins().map_err(refused).map(|list| {
            let all: Vec<String> = list.configured.iter().chain(&list.added).cloned().collect();
            let f = form(
                "Editing the Admin List",
                vec![Field::new("adminjids", FieldType::JidMulti).label("The admins").values(&all)],
            );
            let f = if list.configured.is_empty() {
                f
            } else {
                f.instructions(&format!(
                    "Named in the config file, so changed only there: {}",
                    list.configured.join(", ")
                ))
            };
            Step::form(f, 1)
        }),
        "restart" => Ok(Step::form(stop_form("Restarting the Service"), 1)),
        "shutdown" => Ok(Step::form(stop_form("Shutting Down the Service"), 1)),
        _ => return None,
    })
}

fn stop_form(title: &str) -> DataForm {
    let delay = DELAYS
        .iter()
        .fold(Field::new("delay", FieldType::ListSingle).label("Time delay before"), |f, (label, secs)| {
            f.option(label, secs)
        })
        .required();
    form(title, vec![delay, Field::new("announcement", FieldType::TextMulti).label("Announcement")])
}

/// The submitted form of a service command, if `name` is one.
pub fn submit(name: &str, req: &Request) -> Option<Result<Step, StanzaError>> {
    let restart = match name {
        "edit-admin" => return Some(set_admins(req)),
        "restart" => true,
        "shutdown" => false,
        _ => return None,
    };
    Some(stop(req, restart))
}

fn set_admins(req: &Request) -> Result<Step, StanzaError> {
    let jids = req.form.as_ref().map(|f| f.values("adminjids").to_vec()).unwrap_or_default();
    server::set_admins(&jids).map_err(refused)?;
    Ok(Step::done(&format!("the admins are now {}", jids.join(", "))))
}

fn stop(req: &Request, restart: bool) -> Result<Step, StanzaError> {
    let f = req.form.as_ref();
    let delay = f.and_then(|f| f.value("delay")).unwrap_or("0").trim();
    let secs = match delay.parse::<u64>() {
        Ok(s) if s <= MAX_DELAY_SECS => s,
        _ => {
            return Err(StanzaError::new(Condition::BadRequest)
                .with_text(format!("delay {delay:?} is not a number of seconds up to {MAX_DELAY_SECS}")));
        }
    };
    let announcement = f.map(|f| f.values("announcement").join("\n")).unwrap_or_default();
    let what = if restart { "restart" } else { "shut down" };
    let reason = if announcement.trim().is_empty() {
        format!("the server will {what}")
    } else {
        let message = Element::new("message", ns::CLIENT)
            .with_attr("from", waxwing_sdk::domain())
            .with_attr("type", "headline")
            .with_child(Element::new("body", ns::CLIENT).with_text(announcement.clone()));
        route::send_many(&message, &sessions::online_all()?)?;
        announcement
    };
    server::shutdown(secs * 1000, &reason, restart).map_err(refused)?;
    Ok(Step::done(&format!("the server will {what} in {secs} seconds")))
}
