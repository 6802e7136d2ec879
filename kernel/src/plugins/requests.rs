//! iq requests plugins send with `route.request`: the kernel names each one
//! (`wx-req-N`), takes its answer out of routing, and hands it to the plugin
//! that asked as an `iq-response` event, or `timeout` when none came.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use jid::Jid;
use tokio::task::AbortHandle;

use super::bindings::types::{self, HostError};
use super::plugin::PluginEntry;
use crate::xml::{Stanza, StanzaKind};

/// Five minutes: long enough for a remote server, short enough that a
/// forgotten request does not linger.
pub(crate) const MAX_REQUEST_TIMEOUT_MS: u64 = 300_000;
/// Requests waiting for an answer across the whole server.
pub(crate) const MAX_PENDING: usize = 100_000;
const MAX_CONTEXT_BYTES: usize = 64 * 1024;
const ID_PREFIX: &str = "wx-req-";

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A request a call queued; registered when the call's effects are applied,
/// so a call that failed leaves nothing waiting.
pub(crate) struct PendingRequest {
    pub id: u64,
    entry: Weak<PluginEntry>,
    to: Jid,
    context: String,
    timeout: Duration,
}

impl PendingRequest {
    pub fn new(entry: Weak<PluginEntry>, to: Jid, context: String, timeout_ms: u32) -> Result<Self, HostError> {
        if context.len() > MAX_CONTEXT_BYTES {
            return Err(HostError::Invalid(format!(
                "request context is {} bytes; the maximum is {MAX_CONTEXT_BYTES}",
                context.len()
            )));
        }
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        Ok(PendingRequest { id, entry, to, context, timeout: Duration::from_millis(timeout_ms.into()) })
    }

    /// The `id` attribute the kernel gives the iq.
    pub fn stanza_id(&self) -> String {
        format!("{ID_PREFIX}{}", self.id)
    }
}

struct Waiting {
    entry: Weak<PluginEntry>,
    to: Jid,
    context: String,
    timer: Option<AbortHandle>,
}

#[derive(Default)]
pub(crate) struct Requests {
    waiting: Mutex<HashMap<u64, Waiting>>,
}

/// An answer, or its absence, on its way to the plugin that asked.
pub(crate) struct Answer {
    pub entry: Arc<PluginEntry>,
    pub event: types::Event,
}

impl Requests {
    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Waiting>> {
        // Inserts and removals are single operations; a poisoned map is intact.
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn is_full(&self) -> bool {
        self.lock().len() >= MAX_PENDING
    }

    /// Starts waiting for `req`'s answer, and for its timeout when the
    /// runtime is there to count it.
    pub fn register(self: &Arc<Self>, req: PendingRequest) {
        let id = req.id;
        let mut waiting = self.lock();
        // Held across the spawn so a zero timeout cannot fire before the entry exists.
        let timer = tokio::runtime::Handle::try_current().ok().map(|rt| {
            let me = Arc::downgrade(self);
            let timeout = req.timeout;
            rt.spawn(async move {
                tokio::time::sleep(timeout).await;
                if let Some(me) = me.upgrade()
                    && let Some(answer) = me.take(id, types::IqOutcome::Timeout)
                {
                    answer.entry.fire(answer.event);
                }
            })
            .abort_handle()
        });
        waiting.insert(id, Waiting { entry: req.entry, to: req.to, context: req.context, timer });
    }

    fn take(&self, id: u64, outcome: types::IqOutcome) -> Option<Answer> {
        let w = self.lock().remove(&id)?;
        if let Some(t) = &w.timer {
            t.abort();
        }
        let entry = w.entry.upgrade()?;
        let event = types::Event::IqResponse(types::IqResponse { request: id, context: w.context, outcome });
        Some(Answer { entry, event })
    }

    /// The answer to a pending request, taken out of routing: a result or
    /// error iq carrying one of our ids, from the entity asked (its bare JID
    /// or its server may answer for it, as RFC 6120 §8 and RFC 6121 §8
    /// have them do).
    pub fn take_answer(&self, stanza: &Stanza) -> Option<Answer> {
        if stanza.kind != StanzaKind::Iq {
            return None;
        }
        let outcome_of = |xml: String| match stanza.type_attr() {
            "result" => Some(types::IqOutcome::Result(xml)),
            "error" => Some(types::IqOutcome::Error(xml)),
            _ => None,
        };
        let id: u64 = stanza.id()?.strip_prefix(ID_PREFIX)?.parse().ok()?;
        let from = stanza.from.as_ref()?;
        {
            let waiting = self.lock();
            let w = waiting.get(&id)?;
            let same_domain = from.domain() == w.to.domain();
            let answers_for =
                from.node().is_none() || (from.node() == w.to.node() && (from.resource().is_none() || *from == w.to));
            if !(same_domain && answers_for) {
                return None;
            }
        }
        let outcome = outcome_of(stanza.el.to_xml())?;
        self.take(id, outcome)
    }

    #[cfg(test)]
    pub fn waiting(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(xml: &str) -> Stanza {
        Stanza::parse(waxwing_xml::Element::parse(xml).unwrap()).unwrap()
    }

    #[test]
    fn only_the_asked_entity_answers() {
        let r = Arc::new(Requests::default());
        let req = PendingRequest::new(Weak::new(), Jid::new("u@h/r").unwrap(), "ctx".into(), 1000).unwrap();
        let id = req.stanza_id();
        r.register(req);
        let forged = format!("<iq xmlns='jabber:client' type='result' id='{id}' from='v@h/r' to='h'/>");
        assert!(r.take_answer(&answer(&forged)).is_none());
        let other_resource = format!("<iq xmlns='jabber:client' type='result' id='{id}' from='u@h/x' to='h'/>");
        assert!(r.take_answer(&answer(&other_resource)).is_none());
        assert_eq!(r.waiting(), 1, "a wrong answer leaves the request waiting");
        // The plugin is gone (a dead Weak), so the answer is consumed and dropped.
        let real = format!("<iq xmlns='jabber:client' type='result' id='{id}' from='u@h/r' to='h'/>");
        assert!(r.take_answer(&answer(&real)).is_none());
        assert_eq!(r.waiting(), 0);
    }

    #[test]
    fn the_server_may_answer_for_an_account() {
        let r = Arc::new(Requests::default());
        let req = PendingRequest::new(Weak::new(), Jid::new("u@h").unwrap(), String::new(), 1000).unwrap();
        let id = req.stanza_id();
        r.register(req);
        let get = format!("<iq xmlns='jabber:client' type='get' id='{id}' from='h' to='h'><q xmlns='x'/></iq>");
        assert!(r.take_answer(&answer(&get)).is_none(), "a get is no answer");
        assert_eq!(r.waiting(), 1);
        let err = format!("<iq xmlns='jabber:client' type='error' id='{id}' from='h' to='h'/>");
        r.take_answer(&answer(&err));
        assert_eq!(r.waiting(), 0);
    }

    #[test]
    fn contexts_are_bounded() {
        let big = "x".repeat(MAX_CONTEXT_BYTES + 1);
        assert!(PendingRequest::new(Weak::new(), Jid::new("h").unwrap(), big, 10).is_err());
    }
}
