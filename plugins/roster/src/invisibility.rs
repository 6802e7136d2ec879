//! XEP-0186 invisible command: a session hides its presence from its
//! contacts while it keeps sending directed presence and receiving theirs.

use waxwing_sdk::jid::bare;
use waxwing_sdk::prelude::*;
use waxwing_sdk::{new_presence, parse_client_xml, route, sessions};

use crate::{presence, session_state, stanzas};

pub const NS_INVISIBLE: &str = "urn:xmpp:invisible:0";

pub fn handle(iq: Iq) -> Handled {
    let from = iq.from();
    let own = match iq.addressed() {
        Address::Bare => bare(from) == iq.to(),
        _ => waxwing_sdk::jid::domain(from) == waxwing_sdk::domain(),
    };
    if !own {
        return Err(StanzaError::new(Condition::Forbidden).with_text("only a session can make itself invisible"));
    }
    if waxwing_sdk::jid::resource(from).is_none() {
        return Err(StanzaError::new(Condition::BadRequest).with_text("invisibility belongs to a session"));
    }
    match iq.payload_name() {
        "invisible" => go_invisible(from)?,
        "visible" => go_visible(from)?,
        _ => return Err(StanzaError::new(Condition::BadRequest).with_text("expected <invisible/> or <visible/>")),
    }
    iq.reply_empty()
}

/// Contacts that saw the session see it leave (XEP-0186 §3.1).
fn go_invisible(full: &str) -> Result<(), StanzaError> {
    let was_invisible = session_state::set_invisible(full, true)?;
    if !was_invisible && session_state::is_available(full)? {
        let unavailable = new_presence(StanzaType::Unavailable).with_attr("from", full);
        route::send_many(&unavailable, &presence::subscribers(bare(full))?)?;
    }
    Ok(())
}

/// Contacts see the session's current presence again (XEP-0186 §3.2).
fn go_visible(full: &str) -> Result<(), StanzaError> {
    let was_invisible = session_state::set_invisible(full, false)?;
    if !was_invisible || !session_state::is_available(full)? {
        return Ok(());
    }
    let user = bare(full);
    let last = sessions::of(user)?.into_iter().find(|s| s.jid == full).map(|s| s.presence).unwrap_or_default();
    if let Ok(p) = parse_client_xml(&last) {
        let mut out = stanzas::readdressed(&p, full, "");
        out.remove_attr("to");
        route::send_many(&out, &presence::subscribers(user)?)?;
    }
    Ok(())
}
