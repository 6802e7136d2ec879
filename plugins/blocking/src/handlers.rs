//! The blocking command itself (XEP-0191 §3.2–3.5): an account reads and
//! edits its own blocklist, and every resource that asked for the list
//! hears about each change.

use waxwing_sdk::jid;
use waxwing_sdk::prelude::*;
use waxwing_sdk::{log, route, sessions};

use crate::command::{self, Command};
use crate::storage;

/// However many requests it takes, one account's list stays this short: it
/// is read on every `<blocklist/>` and answered in one stanza.
pub const MAX_ITEMS_PER_ACCOUNT: usize = 2000;

pub fn on_iq(iq: &Iq) -> Handled {
    let account = jid::bare(iq.from());
    // Only the account itself manages its list; ejabberd answers another
    // account's attempt the same way.
    if account != jid::bare(iq.to()) {
        return Err(StanzaError::new(Condition::Forbidden).with_text("a blocklist is its owner's business"));
    }
    let command = command::parse(iq.stanza_type(), iq.payload()?)?;
    match &command {
        Command::List => return list(iq, account),
        Command::Block(jids) => block(account, jids)?,
        Command::Unblock(jids) => storage::remove(account, jids)?,
        Command::UnblockAll => storage::remove_all(account)?,
    }
    // The requester hears the result before the push that repeats it.
    route::send(&iq.result())?;
    push(account, &command)?;
    Ok(Outcome::Done)
}

fn list(iq: &Iq, account: &str) -> Handled {
    let jids = storage::list(account)?;
    // Failing to remember the interest costs this resource its pushes, not
    // the list it asked for.
    if let Err(e) = storage::mark_interested(iq.from()) {
        log::warn(&format!("cannot mark {} as interested in pushes: {e}", iq.from()));
    }
    iq.reply_with(command::blocklist_payload(&jids))
}

/// §3.3 also suggests sending the contact unavailable presence from each of
/// the user's available resources, "if the contact is subscribed". This
/// plugin cannot see subscriptions (they are the roster plugin's), and sent
/// to everyone it would tell a stranger the user's online resources, which
/// is exactly what blocking is for. So none is sent; from now on the filter
/// drops the user's presence to the contact, whoever sends it.
fn block(account: &str, jids: &[String]) -> Result<(), StanzaError> {
    if let Some(long) = jids.iter().find(|j| !storage::fits(account, j)) {
        return Err(StanzaError::new(Condition::NotAcceptable).with_text(format!("'{long}' is too long to store")));
    }
    let existing = storage::list(account)?;
    let added = jids.iter().filter(|j| !existing.contains(j)).count();
    if existing.len() + added > MAX_ITEMS_PER_ACCOUNT {
        return Err(StanzaError::new(Condition::NotAcceptable)
            .with_text(format!("a blocklist holds at most {MAX_ITEMS_PER_ACCOUNT} items")));
    }
    Ok(storage::add(account, jids)?)
}

/// Sends the change to every resource of `account` that asked for the list,
/// the requester included (§3.3).
fn push(account: &str, command: &Command) -> Result<(), StanzaError> {
    let Some(payload) = command.push_payload() else { return Ok(()) };
    for session in sessions::of(account)? {
        if !storage::is_interested(&session.jid)? {
            continue;
        }
        let id = format!("block-push-{}", hex(&waxwing_sdk::random(6)));
        let iq = waxwing_sdk::new_iq("set", &id)
            .with_attr("from", account)
            .with_attr("to", session.jid.as_str())
            .with_child(payload.clone());
        route::send(&iq)?;
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A resource that is gone gets no more pushes; a new one of the same name
/// must ask again.
pub fn session_ended(full_jid: &str) -> Result<(), String> {
    storage::forget_interest(full_jid).map_err(|e| e.to_string())
}

/// A deleted account's list goes with it, so that an account created later
/// under the same name starts with nothing blocked.
pub fn user_deleted(account: &str) -> Result<(), String> {
    storage::remove_all(account).map_err(|e| e.to_string())
}
