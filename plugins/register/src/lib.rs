//! XEP-0077 In-Band Registration, with XEP-0158 question CAPTCHAs.
//!
//! Before authentication a client asks for the form and registers (the
//! kernel hands those iqs over with an empty `from` and limits successful
//! registrations per address); once logged in, an account changes its
//! password or cancels its registration, after which the kernel closes its
//! sessions. The settings are in `settings`; the `accounts` capability is
//! the operator's to grant.

mod captcha;
mod challenges;
mod form;
mod handlers;
mod query;
mod settings;
mod validate;

use waxwing_sdk::log;
use waxwing_sdk::prelude::*;

use query::NS_REGISTER;
use settings::Settings;

/// XEP-0077 §8: offered before authentication, so a client can register on
/// a fresh stream; not offered at all while registration is closed.
const STREAM_FEATURE: &str = "<register xmlns='http://jabber.org/features/iq-register'/>";

struct Register;

impl Plugin for Register {
    fn describe() -> Describe {
        let query = Route::iq().of_types([StanzaType::Get, StanzaType::Set]).payload(NS_REGISTER, "query");
        let describe = Describe::new("register", env!("CARGO_PKG_VERSION"))
            .feature(NS_REGISTER)
            // Streams not yet authenticated and `to='domain'` arrive for the
            // host; a logged-in client's iq without `to` arrives for its own
            // bare JID.
            .route(query.clone().unauthenticated())
            .route(query.to(Address::Bare))
            .capabilities([Capability::Accounts, Capability::Mem, Capability::Route, Capability::Timers]);
        settings::declare(describe)
    }

    fn init(config: &Json) -> Result<Ready, String> {
        let ready = Ready::new();
        let open = Settings::from_config(config)?.allow_registration;
        Ok(if open { ready.stream_feature(STREAM_FEATURE, Stage::BeforeAuth) } else { ready })
    }

    fn on_iq(iq: Iq) -> Handled {
        let settings = Settings::from_config(&waxwing_sdk::config()).map_err(|e| {
            log::error(&format!("config refused after init accepted it: {e}"));
            StanzaError::new(Condition::InternalServerError)
        })?;
        handlers::handle(&iq, &settings)
    }

    fn on_event(event: Event) -> Result<(), EventError> {
        if let Event::TimerFired { data, .. } = event {
            challenges::on_timer(&data)?;
        }
        Ok(())
    }
}

waxwing_sdk::export_plugin!(Register);

#[cfg(test)]
mod tests;
