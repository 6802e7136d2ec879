//! XEP-0115 entity capabilities of clients, recorded from their presence.
//!
//! A session's `<c/>` (node, ver, hash) is remembered in `mem` until the
//! session ends or sends presence without one. A SHA-1 `ver` not seen before
//! is asked about once (`node#ver` disco#info to that session, from the
//! host); the answer is kept in `kv` under its `ver` only if it hashes to
//! it, so a client cannot make the server believe another release has
//! features it lacks. Reading the records: see `lookup`.
//!
//! Config (optional): `admins`, bare JIDs that may read any session's caps.

mod advertised;
mod lookup;
mod queries;
mod verified;

use waxwing_sdk::prelude::*;
use waxwing_sdk::{kv, log, mem, new_iq, route};

use advertised::Advertised;
use queries::Pending;

struct Caps;

impl Plugin for Caps {
    fn describe() -> Describe {
        Describe::new("caps", env!("CARGO_PKG_VERSION"))
            .event(EventKind::PresenceChanged)
            .event(EventKind::SessionEnded)
            // Answers to our queries come back addressed to the host.
            .route(Route::iq().of_type("result").payload(ns::DISCO_INFO, "query").to(Address::Host))
            .route(Route::iq().of_type("error").to(Address::Host).priority(-10))
            .iq_get_host(lookup::NS, "caps")
            .capability(Capability::Kv)
            .capability(Capability::Mem)
            .capability(Capability::Route)
    }

    fn init(config: &Json) -> Result<(), String> {
        match config.get("admins") {
            Json::Null => Ok(()),
            Json::Array(items) if items.iter().all(|i| i.as_str().is_some()) => Ok(()),
            _ => Err("config 'admins' must be a list of bare JIDs".into()),
        }
    }

    fn on_event(event: Event) -> Result<(), String> {
        let outcome = match event.kind {
            EventKind::PresenceChanged => presence_changed(&event.jid, &event.data),
            EventKind::SessionEnded => forget(&event.jid),
            _ => Ok(()),
        };
        outcome.map_err(|e| format!("caps of {}: {e}", event.jid))
    }

    fn on_iq(iq: Iq) -> Handled {
        match iq.stanza_type() {
            "result" | "error" => Ok(answered(&iq)),
            _ => lookup::answer(&iq, &waxwing_sdk::config().get("admins").as_str_list()),
        }
    }
}

fn forget(full_jid: &str) -> Result<(), HostError> {
    mem::delete(&advertised::session_key(full_jid))
}

fn presence_changed(full_jid: &str, presence_xml: &str) -> Result<(), HostError> {
    // The kernel serialized this presence itself; if it ever did not parse,
    // the session simply has no caps known.
    let presence = Element::parse(presence_xml).ok();
    let available = presence.as_ref().is_some_and(|p| p.attr("type").is_none());
    let Some(caps) = presence.filter(|_| available).as_ref().and_then(Advertised::from_presence) else {
        return forget(full_jid);
    };
    mem::put(&advertised::session_key(full_jid), caps.encode())?;
    if caps.is_verifiable() && kv::get(verified::key(&caps.ver))?.is_none() {
        ask(full_jid, &caps)?;
    }
    Ok(())
}

/// Queries `full_jid` about its caps unless a query for the same `ver` is
/// already out and still fresh.
fn ask(full_jid: &str, caps: &Advertised) -> Result<(), HostError> {
    let now = waxwing_sdk::now_ms();
    let by_ver = queries::by_ver_key(&caps.ver);
    if let Some(id) = mem::get(&by_ver)? {
        let id = String::from_utf8_lossy(&id).into_owned();
        let pending = mem::get(&queries::by_id_key(&id))?.and_then(|b| Pending::decode(&b));
        if pending.as_ref().is_some_and(|p| !p.is_stale(now)) {
            return Ok(());
        }
        mem::delete(&queries::by_id_key(&id))?;
    }
    let id = queries::new_id(&waxwing_sdk::random(8));
    let pending = Pending { asked: full_jid.to_owned(), ver: caps.ver.clone(), sent_ms: now };
    mem::put(&queries::by_id_key(&id), pending.encode())?;
    mem::put(&by_ver, &id)?;
    let query = Element::new("query", ns::DISCO_INFO).with_attr("node", caps.query_node());
    let iq = new_iq("get", &id).with_attr("from", waxwing_sdk::domain()).with_attr("to", full_jid).with_child(query);
    route::send(&iq)
}

/// An iq result or error to the host: ours when its id is one we sent and
/// it comes from the session we asked. Never answered (RFC 6120 §8.2.3).
fn answered(iq: &Iq) -> Outcome {
    if !iq.id().starts_with(queries::ID_PREFIX) {
        return Outcome::Pass;
    }
    if let Err(e) = settle(iq) {
        log::warn(&format!("caps answer {} from {}: {e}", iq.id(), iq.from()));
    }
    Outcome::Done
}

fn settle(iq: &Iq) -> Result<(), HostError> {
    let by_id = queries::by_id_key(iq.id());
    let Some(pending) = mem::get(&by_id)?.and_then(|b| Pending::decode(&b)) else {
        return Ok(());
    };
    // Anyone may send the host a result with a guessed id; only the asked
    // session's answer settles the query.
    if iq.from() != pending.asked {
        return Ok(());
    }
    mem::delete(&by_id)?;
    let by_ver = queries::by_ver_key(&pending.ver);
    if mem::get(&by_ver)?.is_some_and(|id| id == iq.id().as_bytes()) {
        mem::delete(&by_ver)?;
    }
    if iq.stanza_type() == "error" {
        log::debug(&format!("{} refused the caps query for {}", pending.asked, pending.ver));
        return Ok(());
    }
    let Ok(result) = iq.element() else { return Ok(()) };
    match verified::check_answer(result, &pending.ver) {
        Ok(info) => kv::put(verified::key(&pending.ver), info.to_xml()),
        Err(why) => {
            log::warn(&format!(
                "caps of {} not recorded: it advertised {} but its answer: {why}",
                pending.asked, pending.ver
            ));
            Ok(())
        }
    }
}

waxwing_sdk::export_plugin!(Caps);

#[cfg(test)]
mod tests {
    use super::*;

    fn stanza(xml: &str) -> Iq {
        Iq(Stanza::from_xml(xml, Address::Host, "example.org").unwrap())
    }

    #[test]
    fn results_of_other_plugins_pass() {
        let iq = stanza(
            "<iq xmlns='jabber:client' type='result' id='roster-1' from='a@example.org/r'>\
             <query xmlns='http://jabber.org/protocol/disco#info'/></iq>",
        );
        assert_eq!(answered(&iq), Outcome::Pass);
    }

    #[test]
    fn config_admins_must_be_strings() {
        assert!(Caps::init(&Json::parse(r#"{"admins": ["a@example.org"]}"#).unwrap()).is_ok());
        assert!(Caps::init(&Json::parse("{}").unwrap()).is_ok());
        assert!(Caps::init(&Json::parse(r#"{"admins": "a@example.org"}"#).unwrap()).is_err());
    }

    #[test]
    fn declares_its_routes() {
        let d = Caps::describe().into_wit();
        assert!(d.features.is_empty(), "recording caps is nothing a client can discover");
        assert_eq!(d.routes.len(), 3);
    }
}
