//! XEP-0077 In-Band Registration, with XEP-0158 question CAPTCHAs.
//!
//! Before authentication a client asks for the form and registers (the
//! kernel hands those iqs over with an empty `from` and limits successful
//! registrations per address); once logged in, an account changes its
//! password or cancels its registration, after which the kernel closes its
//! sessions.
//!
//! Config (all optional): `allow_registration` (default false; password
//! changes and cancellation work either way), `min_password_length` (default
//! 6), `captcha = [{question = "...", answer = "..." or [...]}]`,
//! `captcha_lifetime_seconds` (default 300), `instructions`.

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

/// XEP-0077 §8: advertised before authentication (the kernel knows this
/// namespace), so a client can register on a fresh stream.
const STREAM_FEATURE: &str = "<register xmlns='http://jabber.org/features/iq-register'/>";

struct Register;

impl Plugin for Register {
    fn describe() -> Describe {
        let query = |to: Address| Route::iq().of_type("get").of_type("set").payload(NS_REGISTER, "query").to(to);
        Describe::new("register", env!("CARGO_PKG_VERSION"))
            .feature(NS_REGISTER)
            .feature(STREAM_FEATURE)
            // Unauthenticated streams and `to='domain'` arrive for the host; a
            // logged-in client's iq without `to` arrives for its own bare JID.
            .route(query(Address::Host))
            .route(query(Address::Bare))
            .event(EventKind::TimerFired)
            .capability(Capability::Accounts)
            .capability(Capability::Mem)
            .capability(Capability::Route)
            .capability(Capability::Timers)
    }

    fn init(config: &Json) -> Result<(), String> {
        Settings::parse(config).map(|_| ())
    }

    fn on_iq(iq: Iq) -> Handled {
        let settings = Settings::parse(&waxwing_sdk::config()).map_err(|e| {
            log::error(&format!("config refused after init accepted it: {e}"));
            StanzaError::new(Condition::InternalServerError)
        })?;
        handlers::handle(&iq, &settings)
    }

    fn on_event(event: Event) -> Result<(), String> {
        if event.kind == EventKind::TimerFired {
            challenges::on_timer(&event.data).map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

waxwing_sdk::export_plugin!(Register);
