//! The blocking command itself (XEP-0191 §3.2–3.5): an account reads and
//! edits its own blocklist, and every resource that asked for the list
//! hears about each change.

use waxwing_sdk::jid;
use waxwing_sdk::prelude::*;
use waxwing_sdk::{log, route, sessions};

use crate::command::{self, Command};
use crate::presence::{self, or_log};
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
    // Who sees the user's presence change: read before a block (whom it
    // hides the user from), after an unblock (to whom it shows the user).
    let (hidden, unblocked) = match &command {
        Command::List => return list(iq, account),
        Command::Block(jids) => {
            let hidden = presence::subscribed_and_unblocked(account, jids);
            block(account, jids)?;
            (or_log("finding whom a block hides", account, hidden), Vec::new())
        }
        Command::Unblock(jids) => {
            storage::remove(account, jids)?;
            (Vec::new(), jids.clone())
        }
        Command::UnblockAll => (Vec::new(), storage::remove_all(account)?),
    };
    let shown = presence::subscribed_and_unblocked(account, &unblocked);
    let shown = or_log("finding whom an unblock shows", account, shown);
    // The requester hears the result before the push that repeats it.
    route::send(&iq.result())?;
    push(account, &command)?;
    or_log("sending unavailable presence", account, presence::hide(account, &hidden));
    or_log("sending presence again", account, presence::show(account, &shown));
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
        let iq = waxwing_sdk::new_iq(StanzaType::Set, &id)
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
