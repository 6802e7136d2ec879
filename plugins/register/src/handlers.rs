//! The XEP-0077 flows: a stream that has not authenticated asking for the
//! form and registering (the kernel hands those over with an empty `from`),
//! and an account managing its own registration: password change and
//! cancellation.

use waxwing_sdk::prelude::*;
use waxwing_sdk::{accounts, jid, log, now_ms, random, route};

use crate::captcha::Judgement;
use crate::challenges;
use crate::form::{self, CaptchaPrompt};
use crate::query::{self, Request, Submission};
use crate::settings::{Question, Settings};
use crate::validate;

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// A stream that has not authenticated yet (XEP-0077 §8).
    Unauthenticated,
    /// A session of this local account (its username).
    Account(String),
}

/// Works out the caller from the kernel's routing facts: an account may only
/// manage its own registration, addressed to the host or to itself.
pub fn caller(from: &str, to: &str, addressed: Address, host_domain: &str) -> Result<Caller, StanzaError> {
    if from.is_empty() {
        return Ok(Caller::Unauthenticated);
    }
    let forbidden =
        || StanzaError::new(Condition::Forbidden).with_text("only an account's own registration can be managed");
    let Some(username) = jid::node(from) else { return Err(forbidden()) };
    if jid::domain(from) != host_domain || (addressed == Address::Bare && jid::bare(to) != jid::bare(from)) {
        return Err(forbidden());
    }
    Ok(Caller::Account(username.to_string()))
}

pub fn handle(iq: &Iq, settings: &Settings) -> Handled {
    match caller(iq.from(), iq.to(), iq.addressed(), &waxwing_sdk::domain())? {
        Caller::Unauthenticated if iq.is_get() => registration_form(iq, settings),
        Caller::Unauthenticated => match query::parse(iq.payload()?)? {
            Request::Remove => Err(StanzaError::new(Condition::NotAuthorized)
                .with_text("log in to the account to cancel its registration")),
            Request::Submit(submission) => register(iq, &submission, settings),
        },
        Caller::Account(username) if iq.is_get() => iq.reply_with(form::registered(&username)),
        Caller::Account(username) => match query::parse(iq.payload()?)? {
            Request::Remove => cancel(iq, &username),
            Request::Submit(submission) => change_password(iq, &username, &submission, settings),
        },
    }
}

fn registration_closed() -> StanzaError {
    StanzaError::new(Condition::NotAllowed).with_text("this server does not allow in-band registration")
}

fn registration_form(iq: &Iq, settings: &Settings) -> Handled {
    if !settings.allow_registration {
        return Err(registration_closed());
    }
    let Some(question) = pick(&settings.captcha) else {
        return iq.reply_with(form::registration_form(&settings.instructions, None));
    };
    let id = challenges::issue(question, settings.captcha_lifetime_ms).inspect_err(|e| {
        log::warn(&format!("could not store a CAPTCHA challenge: {e}"));
    })?;
    let prompt = CaptchaPrompt { id: &id, question: &question.question, sid: iq.id() };
    iq.reply_with(form::registration_form(&settings.instructions, Some(&prompt)))
}

/// A question chosen at random, so a bot cannot learn one answer and reuse it.
fn pick(questions: &[Question]) -> Option<&Question> {
    if questions.is_empty() {
        return None;
    }
    let mut bytes = [0u8; 4];
    for (slot, b) in bytes.iter_mut().zip(random(4)) {
        *slot = b;
    }
    questions.get(u32::from_le_bytes(bytes) as usize % questions.len())
}

fn register(iq: &Iq, submission: &Submission, settings: &Settings) -> Handled {
    if !settings.allow_registration {
        return Err(registration_closed());
    }
    let (Some(username), Some(password)) = (&submission.username, &submission.password) else {
        return Err(StanzaError::new(Condition::NotAcceptable).with_text("both a username and a password are required"));
    };
    validate::username(username)?;
    validate::password(password, settings.min_password_length)?;
    // The challenge comes before any look-up of the name, so a bot cannot use
    // this to find out which accounts exist.
    if !settings.captcha.is_empty() {
        check_captcha(submission)?;
    }
    if accounts::exists(username)? {
        return Err(StanzaError::new(Condition::Conflict).with_text("that username is taken"));
    }
    accounts::create(username, password).map_err(|e| account_failure("create", e))?;
    log::info(&format!("registered {username} in band"));
    iq.reply_empty()
}

fn check_captcha(submission: &Submission) -> Result<(), StanzaError> {
    let not_acceptable = |text: &str| StanzaError::new(Condition::NotAcceptable).with_text(text);
    let (Some(id), Some(answer)) = (&submission.challenge, &submission.answer) else {
        return Err(not_acceptable("answer the question in the registration form"));
    };
    let Some(challenge) = challenges::take(id)? else {
        return Err(not_acceptable("the question has expired or was already answered: ask for a new form"));
    };
    match challenge.judge(answer, now_ms()) {
        Judgement::Passed => Ok(()),
        Judgement::Expired => Err(not_acceptable("the question has expired: ask for a new form")),
        Judgement::Wrong => Err(not_acceptable("wrong answer to the question: ask for a new form")),
    }
}

