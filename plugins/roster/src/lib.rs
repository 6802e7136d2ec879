//! RFC 6121 rosters, presence subscriptions and the server's share of
//! presence; XEP-0237 roster versioning, XEP-0012 last activity of
//! contacts, XEP-0186 invisibility. One plugin, because all of them read
//! the roster and a plugin's storage is its own.

mod address;
mod invisibility;
mod item;
mod last_activity;
mod limits;
mod presence;
mod roster_iq;
mod session_state;
mod stanzas;
mod storage;
mod subscription;
mod subscriptions;

use waxwing_sdk::prelude::*;

use crate::invisibility::NS_INVISIBLE;
use crate::item::NS_ROSTER;
use crate::stanzas::NS_LAST;
use crate::subscription::Request;

/// XEP-0237 and RFC 6121 §3.4 are announced as stream features.
const ROSTERVER_FEATURE: &str = "<ver xmlns='urn:xmpp:features:rosterver'/>";
const PRE_APPROVAL_FEATURE: &str = "<sub xmlns='urn:xmpp:features:pre-approval'/>";
const SUBSCRIPTION_TYPES: [&str; 4] = ["subscribe", "subscribed", "unsubscribe", "unsubscribed"];
/// Above carbons (0), below blocking (100): a blocked stanza never changes a roster.
const FILTER_PRIORITY: i32 = 50;

struct Roster;

impl Plugin for Roster {
    fn describe() -> Describe {
        let mut d = Describe::new("roster", env!("CARGO_PKG_VERSION"))
            .feature(ROSTERVER_FEATURE)
            .feature(PRE_APPROVAL_FEATURE)
            .feature(NS_INVISIBLE)
            .route(Route::iq().of_type("get").of_type("set").payload(NS_ROSTER, "query").to(Address::Bare))
            .route(Route::iq().of_type("get").payload(NS_LAST, "query").to(Address::Bare))
            .route(Route::iq().of_type("set").payload(NS_INVISIBLE, "").to(Address::Bare))
            .route(Route::iq().of_type("set").payload(NS_INVISIBLE, "").to(Address::Host))
            .route(Route::presence().of_type("probe").to(Address::Bare))
            .event(EventKind::SessionStarted)
            .event(EventKind::PresenceChanged)
            .event(EventKind::SessionEnded)
            .event(EventKind::UserDeleted)
            .capability(Capability::Kv)
            .capability(Capability::Mem)
            .capability(Capability::Route)
            .capability(Capability::Sessions);
        let mut inbound = Route::presence().to(Address::Bare);
        for t in SUBSCRIPTION_TYPES {
            inbound = inbound.of_type(t);
        }
        d = d.route(inbound);
        // Outbound subscriptions and directed presence, wherever addressed:
        // a remote or service address is `Service` to the router.
        for to in [Address::Bare, Address::Full, Address::Host, Address::Service] {
            let mut f = Route::presence().of_type("available").of_type("unavailable").to(to).priority(FILTER_PRIORITY);
            for t in SUBSCRIPTION_TYPES {
                f = f.of_type(t);
            }
            d = d.filter(f);
        }
        d
    }

    fn init(config: &Json) -> Result<(), String> {
        limits::max_items_from(config).map(|_| ())
    }

    fn on_iq(iq: Iq) -> Handled {
        match iq.payload_ns() {
            NS_ROSTER => roster_iq::handle(iq),
            NS_LAST => last_activity::handle(iq),
            NS_INVISIBLE => invisibility::handle(iq),
            _ => Ok(Outcome::Pass),
        }
    }

    fn on_presence(presence: Presence) -> Handled {
        if presence.stanza_type() == "probe" {
            return presence::answer_probe(&presence);
        }
        match Request::from_type(presence.stanza_type()) {
            Some(request) => subscriptions::inbound(&presence, request),
            None => Ok(Outcome::Pass),
        }
    }

    fn filter(stanza: Stanza) -> Verdict {
        match Request::from_type(stanza.stanza_type()) {
            Some(request) => subscriptions::outbound(&stanza, request),
            None => presence::track_directed(&stanza),
        }
    }

    fn on_event(event: Event) -> Result<(), String> {
        match event.kind {
            // A session that replaced another with the same resource inherits
            // nothing of it: the kernel reports no end for the replaced one.
            EventKind::SessionStarted => session_state::forget(&event.jid).map_err(|e| e.to_string()),
            EventKind::PresenceChanged => presence::changed(&event.jid, &event.data),
            EventKind::SessionEnded => presence::ended(&event.jid),
            EventKind::UserDeleted => subscriptions::forget_user(&event.jid),
            _ => Ok(()),
        }
    }
}

waxwing_sdk::export_plugin!(Roster);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn description_routes_and_filters() {
        let d = Roster::describe().into_wit();
        assert!(d.features.iter().any(|f| f == ROSTERVER_FEATURE));
        assert!(d.features.iter().any(|f| f == NS_INVISIBLE));
        assert_eq!(d.filters.len(), 4);
        assert!(d.filters.iter().all(|f| f.priority == FILTER_PRIORITY && f.types.len() == 6));
        let inbound = d.routes.iter().find(|r| r.types.len() == 4).map(|r| r.to);
        assert_eq!(inbound, Some(Address::Bare));
    }
}
