//! XEP-0012 Last Activity of an account, answered by the server for a
//! contact the account shares its presence with (XEP-0012 §4).

use waxwing_sdk::jid::bare;
use waxwing_sdk::prelude::*;
use waxwing_sdk::sessions;

use crate::{session_state, stanzas, storage};

pub fn handle(iq: Iq) -> Handled {
    let user = iq.to();
    let requester = bare(iq.from());
    let allowed = requester == user || storage::load(user, requester)?.sub.from;
    if !allowed {
        return Err(StanzaError::new(Condition::Forbidden));
    }
    for s in sessions::of(user)? {
        if s.available && !session_state::is_invisible(&s.jid)? {
            return iq.reply_with(stanzas::last_query(0, ""));
        }
    }
    match storage::load_last(user)? {
        Some(last) => {
            let seconds = idle_seconds(waxwing_sdk::now_ms(), last.ms);
            iq.reply_with(stanzas::last_query(seconds, &last.status))
        }
        // Never seen online since this plugin started keeping track.
        None => Err(StanzaError::new(Condition::ItemNotFound)),
    }
}

/// Whole seconds from `since` to `now`; a clock that went backwards is 0.
pub fn idle_seconds(now_ms: u64, since_ms: u64) -> u64 {
    now_ms.saturating_sub(since_ms) / 1000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_time_is_whole_seconds_and_never_negative() {
        assert_eq!(idle_seconds(10_999, 1_000), 9);
        assert_eq!(idle_seconds(1_000, 5_000), 0);
    }
}
