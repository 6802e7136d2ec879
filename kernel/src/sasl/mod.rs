//! The server side of SASL for XMPP (RFC 6120 §6): SCRAM-SHA-1/-256 with and
//! without tls-exporter channel binding (RFC 5802, RFC 7677, RFC 9266) and
//! PLAIN (RFC 4616), as state machines over already base64-decoded bytes.
//! The c2s code frames them in `<auth/>`, `<challenge/>`, `<response/>`,
//! `<success/>` and `<failure/>`, and decides which mechanisms a connection
//! may use (see [`Mechanism::offered`]).

mod parse;
mod plain;
mod scram;
mod throttle;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ring::rand::{SecureRandom as _, SystemRandom};

pub use throttle::FailureThrottle;

use crate::accounts::{Accounts, ScramHash, prep};

/// Client messages longer than this are refused before any work is done on them.
const MAX_MESSAGE: usize = 8 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mechanism {
    ScramSha1,
    ScramSha1Plus,
    ScramSha256,
    ScramSha256Plus,
    Plain,
}

impl Mechanism {
    const ALL: [Mechanism; 5] = [
        Mechanism::ScramSha256Plus,
        Mechanism::ScramSha1Plus,
        Mechanism::ScramSha256,
        Mechanism::ScramSha1,
        Mechanism::Plain,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Mechanism::ScramSha1 => "SCRAM-SHA-1",
            Mechanism::ScramSha1Plus => "SCRAM-SHA-1-PLUS",
            Mechanism::ScramSha256 => "SCRAM-SHA-256",
            Mechanism::ScramSha256Plus => "SCRAM-SHA-256-PLUS",
            Mechanism::Plain => "PLAIN",
        }
    }

    /// Mechanism names are case-sensitive (RFC 4422 §3.1), so this is exact.
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == s)
    }

    /// What to offer: -PLUS only when a tls-exporter binding is available; PLAIN
    /// only over TLS and when allowed. Strongest first: a bound exchange before
    /// an unbound one, because binding is what stops a relaying attacker.
    pub fn offered(tls: bool, exporter_available: bool, allow_plain: bool) -> Vec<Mechanism> {
        Self::ALL
            .into_iter()
            .filter(|m| match m {
                Mechanism::ScramSha256Plus | Mechanism::ScramSha1Plus => tls && exporter_available,
                Mechanism::ScramSha256 | Mechanism::ScramSha1 => true,
                Mechanism::Plain => tls && allow_plain,
            })
            .collect()
    }

    /// The hash and whether channel binding is required, for SCRAM mechanisms.
    fn scram(self) -> Option<(ScramHash, bool)> {
        match self {
            Mechanism::ScramSha1 => Some((ScramHash::Sha1, false)),
            Mechanism::ScramSha1Plus => Some((ScramHash::Sha1, true)),
            Mechanism::ScramSha256 => Some((ScramHash::Sha256, false)),
            Mechanism::ScramSha256Plus => Some((ScramHash::Sha256, true)),
            Mechanism::Plain => None,
        }
    }
}

/// RFC 6120 §6.5 failure conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SaslFailure {
    Aborted,
    AccountDisabled,
    CredentialsExpired,
    EncryptionRequired,
    IncorrectEncoding,
    InvalidAuthzid,
    InvalidMechanism,
    MalformedRequest,
    MechanismTooWeak,
    NotAuthorized,
    TemporaryAuthFailure,
}

impl SaslFailure {
    /// The element name inside `<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>`.
    pub fn as_str(self) -> &'static str {
        match self {
            SaslFailure::Aborted => "aborted",
            SaslFailure::AccountDisabled => "account-disabled",
            SaslFailure::CredentialsExpired => "credentials-expired",
            SaslFailure::EncryptionRequired => "encryption-required",
            SaslFailure::IncorrectEncoding => "incorrect-encoding",
            SaslFailure::InvalidAuthzid => "invalid-authzid",
            SaslFailure::InvalidMechanism => "invalid-mechanism",
            SaslFailure::MalformedRequest => "malformed-request",
            SaslFailure::MechanismTooWeak => "mechanism-too-weak",
            SaslFailure::NotAuthorized => "not-authorized",
            SaslFailure::TemporaryAuthFailure => "temporary-auth-failure",
        }
    }
}

impl std::fmt::Display for SaslFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What to send the client next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// `<challenge/>` with these bytes (base64 by the caller; empty means `=`).
    Challenge(Vec<u8>),
    /// `<success/>`; `username` is the prepared localpart, `additional_data`
    /// goes inside the element (SCRAM's `v=` server signature).
    Success { username: String, additional_data: Option<Vec<u8>> },
    /// `<failure/>` with an optional `<text/>`, which never says whether the
    /// account exists.
    Failure(SaslFailure, Option<String>),
}

