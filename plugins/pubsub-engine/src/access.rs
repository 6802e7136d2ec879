//! Who may do what with a node: the access model for subscribing and
//! reading (§4.5), the publish model for publishing, affiliations over both.
//! Presence and roster access read the owners' rosters through the roster
//! plugin's datasets, so the engine keeps no copy of anyone's roster.

use waxwing_sdk::prelude::*;
use waxwing_sdk::{datasets, jid};

use crate::config::{Access, PublishModel};
use crate::node::{Affiliation, Node};
use crate::subscription::{self, State};
use crate::{Service, errors};

pub const ROSTER: &str = "roster";
pub const SUBSCRIPTIONS: &str = "subscriptions";
pub const GROUPS: &str = "groups";

/// Whether `contact` (bare) sees `owner`'s presence: a `from` or `both`
/// subscription in the owner's roster.
pub fn has_presence_subscription(owner: &str, contact: &str) -> Result<bool, HostError> {
    if owner == contact {
        return Ok(true);
    }
    let entry = datasets::get(ROSTER, SUBSCRIPTIONS, &format!("{owner} {contact}"))?;
    Ok(matches!(entry.as_deref(), Some(b"from" | b"both")))
}

/// Whether `contact` (bare) is in `owner`'s roster, whatever the subscription.
pub fn in_roster(owner: &str, contact: &str) -> Result<bool, HostError> {
    Ok(datasets::get(ROSTER, SUBSCRIPTIONS, &format!("{owner} {contact}"))?.is_some())
}

/// The groups `owner` filed `contact` under, if `contact` is in the roster.
pub fn roster_groups(owner: &str, contact: &str) -> Result<Option<Vec<String>>, HostError> {
    if datasets::get(ROSTER, SUBSCRIPTIONS, &format!("{owner} {contact}"))?.is_none() {
        return Ok(None);
    }
    let groups = datasets::get(ROSTER, GROUPS, &format!("{owner} {contact}"))?.unwrap_or_default();
    Ok(Some(String::from_utf8_lossy(&groups).lines().filter(|g| !g.is_empty()).map(str::to_string).collect()))
}

/// The owners whose rosters decide presence and roster access: the
/// account of a PEP service, else the node's owners.
fn roster_owners<'a>(service: &'a Service, node: &'a Node) -> Vec<&'a str> {
    match service.pep_owner() {
        Some(owner) => vec![owner],
        None => node.owners().collect(),
    }
}

/// Whether the access model alone lets `bare` in; `Err` is the error the
/// XEP names for being kept out.
pub fn model_admits(service: &Service, node: &Node, bare: &str) -> Result<Result<(), StanzaError>, HostError> {
    Ok(match node.config.access {
        Access::Open => Ok(()),
        Access::Presence => {
            let mut ok = false;
            for owner in roster_owners(service, node) {
                ok |= has_presence_subscription(owner, bare)?;
            }
            if ok { Ok(()) } else { Err(errors::pubsub(Condition::NotAuthorized, "presence-subscription-required")) }
        }
        Access::Roster => {
            let mut ok = false;
            for owner in roster_owners(service, node) {
                if owner == bare {
                    ok = true;
                } else if let Some(groups) = roster_groups(owner, bare)? {
                    ok |= groups.iter().any(|g| node.config.roster_groups.contains(g));
                }
            }
            if ok { Ok(()) } else { Err(errors::pubsub(Condition::NotAuthorized, "not-in-roster-group")) }
        }
        Access::Whitelist => Err(errors::pubsub(Condition::NotAllowed, "closed-node")),
        // Subscribing asks the owner; reading needs the approved subscription.
        Access::Authorize => Err(errors::pubsub(Condition::NotAuthorized, "not-subscribed")),
    })
}

/// Whether `from` holds an approved subscription to the node, by its own
/// JID or its bare one.
fn is_subscribed(service: &Service, node: &Node, from: &str) -> Result<bool, HostError> {
    let bare = jid::bare(from);
    for j in std::iter::once(from).chain((bare != from).then_some(bare)) {
        if subscription::get(service, &node.name, j)?.is_some_and(|s| s.state == State::Subscribed) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// May `from` retrieve the node's items (§6.5.9)?
pub fn check_read(service: &Service, node: &Node, from: &str) -> Result<(), StanzaError> {
    let bare = jid::bare(from);
    match node.affiliation(service, bare) {
        Affiliation::Outcast => return Err(errors::forbidden()),
        a if a.reads() => return Ok(()),
        _ => {}
    }
    if node.config.access == Access::Authorize {
        return if is_subscribed(service, node, from)? {
            Ok(())
        } else {
            Err(errors::pubsub(Condition::NotAuthorized, "not-subscribed"))
        };
    }
    model_admits(service, node, bare)?
}

/// May `from` publish to the node (§7.1.3.1)?
pub fn check_publish(service: &Service, node: &Node, from: &str) -> Result<(), StanzaError> {
    let affiliation = node.affiliation(service, from);
    if affiliation.publishes() {
        return Ok(());
    }
    if affiliation == Affiliation::Outcast {
        return Err(errors::forbidden());
    }
    let allowed = match node.config.publish_model {
        PublishModel::Publishers => false,
        PublishModel::Open => !service.is_pep(),
        PublishModel::Subscribers => is_subscribed(service, node, from)?,
    };
    if allowed { Ok(()) } else { Err(errors::forbidden()) }
}

/// Owners (and the service's admins) only.
pub fn check_owner(service: &Service, node: &Node, from: &str) -> Result<(), StanzaError> {
    if node.affiliation(service, from) == Affiliation::Owner { Ok(()) } else { Err(errors::forbidden()) }
}
