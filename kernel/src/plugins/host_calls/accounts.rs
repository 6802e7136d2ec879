//! `accounts`: creating, re-keying and deleting this host's accounts.
//! Never granted by default.

use super::super::bindings::waxwing::plugin::accounts;
use crate::accounts::AccountError;
use crate::plugins::EventKind;
use crate::plugins::bindings::types::{Capability, HostError};
use crate::plugins::store::StoreData;

impl StoreData {
    fn account_error(&self, e: AccountError) -> HostError {
        match e {
            AccountError::Storage(e) => self.internal("account storage", format!("{e:#}")),
            other => HostError::Invalid(other.to_string()),
        }
    }

    fn account_jid(&self, username: &str) -> String {
        let raw = format!("{username}@{}", self.shared.domain);
        jid::BareJid::new(&raw).map(|j| j.to_string()).unwrap_or(raw)
    }
}

impl accounts::Host for StoreData {
    fn exists(&mut self, username: String) -> Result<bool, HostError> {
        self.need(Capability::Accounts)?;
        self.shared.accounts.exists(&self.shared.domain, &username).map_err(|e| self.account_error(e))
    }

    fn create(&mut self, username: String, password: String) -> Result<(), HostError> {
        self.need(Capability::Accounts)?;
        self.shared.accounts.create(&self.shared.domain, &username, &password).map_err(|e| self.account_error(e))?;
        let jid = self.account_jid(&username);
        self.effects.events.push((EventKind::UserCreated, jid));
        Ok(())
    }

    fn set_password(&mut self, username: String, password: String) -> Result<(), HostError> {
        self.need(Capability::Accounts)?;
        self.shared.accounts.set_password(&self.shared.domain, &username, &password).map_err(|e| self.account_error(e))
    }

    fn delete(&mut self, username: String) -> Result<(), HostError> {
        self.need(Capability::Accounts)?;
        self.shared.accounts.delete(&self.shared.domain, &username).map_err(|e| self.account_error(e))?;
        let jid = self.account_jid(&username);
        self.effects.events.push((EventKind::UserDeleted, jid));
        Ok(())
    }
}
