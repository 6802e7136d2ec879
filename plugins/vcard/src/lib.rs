//! XEP-0054 vcard-temp: each account's vCard, stored as the client sent it;
//! a client's PHOTO is published as its XEP-0084 avatar (XEP-0398, `avatar.rs`)
//! and its hash goes into the account's presence (`presence_hash.rs`).
//!
//! Setting: `max_bytes`, the largest vCard accepted (64 KiB).

mod avatar;
mod handlers;
mod presence_hash;
mod store;

use waxwing_sdk::prelude::*;

/// Avatars belong in XEP-0084 or XEP-0153 hashes, not inline in a vCard of
/// megabytes; 64 KiB still fits a small inline photo.
const DEFAULT_MAX_BYTES: i64 = 64 * 1024;

struct VCard;

impl Plugin for VCard {
    fn describe() -> Describe {
        Describe::new("vcard", env!("CARGO_PKG_VERSION"))
            .feature(store::NS)
            // With no `to` the kernel addresses an iq to the sender's own
            // bare JID, so both "mine" and "theirs" arrive here.
            .route(
                Route::iq().of_types([StanzaType::Get, StanzaType::Set]).payload(store::NS, "vCard").to(Address::Bare),
            )
            // XEP-0398 §2.3: the avatar hash in the account's presence.
            .filter(Route::presence().of_type(StanzaType::Available).to_anywhere())
            .filter_scope(FilterScope::WatchedAccounts)
            .event(EventKind::UserDeleted)
            .setting_bytes("max_bytes", 1, 16 << 20, DEFAULT_MAX_BYTES, "The largest vCard stored, in bytes")
            .capabilities([Capability::Kv, Capability::Mem, Capability::Route])
    }

    fn on_iq(iq: Iq) -> Handled {
        if iq.is_set() {
            // The kernel always hands over the declared setting; the default is
            // for a call without config, which only a unit test makes.
            let max_bytes = waxwing_sdk::config().require_i64("max_bytes").unwrap_or(DEFAULT_MAX_BYTES);
            handlers::set(&iq, usize::try_from(max_bytes).unwrap_or(usize::MAX))
        } else {
            handlers::get(&iq)
        }
    }

    fn filter(stanza: Stanza) -> Verdict {
        match presence_hash::stamp(&stanza) {
            Ok(Some(stamped)) => Verdict::Rewrite(stamped),
            Ok(None) => Verdict::Pass,
            Err(e) => {
                // The presence goes out as sent; only the hash is missing.
                waxwing_sdk::log::warn(&format!("avatar hash not added to {}'s presence: {e:?}", stanza.from()));
                Verdict::Pass
            }
        }
    }

    fn on_event(event: Event) -> Result<(), EventError> {
        match event {
            Event::UserDeleted { jid } => {
                store::delete(&jid).map_err(|e| EventError::from(e).context("deleting its vCard"))?;
                avatar::forget(&jid).map_err(|e| EventError::from(e).context("forgetting its published avatar"))?;
                presence_hash::forget(&jid).map_err(|e| EventError::from(e).context("forgetting its avatar hash"))
            }
            Event::IqResponse { context, outcome, .. } => {
                avatar::answered(&context, &outcome).map_err(|e| EventError::new(format!("{e:?}")))
            }
            _ => Ok(()),
        }
    }
}

waxwing_sdk::export_plugin!(VCard);

#[cfg(test)]
mod tests {
    use super::*;
    use waxwing_sdk::testing::{self, FakeHost};

    fn iq(from: &str, to: &str, ty: &str, vcard: &str) -> Iq {
        let xml = format!("<iq xmlns='jabber:client' type='{ty}' id='v' from='{from}' to='{to}'>{vcard}</iq>");
        Iq(Stanza::from_xml(&xml, Address::Bare, "h").unwrap())
    }

    #[test]
    fn stored_read_by_others_and_gone_with_the_account() {
        testing::init::<VCard>(r#"{"max_bytes": 100}"#).unwrap();
        let get = || VCard::on_iq(iq("b@h/r", "a@h", "get", "<vCard xmlns='vcard-temp'/>"));
        assert_eq!(get().unwrap_err().condition, Condition::ItemNotFound);
        assert!(VCard::on_iq(iq("a@h/r", "a@h", "set", "<vCard xmlns='vcard-temp'><FN>A</FN></vCard>")).is_ok());
        let Ok(Outcome::Reply(r)) = get() else { panic!("expected the vCard") };
        assert_eq!(
            r.child("vCard", store::NS).and_then(|v| v.child("FN", store::NS)).map(Element::text).as_deref(),
            Some("A")
        );

        let big = format!("<vCard xmlns='vcard-temp'><FN>{}</FN></vCard>", "x".repeat(100));
        let err = VCard::on_iq(iq("a@h/r", "a@h", "set", &big)).unwrap_err();
        assert_eq!(err.condition, Condition::NotAcceptable, "the setting bounds it");

        VCard::on_event(Event::UserDeleted { jid: "a@h".into() }).unwrap();
        assert_eq!(get().unwrap_err().condition, Condition::ItemNotFound);
        assert!(FakeHost::kv_entries().is_empty());
    }
}
