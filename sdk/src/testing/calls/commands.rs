//! `commands`: the declaration kept as the kernel keeps it (checked the
//! same way), and what a JID may see of it by the fake host's admins.

use crate::bindings::waxwing::plugin::commands::{Audience, Command};
use crate::bindings::waxwing::plugin::types::{DiscoItem, HostError};
use crate::testing::state::with;

pub(crate) fn declare(commands: &[Command]) -> Result<(), HostError> {
    for (i, c) in commands.iter().enumerate() {
        if c.node.is_empty() || c.node.len() > 1024 || c.name.trim().is_empty() {
            return Err(HostError::Invalid(format!("command {:?} needs a node of 1 to 1024 bytes and a name", c.node)));
        }
        if commands[..i].iter().any(|o| o.node == c.node) {
            return Err(HostError::Invalid(format!("command node {:?} is declared twice", c.node)));
        }
    }
    with(|s| s.commands = commands.to_vec());
    Ok(())
}

pub(crate) fn visible_to(jid: &str) -> Vec<DiscoItem> {
    let admin = super::host::is_admin(jid);
    with(|s| {
        let bare = jid.split('/').next().unwrap_or_default();
        let local = bare.rsplit_once('@').is_some_and(|(_, d)| d == s.domain);
        s.commands
            .iter()
            .filter(|c| match c.audience {
                Audience::Anyone => true,
                Audience::LocalUsers => local || admin,
                Audience::Admins => admin,
            })
            .map(|c| DiscoItem { jid: s.domain.clone(), node: c.node.clone(), name: c.name.clone() })
            .collect()
    })
}
