//! Plugin filters on the way through the router: every stanza a client or a
//! plugin sends passes the filters of the sender's vhost and, when the
//! recipient is served on another vhost, that vhost's too — so a blocklist or
//! a carbons copy works whoever sent the stanza and wherever it goes.

use waxwing_xml::StanzaError;

use super::Router;
use crate::plugins::Verdict;
use crate::xml::Stanza;

/// What the filters made of a stanza.
pub(super) enum Filtered {
    /// Route this (the original or a filter's rewrite).
    Route(Stanza),
    /// A filter dropped it silently.
    Dropped,
    /// A filter refused it: answer the sender with this error.
    Rejected(Stanza, StanzaError),
}

impl Router {
    /// The vhosts whose filters a stanza passes: the sender's, and the
    /// recipient's (or its service owner's) when another.
    fn filtering_vhosts(&self, stanza: &Stanza) -> (Option<String>, Option<String>) {
        let sender = stanza.from.as_ref().map(|j| j.domain().as_str()).filter(|d| self.serves(d)).map(str::to_string);
        let recipient = stanza.to.as_ref().and_then(|j| {
            let d = j.domain().as_str();
            if self.serves(d) { Some(d.to_string()) } else { self.service_owner(d) }
        });
        let second = recipient.filter(|r| sender.as_deref() != Some(r.as_str()));
        (sender, second)
    }

    /// Whether [`Self::run_filters`] would call any plugin (no wasm).
    pub(super) fn filters_see(&self, stanza: &Stanza, skip: Option<&str>) -> bool {
        let (sender, second) = self.filtering_vhosts(stanza);
        sender.iter().chain(second.iter()).any(|vhost| {
            self.plugins
                .vhost(vhost)
                .is_some_and(|vp| vp.has_filters() && vp.would_filter(stanza, self.addressed(stanza), skip))
        })
    }

    /// Runs the filters of the vhosts a stanza touches. `skip` is the plugin
    /// that sent it, whose own filters do not see its sends.
    pub(super) fn run_filters(&self, mut stanza: Stanza, skip: Option<&str>) -> Filtered {
        let (sender, second) = self.filtering_vhosts(&stanza);
        for vhost in sender.iter().chain(second.iter()) {
            let Some(vp) = self.plugins.vhost(vhost) else { continue };
            if !vp.has_filters() {
                continue;
            }
            let addressed = self.addressed(&stanza);
            match vp.filter(&stanza, addressed, skip) {
                Verdict::Pass => {}
                Verdict::Drop => return Filtered::Dropped,
                Verdict::Rewrite(el) => match Stanza::parse(el) {
                    Ok(s) => stanza = s,
                    Err((el, err)) => {
                        tracing::warn!(%err, "a filter rewrote a stanza into something unroutable: {}", el);
                        return Filtered::Dropped;
                    }
                },
                Verdict::Reject(err) => return Filtered::Rejected(stanza, err),
            }
        }
        Filtered::Route(stanza)
    }
}
