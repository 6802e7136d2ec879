//! `jid` with the `jid` crate, the version the kernel links, so a test
//! prepares JIDs as the server does.

use crate::bindings::waxwing::plugin::jid::JidParts;

/// The kernel's wording.
fn refused(jid: &str, e: ::jid::Error) -> String {
    format!("{jid:?} is not a JID: {e}")
}

pub(crate) fn prep(jid: &str) -> Result<String, String> {
    ::jid::Jid::new(jid).map(|j| j.to_string()).map_err(|e| refused(jid, e))
}

pub(crate) fn parts(jid: &str) -> Result<JidParts, String> {
    let j = ::jid::Jid::new(jid).map_err(|e| refused(jid, e))?;
    Ok(JidParts {
        node: j.node().map(|n| n.as_str().to_string()),
        domain: j.domain().as_str().to_string(),
        resource: j.resource().map(|r| r.as_str().to_string()),
    })
}
