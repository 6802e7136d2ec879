//! `commands` (WIT 2.2): a version's ad-hoc commands, declared in `init`,
//! and the host's commands a JID may see, for the disco plugin.

use super::super::bindings::waxwing::plugin::commands::{self as wit, Command};
use crate::plugins::bindings::types::{DiscoItem, HostError};
use crate::plugins::commands;
use crate::plugins::store::StoreData;

impl wit::Host for StoreData {
    fn declare(&mut self, list: Vec<Command>) -> Result<(), HostError> {
        commands::check(&list).map_err(HostError::Invalid)?;
        self.commands = Some(list);
        Ok(())
    }

    fn visible_to(&mut self, jid: String) -> Vec<DiscoItem> {
        let Some(vhost) = self.vhost() else { return Vec::new() };
        vhost
            .commands_for(&jid)
            .into_iter()
            .map(|c| DiscoItem { jid: vhost.domain().to_string(), node: c.node, name: c.name })
            .collect()
    }
}
