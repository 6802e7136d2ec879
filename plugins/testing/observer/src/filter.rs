//! The message filter and the accounts it watches.

use waxwing_sdk::Node;
use waxwing_sdk::prelude::*;

use crate::{NS, refused};

/// `<scope><watch>user@host</watch>...</scope>`: the filter sees messages
/// from or to these accounts from now on (the kernel keeps the set).
pub(crate) fn scope(iq: &Iq) -> Handled {
    for watch in iq.payload()?.elements().filter(|e| e.is("watch", NS)) {
        waxwing_sdk::filter_scope::watch(&watch.text(), true).map_err(refused)?;
    }
    iq.reply_empty()
}

/// The filter's verdict on a message, by its first body.
pub(crate) fn decide(message: &Element) -> Verdict {
    let body = message.child("body", ns::CLIENT).map(Element::text);
    match body.as_deref() {
        Some("drop me") => Verdict::Drop,
        Some("rewrite me") => {
            let mut out = message.clone();
            if let Some(b) = out.child_mut("body", ns::CLIENT) {
                b.children = vec![Node::Text("rewritten".into())];
            }
            Verdict::Rewrite(out)
        }
        Some("reject me") => Verdict::Reject(
            StanzaError::new(Condition::PolicyViolation).with_text("the observer test filter refuses this body"),
        ),
        _ => Verdict::Pass,
    }
}
