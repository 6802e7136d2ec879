//! Ad-hoc commands (XEP-0050) as the kernel keeps them: what each plugin
//! version declared in `init`, who may run each, and which plugin a
//! `<command/>` iq goes to. The commands themselves (stages, forms,
//! sessions) are the plugin's, through the SDK.

use super::bindings::waxwing::plugin::commands::{Audience, Command};

pub const NS: &str = "http://jabber.org/protocol/commands";
const MAX_NODE_BYTES: usize = 1024;
const MAX_COMMANDS: usize = 256;

/// Checks a declaration: non-empty, bounded, no node twice.
pub fn check(commands: &[Command]) -> Result<(), String> {
    if commands.len() > MAX_COMMANDS {
        return Err(format!("{} commands declared; at most {MAX_COMMANDS}", commands.len()));
    }
    for (i, c) in commands.iter().enumerate() {
        if c.node.is_empty() || c.node.len() > MAX_NODE_BYTES {
            return Err(format!("command node {:?} must be 1 to {MAX_NODE_BYTES} bytes", c.node));
        }
        if c.name.trim().is_empty() {
            return Err(format!("command {:?} has no name", c.node));
        }
        if commands[..i].iter().any(|o| o.node == c.node) {
            return Err(format!("command node {:?} is declared twice", c.node));
        }
    }
    Ok(())
}

/// Who is asking, as the audience check needs it.
pub struct Asker {
    /// The sender's domain is the host's.
    pub local: bool,
    pub admin: bool,
}

pub fn may_run(audience: Audience, asker: &Asker) -> bool {
    match audience {
        Audience::Anyone => true,
        Audience::LocalUsers => asker.local || asker.admin,
        Audience::Admins => asker.admin,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(node: &str, name: &str) -> Command {
        Command { node: node.into(), name: name.into(), audience: Audience::Admins }
    }

    #[test]
    fn declarations_are_checked() {
        assert!(check(&[cmd("a", "A"), cmd("b", "B")]).is_ok());
        assert!(check(&[cmd("a", "A"), cmd("a", "B")]).unwrap_err().contains("twice"));
        assert!(check(&[cmd("", "A")]).unwrap_err().contains("node"));
        assert!(check(&[cmd("a", " ")]).unwrap_err().contains("no name"));
        assert!(check(&[cmd(&"n".repeat(1025), "A")]).is_err());
    }

    #[test]
    fn audiences() {
        let stranger = Asker { local: false, admin: false };
        let user = Asker { local: true, admin: false };
        let admin = Asker { local: true, admin: true };
        assert!(may_run(Audience::Anyone, &stranger));
        assert!(!may_run(Audience::LocalUsers, &stranger) && may_run(Audience::LocalUsers, &user));
        assert!(!may_run(Audience::Admins, &user) && may_run(Audience::Admins, &admin));
    }
}
