//! XEP-0280 §§4–5: `<enable/>` and `<disable/>` from a session for itself.

use waxwing_sdk::prelude::*;
use waxwing_sdk::{Node, jid};

use crate::state;

pub fn handle(iq: &Iq) -> Handled {
    // A client sends these without `to`, which the kernel turns into its own
    // bare JID. Addressed to someone else's account, this is not a carbons
    // request for us: the kernel answers it as an iq to that account
    // (`service-unavailable`), as Prosody does.
    if jid::bare(iq.from()) != jid::bare(iq.to()) || jid::resource(iq.from()).is_none() {
        return Ok(Outcome::Pass);
    }
    let payload = iq.payload()?;
    if !is_empty(payload) {
        return Err(StanzaError::new(Condition::BadRequest).with_text("<enable/> and <disable/> take no content"));
    }
    match payload.name.as_str() {
        "enable" => state::enable(iq.from())?,
        "disable" => state::disable(iq.from())?,
        // The routes admit nothing else.
        _ => return Err(Condition::FeatureNotImplemented.into()),
    }
    iq.reply_empty()
}

fn is_empty(el: &Element) -> bool {
    el.children.iter().all(|n| match n {
        Node::Element(_) => false,
        Node::Text(t) => t.trim().is_empty(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_empty_requests_are_accepted() {
        let parse = |xml: &str| Element::parse(xml).unwrap();
        assert!(is_empty(&parse("<enable xmlns='urn:xmpp:carbons:2'/>")));
        assert!(is_empty(&parse("<enable xmlns='urn:xmpp:carbons:2'>  </enable>")));
        assert!(!is_empty(&parse("<enable xmlns='urn:xmpp:carbons:2'>junk</enable>")));
        assert!(!is_empty(&parse("<enable xmlns='urn:xmpp:carbons:2'><x/></enable>")));
    }

    #[test]
    fn requests_for_another_account_pass() {
        let iq = Iq(Stanza::from_xml(
            "<iq type='set' id='1' from='a@h/r' to='b@h'><enable xmlns='urn:xmpp:carbons:2'/></iq>",
            Address::Bare,
            "h",
        )
        .unwrap());
        assert_eq!(handle(&iq), Ok(Outcome::Pass));
    }
}
