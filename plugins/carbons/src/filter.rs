//! The message filter: copies eligible messages to the other devices of the
//! local accounts on either end. It runs on every chat/normal message, so it
//! decides from the routing facts and two `mem` reads before parsing
//! anything; a failure in here costs copies, never the message itself.

use waxwing_sdk::prelude::*;
use waxwing_sdk::{HostError, jid, log, route};

use crate::copies::{self, Direction};
use crate::eligibility::{self, CARBONS};
use crate::state;

pub fn filter(stanza: &Stanza) -> Verdict {
    let host = waxwing_sdk::domain();
    let from = stanza.from();
    let to = stanza.to();
    // Only a session of a local account sends carbons-worthy messages; the
    // other vhost (K3 runs this filter there too) handles its own end.
    let sender = local_account(from, &host).filter(|_| jid::resource(from).is_some());
    let recipient = local_account(to, &host);
    let copy_sent = sender.is_some_and(enabled_somewhere);
    let copy_received = recipient.is_some_and(enabled_somewhere);
    // `<private/>` is stripped from what this filter sees (the filter scope:
    // the messages of accounts with carbons on at either end; the current
    // XEP-0280 no longer asks for stripping at all); a substring check keeps
    // that off the fast path's cost.
    let maybe_private = sender.is_some() && stanza.xml().contains(CARBONS);
    if !copy_sent && !copy_received && !maybe_private {
        return Verdict::Pass;
    }
    let message = match waxwing_sdk::parse_client_xml(stanza.xml()) {
        Ok(m) => m,
        Err(why) => {
            log::warn(&format!("a message the kernel routed does not parse: {why}"));
            return Verdict::Pass;
        }
    };
    if eligibility::has_private(&message) {
        return if sender.is_some() { Verdict::Rewrite(eligibility::without_private(&message)) } else { Verdict::Pass };
    }
    if !eligibility::is_eligible(&message, &host) {
        return Verdict::Pass;
    }
    let same_account = sender.is_some() && sender == recipient;
    if copy_received
        && let Some(bare) = recipient
        && !eligibility::is_from_muc(&message)
    {
        let sender_session = same_account.then_some(from);
        report(send_copies(Direction::Received, bare, &message, |r| {
            copies::received_recipients(r, to, sender_session)
        }));
    }
    // Writing to oneself: the received copies above already reach every
    // other device.
    if copy_sent
        && !same_account
        && let Some(bare) = sender
    {
        report(send_copies(Direction::Sent, bare, &message, |r| copies::sent_recipients(r, from)));
    }
    Verdict::Pass
}

/// The bare JID of `address` when it is an account on this host.
fn local_account<'a>(address: &'a str, host: &str) -> Option<&'a str> {
    (jid::node(address).is_some() && jid::domain(address) == host).then(|| jid::bare(address))
}

fn enabled_somewhere(bare: &str) -> bool {
    state::any_enabled(bare).unwrap_or_else(|e| {
        log::warn(&format!("reading the carbons count of {bare}: {e}"));
        false
    })
}

fn send_copies(
    direction: Direction,
    account: &str,
    message: &Element,
    pick: impl Fn(&[copies::Resource]) -> Vec<String>,
) -> Result<(), HostError> {
    let recipients = pick(&state::resources(account)?);
    if recipients.is_empty() {
        return Ok(());
    }
    route::send_many(&copies::carbon(direction, account, message), &recipients)
}

fn report(result: Result<(), HostError>) {
    if let Err(e) = result {
        log::warn(&format!("sending carbon copies: {e}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_accounts_only() {
        assert_eq!(local_account("a@h/r", "h"), Some("a@h"));
        assert_eq!(local_account("a@h", "h"), Some("a@h"));
        assert_eq!(local_account("a@other/r", "h"), None);
        assert_eq!(local_account("h", "h"), None);
        assert_eq!(local_account("h/r", "h"), None);
    }
}
