//! XEP-0060 Publish-Subscribe as a service on `pubsub.<vhost>`, run by the
//! shared engine (`pubsub-engine`), with XEP-0248 collections.
//!
//! Settings: `name` (the service's disco name), `node_creation` (`anyone`
//! on the vhost, or `admins`), `admins` (bare JIDs with owner rights on
//! every node), `max_items` (the most items a node may keep; `max` means
//! this), `default_max_items`, `max_payload_bytes`.

use pubsub_engine::{self as engine, Limits, Service};
use waxwing_sdk::prelude::*;

const SUBDOMAIN: &str = "pubsub";

fn service() -> Service {
    let c = waxwing_sdk::config();
    let int = |k: &str, d: u64| c.get(k).as_i64().and_then(|v| u64::try_from(v).ok()).unwrap_or(d);
    let limits = Limits {
        max_items: int("max_items", 10_000),
        default_max_items: int("default_max_items", 256),
        max_payload_bytes: int("max_payload_bytes", 65_536),
    };
    Service::component(
        &format!("{SUBDOMAIN}.{}", waxwing_sdk::domain()),
        c.get("node_creation").as_str() != Some("admins"),
        c.get("admins").as_str_list(),
        limits,
    )
}

struct Pubsub;

impl Plugin for Pubsub {
    fn describe() -> Describe {
        let d = Describe::new("pubsub", env!("CARGO_PKG_VERSION"))
            .service(SUBDOMAIN)
            .identity("pubsub", "service", "Publish-Subscribe")
            .feature(ns::DISCO_INFO)
            .feature(ns::DISCO_ITEMS)
            .route(Route::iq().to(Address::Service))
            .route(Route::message().to(Address::Service))
            .capabilities([Capability::Kv, Capability::Mem, Capability::Route])
            .reads(engine::access::ROSTER, engine::access::SUBSCRIPTIONS)
            .reads(engine::access::ROSTER, engine::access::GROUPS)
            .setting_text("name", "Publish-Subscribe", "The service's name in disco")
            .setting_choice(
                "node_creation",
                &["anyone", "admins"],
                "anyone",
                "Who may create nodes: any user of the vhost, or only the service admins",
            )
            .setting_text_list("admins", &[], "Bare JIDs with owner rights on every node")
            .setting_int("max_items", 1, 1_000_000, 10_000, "The most items a node may keep; a node's `max` is this")
            .setting_int("default_max_items", 1, 1_000_000, 256, "Items a new node keeps")
            .setting_bytes("max_payload_bytes", 256, 1 << 20, 65_536, "The largest item payload");
        engine::feature_uris(false).iter().fold(d, |d, f| d.feature(f))
    }

    fn init(config: &Json) -> Result<Ready, String> {
        if config.require_i64("default_max_items")? > config.require_i64("max_items")? {
            return Err("default_max_items must not exceed max_items".into());
        }
        Ok(Ready::new())
    }

    fn on_iq(iq: Iq) -> Handled {
        let service = service();
        if waxwing_sdk::jid::node(iq.to()).is_some() || waxwing_sdk::jid::resource(iq.to()).is_some() {
            // The service has no users or resources of its own.
            return Err(Condition::ServiceUnavailable.into());
        }
        match iq.payload_ns() {
            ns::DISCO_INFO | ns::DISCO_ITEMS if iq.is_get() => disco(&service, &iq),
            engine::NS | engine::NS_OWNER => engine::handle_iq(&service, &iq),
            _ => Err(Condition::ServiceUnavailable.into()),
        }
    }

    fn on_message(m: Message) -> Handled {
        if m.stanza_type() == StanzaType::Error {
            return Ok(Outcome::Done);
        }
        match engine::authorize::handle_answer(&service(), &m)? {
            Some(()) => Ok(Outcome::Done),
            None => Err(Condition::ServiceUnavailable.into()),
        }
    }
}

fn disco(service: &Service, iq: &Iq) -> Handled {
    let query = iq.payload()?;
    let node = query.attr("node").filter(|n| !n.is_empty());
    let answer = match (query.ns.as_str(), node) {
        (ns::DISCO_INFO, None) => {
            let name = waxwing_sdk::config().get("name").as_str().unwrap_or_default().to_string();
            engine::disco::service_info(service, &[("pubsub", "service", &name)], &[])
        }
        (ns::DISCO_INFO, Some(n)) => engine::disco::node_info(service, n, iq.from())?,
        (_, node) => engine::disco::items(service, node, iq.from())?,
    };
    iq.reply_with(answer)
}

waxwing_sdk::export_plugin!(Pubsub);
