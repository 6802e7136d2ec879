//! `route`: stanzas a call queues, routed in order once it returns; iq
//! requests whose answers come back as events.

use jid::Jid;

use super::super::bindings::waxwing::plugin::route;
use super::super::outgoing;
use super::super::requests::{MAX_REQUEST_TIMEOUT_MS, PendingRequest};
use super::{MAX_FANOUT_RECIPIENTS, MAX_QUEUED_STANZAS};
use crate::plugins::bindings::types::{Capability, HostError};
use crate::plugins::store::{Outgoing, StoreData};

impl StoreData {
    fn queue_room(&self, n: usize) -> Result<(), HostError> {
        let queued = self.effects.queued;
        if queued + n > MAX_QUEUED_STANZAS {
            return Err(HostError::Quota(format!(
                "{queued} stanzas are already queued by this call; one call may send at most {MAX_QUEUED_STANZAS}"
            )));
        }
        Ok(())
    }

    fn prepare(&self, xml: &str) -> Result<waxwing_xml::Element, HostError> {
        outgoing::prepare(xml, &self.shared.domain, self.declared.service_domain.as_deref()).map_err(HostError::Invalid)
    }
}

impl route::Host for StoreData {
    fn send(&mut self, xml: String) -> Result<(), HostError> {
        self.need(Capability::Route)?;
        self.queue_room(1)?;
        let el = self.prepare(&xml)?;
        self.effects.queued += 1;
        self.effects.outbox.push(Outgoing::One(el));
        Ok(())
    }

    fn send_many(&mut self, xml: String, recipients: Vec<String>) -> Result<(), HostError> {
        self.need(Capability::Route)?;
        self.queue_room(1)?;
        let fanned = self.effects.fanout_recipients;
        if fanned + recipients.len() > MAX_FANOUT_RECIPIENTS {
            return Err(HostError::Quota(format!(
                "{fanned} recipients are already queued by this call's send-many; one call may reach at most {MAX_FANOUT_RECIPIENTS}"
            )));
        }
        let el = self.prepare(&xml)?;
        // All recipients are checked before any is queued: all or nothing.
        let to = recipients
            .iter()
            .map(|r| Jid::new(r).map_err(|e| HostError::Invalid(format!("recipient {r:?} is not a JID: {e}"))))
            .collect::<Result<Vec<_>, _>>()?;
        if to.is_empty() {
            return Ok(());
        }
        self.effects.queued += 1;
        self.effects.fanout_recipients += to.len();
        self.effects.outbox.push(Outgoing::Many(el, to));
        Ok(())
    }

    fn request(&mut self, xml: String, timeout_ms: u32, context: String) -> Result<u64, HostError> {
        self.need(Capability::Route)?;
        self.queue_room(1)?;
        if u64::from(timeout_ms) > MAX_REQUEST_TIMEOUT_MS || timeout_ms == 0 {
            return Err(HostError::Invalid(format!("timeout {timeout_ms} ms is outside 1..={MAX_REQUEST_TIMEOUT_MS}")));
        }
        let mut el = self.prepare(&xml)?;
        // Unlike a send, a request speaks for this host even to its own
        // accounts: the answer comes back to its `from`.
        if let Some(from) = el.attr("from") {
            outgoing::check_from(from, &self.shared.domain, self.declared.service_domain.as_deref())
                .map_err(HostError::Invalid)?;
        }
        if el.name != "iq" || !matches!(el.attr("type"), Some("get" | "set")) || el.elements().count() != 1 {
            return Err(HostError::Invalid("a request is an iq of type get or set with exactly one child".into()));
        }
        let to = match el.attr("to") {
            Some(t) => Jid::new(t).map_err(|e| HostError::Invalid(format!("'to' {t:?} is not a JID: {e}")))?,
            None => return Err(HostError::Invalid("a request needs a 'to'".into())),
        };
        if self.shared.requests.is_full() {
            return Err(HostError::Quota("too many requests are waiting for answers on this server".into()));
        }
        let entry = self.shared.entry.get().cloned().unwrap_or_default();
        // Arguments first: a bad one is the plugin's to hear about, whenever.
        let loaded = entry.strong_count() > 0;
        let pending = PendingRequest::new(entry, to, context, timeout_ms)?;
        if !loaded {
            return Err(HostError::Internal("requests cannot be sent before the plugin has loaded".into()));
        }
        el.set_attr("id", pending.stanza_id());
        let id = pending.id;
        self.effects.requests.push(pending);
        self.effects.queued += 1;
        self.effects.outbox.push(Outgoing::One(el));
        Ok(id)
    }
}
