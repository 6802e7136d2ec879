//! XEP-0133 Service Administration: ad-hoc commands (XEP-0050, run by the
//! SDK's `adhoc`) on the host's JID, for the admins its config names
//! (`[[vhost]] admins`). The kernel shows and delivers them to admins only.
//!
//! Each command is one form and its submission: users (add, delete,
//! password), counts and lists of registered and online users, ending
//! sessions, announcements to everyone online, the message of the day and
//! the welcome message (`notices.rs`); the admin list, restart and shutdown
//! (`service.rs`); and Waxwing's own: this host's plugins listed, reloaded
//! and configured (`plugins.rs`), and the server's tenants listed, added,
//! changed and removed (`tenants.rs`). The last three need the `server`
//! grant; restart, shutdown and the tenant commands are for the server's
//! operators only.

mod lookups;
mod notices;
mod plugins;
mod service;
mod tenants;
mod users;

use waxwing_sdk::adhoc::{self, Audience, Command, Request, Step};
use waxwing_sdk::prelude::*;

/// XEP-0133's namespace: the FORM_TYPE of every form and the nodes' prefix.
pub const NS: &str = "http://jabber.org/protocol/admin";

/// (node suffix, name) of every command, in disco order.
const COMMANDS: &[(&str, &str)] = &[
    ("add-user", "Add User"),
    ("delete-user", "Delete User"),
    ("disable-user", "Disable User"),
    ("reenable-user", "Re-Enable User"),
    ("change-user-password", "Change User Password"),
    ("end-user-session", "End User Session"),
    ("get-registered-users-num", "Get Number of Registered Users"),
    ("get-registered-users-list", "Get List of Registered Users"),
    ("get-online-users-num", "Get Number of Online Users"),
    ("get-online-users-list", "Get List of Online Users"),
    ("get-user-roster", "Get User Roster"),
    ("get-user-lastlogin", "Get User Last Login Time"),
    ("announce", "Send Announcement to Online Users"),
    ("set-motd", "Set Message of the Day"),
    ("edit-motd", "Edit Message of the Day"),
    ("delete-motd", "Delete Message of the Day"),
    ("edit-welcome", "Edit Welcome Message"),
    ("edit-admin", "Edit Admin List"),
    ("restart", "Restart Service"),
    ("shutdown", "Shut Down Service"),
];

/// Waxwing's own commands, under [`plugins::NS`].
const WAXWING_COMMANDS: &[(&str, &str)] = &[
    ("list-plugins", "List Plugins"),
    ("reload-plugin", "Reload a Plugin"),
    ("configure-plugin", "Configure a Plugin"),
    ("list-tenants", "List Tenants"),
    ("add-tenant", "Add a Tenant"),
    ("change-tenant", "Change a Tenant"),
    ("remove-tenant", "Remove a Tenant"),
];

struct Admin;

impl Plugin for Admin {
    fn describe() -> Describe {
        Describe::new("admin", env!("CARGO_PKG_VERSION"))
            .feature(adhoc::NS)
            .event(EventKind::SessionStarted)
            .event(EventKind::UserCreated)
            .event(EventKind::SessionEnded)
            .reads("roster", lookups::SUBSCRIPTIONS)
            .reads("roster", lookups::GROUPS)
            .capabilities([
                Capability::Kv,
                Capability::Sessions,
                Capability::Route,
                Capability::Accounts,
                Capability::Datasets,
            ])
    }

    fn init(_config: &Json) -> Result<Ready, String> {
        let ours = WAXWING_COMMANDS.iter().map(|(n, name)| (plugins::NS, n, name));
        let commands: Vec<Command> = COMMANDS
            .iter()
            .map(|(n, name)| (NS, n, name))
            .chain(ours)
            .map(|(ns, n, name)| Command::new(&format!("{ns}#{n}"), name, Audience::Admins))
            .collect();
        adhoc::declare(&commands).map_err(|e| format!("declaring the admin commands: {e}"))?;
        Ok(Ready::new())
    }

    fn on_iq(iq: Iq) -> Handled {
        if !adhoc::is_command(&iq) {
            return Ok(Outcome::Pass);
        }
        adhoc::handle(&iq, run)
    }

    fn on_event(event: Event) -> Result<(), EventError> {
        match event {
            Event::SessionStarted { jid } => notices::session_started(&jid)?,
            Event::UserCreated { jid } => notices::user_created(&jid)?,
            Event::SessionEnded { jid, .. } => lookups::session_ended(&jid)?,
            _ => {}
        }
        Ok(())
    }
}

/// One step of the command the request names.
fn run(req: &Request) -> Result<Step, StanzaError> {
    let name = [NS, plugins::NS]
        .iter()
        .find_map(|ns| req.node.strip_prefix(ns).and_then(|n| n.strip_prefix('#')))
        .unwrap_or_default();
    tenants::check_operator(name, req)?;
    match req.stage {
        0 => lookups::first_stage(name)
            .map(Ok)
            .or_else(|| notices::first_stage(name))
            .or_else(|| service::first_stage(name))
            .or_else(|| plugins::first_stage(name))
            .or_else(|| tenants::first_stage(name))
            .unwrap_or_else(|| users::first_stage(name)),
        _ => {
            if let Some(f) = &req.form
                && let Some(bare) = users::account_jid(f.value("accountjid")).transpose()
                && let Some(answer) = lookups::answer(name, &bare?)
            {
                return answer;
            }
            notices::submit(name, req)
                .or_else(|| service::submit(name, req))
                .or_else(|| plugins::submit(name, req))
                .or_else(|| tenants::submit(name, req))
                .unwrap_or_else(|| users::submit(name, req))
        }
    }
}

/// A form of this XEP with `fields`.
pub(crate) fn form(title: &str, fields: Vec<Field>) -> DataForm {
    fields.into_iter().fold(DataForm::form().with_form_type(NS).title(title), DataForm::field)
}

/// A result form of this XEP with `fields`.
pub(crate) fn result(fields: Vec<Field>) -> DataForm {
    fields.into_iter().fold(DataForm::result().with_form_type(NS), DataForm::field)
}

waxwing_sdk::export_plugin!(Admin);

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_service;
#[cfg(test)]
mod tests_tenants;
