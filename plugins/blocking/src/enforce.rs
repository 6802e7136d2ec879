//! The filter that makes a blocklist bite: every stanza the router routes
//! between a local account and someone that account blocked, in either
//! direction, whether a client or a plugin sent it.

use waxwing_sdk::jid;
use waxwing_sdk::prelude::*;
use waxwing_sdk::{HostError, log};

use crate::policy::{self, Direction};
use crate::storage;

pub fn filter(stanza: &Stanza) -> Verdict {
    match decide(stanza) {
        Ok(verdict) => verdict,
        // A storage failure must not cut every account off from everyone;
        // it is logged for the operator instead.
        Err(e) => {
            log::error(&format!("cannot read blocklists, letting a {:?} through: {e}", stanza.kind()));
            Verdict::Pass
        }
    }
}

fn decide(stanza: &Stanza) -> Result<Verdict, HostError> {
    let (from, to) = (stanza.from(), stanza.to());
    // An account's resources always reach each other and the account itself.
    if from.is_empty() || to.is_empty() || jid::bare(from) == jid::bare(to) {
        return Ok(Verdict::Pass);
    }
    let domain = waxwing_sdk::domain();
    // The sender's own refusal comes first: it is the one they can act on.
    // The kernel brings only stanzas of watched accounts, those with a list,
    // but the other side may have none: a few point reads tell.
    if let Some(user) = local_account(from, &domain)
        && !is_own_server(to, &domain)
        && storage::blocks(user, to)?
    {
        return Ok(policy::verdict(Direction::ToBlocked, stanza.kind(), stanza.stanza_type()));
    }
    if let Some(user) = local_account(to, &domain)
        && !is_own_server(from, &domain)
        && storage::blocks(user, from)?
    {
        return Ok(policy::verdict(Direction::FromBlocked, stanza.kind(), stanza.stanza_type()));
    }
    Ok(Verdict::Pass)
}

/// The bare JID of `address` when it is an account on this host: only
/// those have blocklists here.
fn local_account<'a>(address: &'a str, domain: &str) -> Option<&'a str> {
    (jid::node(address).is_some() && jid::domain(address) == domain).then(|| jid::bare(address))
}

/// The user's own server stays reachable whatever they block, their
/// domain included: it answers their blocking commands, pings and the rest.
fn is_own_server(address: &str, domain: &str) -> bool {
    jid::node(address).is_none() && jid::domain(address) == domain
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_accounts_of_this_host_have_lists() {
        assert_eq!(local_account("alice@localhost/a1", "localhost"), Some("alice@localhost"));
        assert_eq!(local_account("alice@localhost", "localhost"), Some("alice@localhost"));
        assert_eq!(local_account("localhost", "localhost"), None);
        assert_eq!(local_account("alice@example.net/a", "localhost"), None);
    }

    #[test]
    fn the_own_server_is_never_blocked() {
        assert!(is_own_server("localhost", "localhost"));
        assert!(is_own_server("localhost/admin", "localhost"));
        assert!(!is_own_server("bob@localhost", "localhost"));
        assert!(!is_own_server("example.net", "localhost"));
    }
}
