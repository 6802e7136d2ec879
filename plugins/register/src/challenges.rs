//! Issued CAPTCHA challenges, kept in `mem` (they need not survive a restart:
//! the client just asks for a new form). Each is usable once, and a timer
//! removes the ones never answered so unanswered forms do not pile up.

use waxwing_sdk::{HostError, log, mem, now_ms, random, timers};

use crate::captcha::{self, Challenge};
use crate::settings::Question;

/// Timer data naming the challenge to forget.
const EXPIRY_TIMER_PREFIX: &str = "captcha-expiry ";

fn key(id: &str) -> String {
    format!("captcha/{id}")
}

/// Remembers a new challenge for `question`; returns its id.
pub fn issue(question: &Question, lifetime_ms: u64) -> Result<String, HostError> {
    let id = captcha::id_from_bytes(&random(captcha::ID_BYTES));
    if !captcha::is_well_formed_id(&id) {
        return Err(HostError::Internal("the host gave too few random bytes".into()));
    }
    let challenge =
        Challenge { expires_at_ms: now_ms().saturating_add(lifetime_ms), answers: question.answers.clone() };
    mem::put(&key(&id), challenge.encode())?;
    // The expiry is also checked on use, so a missing timer (quota reached)
    // only delays the clean-up until the challenge is answered or the server restarts.
    if let Err(e) = timers::set(lifetime_ms, &format!("{EXPIRY_TIMER_PREFIX}{id}")) {
        log::warn(&format!("no expiry timer for a CAPTCHA challenge: {e}"));
    }
    Ok(id)
}

/// The challenge `id` names, removed so it cannot be tried twice; `None`
/// when there is no such challenge (never issued, used, or cleaned up).
pub fn take(id: &str) -> Result<Option<Challenge>, HostError> {
    if !captcha::is_well_formed_id(id) {
        return Ok(None);
    }
    let key = key(id);
    let Some(stored) = mem::get(&key)? else { return Ok(None) };
    mem::delete(&key)?;
    Ok(Challenge::decode(&stored))
}

/// Handles a fired timer; false when the timer was not one of ours.
pub fn on_timer(data: &str) -> Result<bool, HostError> {
    let Some(id) = data.strip_prefix(EXPIRY_TIMER_PREFIX) else { return Ok(false) };
    if captcha::is_well_formed_id(id) {
        mem::delete(&key(id))?;
    }
    Ok(true)
}