impl Step {
    fn fail(condition: SaslFailure, text: &str) -> Step {
        Step::Failure(condition, Some(text.to_owned()))
    }
}

/// Channel-binding data of the connection the exchange runs on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChannelBinding {
    /// RFC 9266 tls-exporter value (32 bytes), present only when the TLS
    /// connection makes it safe (TLS 1.3, or 1.2 with extended master secret).
    pub tls_exporter: Option<Vec<u8>>,
}

/// One authentication attempt on one stream.
pub struct SaslExchange {
    state: State,
}

enum State {
    Scram(Box<scram::ScramServer>),
    Plain { domain: String },
    Done,
}

impl SaslExchange {
    /// Begin with the client's initial response (may be empty/None →
    /// Challenge(empty) for mechanisms that need one). The caller must only
    /// pass a mechanism it offered on this connection.
    pub fn start(
        mech: Mechanism,
        domain: &str,
        accounts: &Accounts,
        binding: ChannelBinding,
        initial: Option<&[u8]>,
    ) -> (SaslExchange, Step) {
        Self::begin(mech, domain, accounts, binding, initial, random_nonce)
    }

    /// [`SaslExchange::start`] with a fixed server nonce, to replay published exchanges.
    #[cfg(test)]
    pub(crate) fn start_with_nonce(
        mech: Mechanism,
        domain: &str,
        accounts: &Accounts,
        binding: ChannelBinding,
        initial: Option<&[u8]>,
        nonce: &str,
    ) -> (SaslExchange, Step) {
        Self::begin(mech, domain, accounts, binding, initial, || Some(nonce.to_owned()))
    }

    fn begin(
        mech: Mechanism,
        domain: &str,
        accounts: &Accounts,
        binding: ChannelBinding,
        initial: Option<&[u8]>,
        nonce: impl FnOnce() -> Option<String>,
    ) -> (SaslExchange, Step) {
        let done = |step| (SaslExchange { state: State::Done }, step);
        let domain = match prep::domain(domain) {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!("sasl: {e}");
                return done(Step::Failure(SaslFailure::TemporaryAuthFailure, None));
            }
        };
        let state = match mech.scram() {
            Some((_, true)) if binding.tls_exporter.is_none() => {
                return done(Step::fail(SaslFailure::InvalidMechanism, "no channel binding on this connection"));
            }
            Some((hash, plus)) => {
                let Some(nonce) = nonce() else {
                    tracing::error!("sasl: the system random source failed");
                    return done(Step::Failure(SaslFailure::TemporaryAuthFailure, None));
                };
                State::Scram(Box::new(scram::ScramServer::new(hash, plus, domain, binding, nonce)))
            }
            None => State::Plain { domain },
        };
        let mut exchange = SaslExchange { state };
        let step = match initial {
            Some(bytes) if !bytes.is_empty() => exchange.step(accounts, bytes),
            _ => Step::Challenge(Vec::new()),
        };
        (exchange, step)
    }

    /// The client's next response. After success or failure every further
    /// call fails: an exchange is never resumed.
    pub fn step(&mut self, accounts: &Accounts, response: &[u8]) -> Step {
        let step = if response.len() > MAX_MESSAGE {
            Step::fail(SaslFailure::MalformedRequest, "message too long")
        } else {
            match &mut self.state {
                State::Scram(s) => s.step(accounts, response),
                State::Plain { domain } => plain::authenticate(accounts, domain, response),
                State::Done => Step::fail(SaslFailure::MalformedRequest, "the exchange is over"),
            }
        };
        if !matches!(step, Step::Challenge(_)) {
            self.state = State::Done;
        }
        step
    }
}

/// An authzid may only name the authenticated user's own bare JID: this
/// server lets nobody act as someone else.
fn authzid_allowed(authzid: &str, username: &str, domain: &str) -> bool {
    match jid::BareJid::new(authzid) {
        Ok(j) => j.node().map(|n| n.as_str()) == Some(username) && j.domain().as_str() == domain,
        Err(_) => false,
    }
}

/// 24 random bytes, well above RFC 5802's need for unpredictability, as base64
/// whose alphabet is all printable and comma-free as a SCRAM nonce must be.
fn random_nonce() -> Option<String> {
    let mut bytes = [0u8; 24];
    SystemRandom::new().fill(&mut bytes).ok()?;
    Some(B64.encode(bytes))
}

#[cfg(test)]
mod tests;
