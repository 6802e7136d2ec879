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
            e @ AccountError::QuotaReached { .. } => HostError::Quota(e.to_string()),
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

    fn list(&mut self, start_after: String, limit: u32) -> Result<Vec<String>, HostError> {
        self.need(Capability::Accounts)?;
        let all = self.shared.accounts.list(&self.shared.domain).map_err(|e| self.account_error(e))?;
        Ok(super::sessions::page(all, &start_after, limit))
    }

    fn count(&mut self) -> Result<u64, HostError> {
        self.need(Capability::Accounts)?;
        Ok(self.shared.accounts.list(&self.shared.domain).map_err(|e| self.account_error(e))?.len() as u64)
    }

    fn set_disabled(&mut self, username: String, disabled: bool) -> Result<(), HostError> {
        self.need(Capability::Accounts)?;
        self.shared
            .accounts
            .set_disabled(&self.shared.domain, &username, disabled)
            .map_err(|e| self.account_error(e))?;
        if disabled {
            let kernel = self.shared.kernel.get().ok_or_else(|| self.internal("accounts.set-disabled", "no router"))?;
            for s in kernel.sessions_of(&self.account_jid(&username)) {
                kernel.end_session(&s.jid, "an administrator disabled this account");
            }
        }
        Ok(())
    }

    fn is_disabled(&mut self, username: String) -> Result<bool, HostError> {
        self.need(Capability::Accounts)?;
        self.shared.accounts.is_disabled(&self.shared.domain, &username).map_err(|e| self.account_error(e))
    }

    fn end_session(&mut self, full_jid: String, reason: String) -> Result<bool, HostError> {
        self.need(Capability::Accounts)?;
        let full = jid::FullJid::new(&full_jid)
            .map_err(|e| HostError::Invalid(format!("{full_jid:?} is not a full JID: {e}")))?;
        if full.domain().as_str() != self.shared.domain {
            return Err(HostError::Invalid(format!("{full_jid:?} is not on {}", self.shared.domain)));
        }
        let kernel = self.shared.kernel.get().ok_or_else(|| self.internal("accounts.end-session", "no router"))?;
        Ok(kernel.end_session(&full_jid, &reason))
    }

    fn delete(&mut self, username: String) -> Result<(), HostError> {
        self.need(Capability::Accounts)?;
        self.shared.accounts.delete(&self.shared.domain, &username).map_err(|e| self.account_error(e))?;
        let jid = self.account_jid(&username);
        self.effects.events.push((EventKind::UserDeleted, jid));
        Ok(())
    }
}