fn change_password(iq: &Iq, own: &str, submission: &Submission, settings: &Settings) -> Handled {
    let (Some(username), Some(password)) = (&submission.username, &submission.password) else {
        return Err(StanzaError::new(Condition::BadRequest)
            .with_text("a password change needs both <username/> and <password/>"));
    };
    // The session's localpart is already prepared (lower case); the client
    // may have typed it as it signed up.
    if username.to_lowercase() != own.to_lowercase() {
        return Err(StanzaError::new(Condition::NotAllowed).with_text("only the account's own password can be changed"));
    }
    validate::password(password, settings.min_password_length)?;
    accounts::set_password(own, password).map_err(|e| account_failure("set_password", e))?;
    log::info(&format!("{own} changed their password in band"));
    iq.reply_empty()
}

/// The kernel closes the account's sessions once the call's sends went out,
/// but it routes a returned `Outcome::Reply` only after that close: the
/// result is sent instead, so the client learns it succeeded first.
fn cancel(iq: &Iq, own: &str) -> Handled {
    accounts::delete(own).map_err(|e| account_failure("delete", e))?;
    log::info(&format!("{own} cancelled their registration in band"));
    let result = iq.result();
    match route::send(&result) {
        Ok(()) => Ok(Outcome::Done),
        Err(e) => {
            log::warn(&format!("could not send the cancellation result ahead of the stream's close: {e}"));
            Ok(Outcome::Reply(result))
        }
    }
}

fn account_failure(call: &str, e: HostError) -> StanzaError {
    let err = stanza_error_for(&e);
    if err.condition == Condition::InternalServerError {
        log::error(&format!("accounts::{call} failed: {e}"));
    }
    err
}

/// What the client hears when the account store refused. The kernel's
/// messages are matched by their start; anything unrecognised stays an
/// internal error, its detail kept out of the reply.
pub fn stanza_error_for(e: &HostError) -> StanzaError {
    let HostError::Invalid(message) = e else { return e.clone().into() };
    let (condition, text) = if message.starts_with("the account already exists") {
        (Condition::Conflict, "that username is taken")
    } else if message.starts_with("invalid username") {
        (Condition::JidMalformed, "that username is not a valid JID localpart")
    } else if let Some(why) = message.strip_prefix("unacceptable password") {
        // The kernel's password policy speaks to the user (too short, a
        // character SASLprep forbids): its reason is passed on.
        let why = why.trim_start_matches(':').trim();
        let text = if why.is_empty() {
            "the password is not acceptable".to_string()
        } else {
            format!("the password is not acceptable: {why}")
        };
        return StanzaError::new(Condition::NotAcceptable).with_text(text);
    } else if message.starts_with("no such account") {
        (Condition::ItemNotFound, "the account no longer exists")
    } else {
        return StanzaError::new(Condition::InternalServerError);
    };
    StanzaError::new(condition).with_text(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_from_is_a_stream_before_authentication() {
        assert_eq!(caller("", "example.org", Address::Host, "example.org"), Ok(Caller::Unauthenticated));
    }

    #[test]
    fn an_account_manages_itself_through_the_host_or_its_bare_jid() {
        let me = Ok(Caller::Account("juliet".into()));
        assert_eq!(caller("juliet@example.org/balcony", "example.org", Address::Host, "example.org"), me);
        assert_eq!(caller("juliet@example.org/balcony", "juliet@example.org", Address::Bare, "example.org"), me);
    }

    #[test]
    fn nobody_manages_another_account() {
        for (from, to, addressed) in [
            ("juliet@example.org/balcony", "romeo@example.org", Address::Bare),
            ("romeo@other.org/r", "example.org", Address::Host),
            ("other.org", "example.org", Address::Host),
        ] {
            let err = caller(from, to, addressed, "example.org").unwrap_err();
            assert_eq!(err.condition, Condition::Forbidden, "{from} -> {to}");
        }
    }

    #[test]
    fn account_store_refusals_map_to_conditions() {
        let invalid = |m: &str| HostError::Invalid(m.into());
        let cases = [
            (invalid("the account already exists"), Condition::Conflict),
            (invalid("invalid username \"a b\": bad"), Condition::JidMalformed),
            (invalid("unacceptable password: prohibited"), Condition::NotAcceptable),
            (invalid("no such account"), Condition::ItemNotFound),
            (
                invalid("unacceptable password: too short (2 characters): use at least 6 characters"),
                Condition::NotAcceptable,
            ),
            (invalid("something new"), Condition::InternalServerError),
            (HostError::Internal("disk full at /var".into()), Condition::InternalServerError),
            (HostError::NotGranted(Capability::Accounts), Condition::InternalServerError),
            (HostError::Quota("x".into()), Condition::ResourceConstraint),
        ];
        for (e, want) in cases {
            let got = stanza_error_for(&e);
            assert_eq!(got.condition, want, "{e}");
            if let HostError::Invalid(m) = &e
                && let Some(why) = m.strip_prefix("unacceptable password: ")
            {
                assert_eq!(
                    got.text,
                    Some(format!("the password is not acceptable: {why}")),
                    "the kernel's reason is kept"
                );
            }
            assert!(!got.text.as_deref().unwrap_or("").contains("/var"), "no internal detail leaks");
        }
    }
}
