//! SCRAM server (RFC 5802, RFC 7677) with tls-exporter channel binding (RFC 9266).
//!
//! An unknown user gets the whole exchange, with a salt that is stable for
//! that name, and fails at the proof exactly like a wrong password: neither
//! the messages nor the work done tell an attacker which accounts exist.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use super::parse::{self, CbindFlag, Malformed};
use super::{ChannelBinding, SaslFailure, Step, authzid_allowed};
use crate::accounts::{Accounts, ScramCredentials, ScramHash, constant_time_eq, prep};

pub(super) struct ScramServer {
    hash: ScramHash,
    plus: bool,
    domain: String,
    binding: ChannelBinding,
    server_nonce: String,
    pending: Option<Pending>,
}

/// What the server remembers between its first message and the client's final one.
struct Pending {
    username: String,
    credentials: ScramCredentials,
    decoy: bool,
    /// gs2 header plus channel-binding data: what `c=` must decode to.
    expected_cbind: Vec<u8>,
    nonce: String,
    /// client-first-message-bare "," server-first-message ","
    auth_message_head: String,
}

impl ScramServer {
    /// `domain` is already canonical.
    pub(super) fn new(
        hash: ScramHash,
        plus: bool,
        domain: String,
        binding: ChannelBinding,
        server_nonce: String,
    ) -> Self {
        ScramServer { hash, plus, domain, binding, server_nonce, pending: None }
    }

    pub(super) fn step(&mut self, accounts: &Accounts, msg: &[u8]) -> Step {
        let Ok(msg) = std::str::from_utf8(msg) else {
            return Step::fail(SaslFailure::MalformedRequest, "not UTF-8");
        };
        let result = match self.pending.take() {
            None => self.first(accounts, msg),
            Some(p) => self.last(p, msg),
        };
        result.unwrap_or_else(|step| step)
    }

    fn first(&mut self, accounts: &Accounts, msg: &str) -> Result<Step, Step> {
        let m = parse::client_first(msg).map_err(malformed)?;
        let binding_data = self.check_binding_flag(m.cbind)?;
        let Ok(username) = prep::username(&m.username) else {
            return Err(Step::Failure(SaslFailure::NotAuthorized, None));
        };
        if let Some(authzid) = &m.authzid
            && !authzid_allowed(authzid, &username, &self.domain)
        {
            return Err(Step::Failure(SaslFailure::InvalidAuthzid, None));
        }
        let (credentials, decoy) = match accounts.scram_credentials(&self.domain, &username, self.hash) {
            Ok(Some(c)) => (c, false),
            Ok(None) => (accounts.decoy_credentials(&self.domain, &username, self.hash), true),
            Err(e) => {
                tracing::warn!("sasl: looking up {username}@{}: {e}", self.domain);
                return Err(Step::Failure(SaslFailure::TemporaryAuthFailure, None));
            }
        };
        let nonce = format!("{}{}", m.nonce, self.server_nonce);
        let server_first = format!("r={nonce},s={},i={}", B64.encode(&credentials.salt), credentials.iterations);
        let mut expected_cbind = m.gs2_header.as_bytes().to_vec();
        expected_cbind.extend_from_slice(binding_data.unwrap_or_default());
        self.pending = Some(Pending {
            username,
            credentials,
            decoy,
            expected_cbind,
            nonce,
            auth_message_head: format!("{},{server_first},", m.bare),
        });
        Ok(Step::Challenge(server_first.into_bytes()))
    }

    /// The gs2 flag against the mechanism and the connection (RFC 5802 §6);
    /// returns the channel-binding data `c=` must carry.
    fn check_binding_flag(&self, flag: CbindFlag<'_>) -> Result<Option<&[u8]>, Step> {
        match (flag, self.plus) {
            (CbindFlag::Bound("tls-exporter"), true) => match &self.binding.tls_exporter {
                Some(data) => Ok(Some(data.as_slice())),
                None => Err(Step::fail(SaslFailure::NotAuthorized, "no channel binding on this connection")),
            },
            (CbindFlag::Bound(_), true) => {
                Err(Step::fail(SaslFailure::NotAuthorized, "only tls-exporter channel binding is supported"))
            }
            (CbindFlag::Bound(_), false) => {
                Err(Step::fail(SaslFailure::MalformedRequest, "channel binding needs a -PLUS mechanism"))
            }
            (_, true) => Err(Step::fail(SaslFailure::MalformedRequest, "a -PLUS mechanism needs channel binding")),
            // The client could bind but saw no -PLUS offer, yet this connection
            // offered one: someone removed it on the way.
            (CbindFlag::ClientOnly, false) if self.binding.tls_exporter.is_some() => {
                Err(Step::fail(SaslFailure::NotAuthorized, "channel binding was offered; possible downgrade"))
            }
            (CbindFlag::ClientOnly | CbindFlag::None, false) => Ok(None),
        }
    }

    fn last(&self, p: Pending, msg: &str) -> Result<Step, Step> {
        let m = parse::client_final(msg).map_err(malformed)?;
        if !constant_time_eq(&m.cbind_input, &p.expected_cbind) {
            return Err(Step::fail(SaslFailure::NotAuthorized, "channel binding does not match"));
        }
        if m.nonce != p.nonce {
            return Err(Step::fail(SaslFailure::NotAuthorized, "nonce does not match"));
        }
        if m.proof.len() != self.hash.output_len() {
            return Err(Step::fail(SaslFailure::MalformedRequest, "proof has the wrong length"));
        }
        let auth_message = format!("{}{}", p.auth_message_head, m.without_proof);
        let signature = self.hash.hmac(&p.credentials.stored_key, auth_message.as_bytes());
        let client_key: Vec<u8> = m.proof.iter().zip(&signature).map(|(a, b)| a ^ b).collect();
        let proof_ok = constant_time_eq(&self.hash.h(&client_key), &p.credentials.stored_key);
        if !proof_ok || p.decoy {
            return Err(Step::Failure(SaslFailure::NotAuthorized, None));
        }
        let server_signature = self.hash.hmac(&p.credentials.server_key, auth_message.as_bytes());
        Ok(Step::Success {
            username: p.username,
            additional_data: Some(format!("v={}", B64.encode(server_signature)).into_bytes()),
        })
    }
}

fn malformed(Malformed(why): Malformed) -> Step {
    Step::fail(SaslFailure::MalformedRequest, why)
}
