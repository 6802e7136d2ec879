//! iqs before authentication (in practice XEP-0077 in-band registration):
//! the one kind of stanza an unauthenticated stream may send, and only to a
//! plugin route that takes them (`unauthenticated`). The kernel carries it
//! there, writes the answer back — the stream has no address to route to —
//! and limits how many successful `set`s (accounts created) one address may
//! make.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use waxwing_xml::{Element, ErrorType, StanzaError, StanzaErrorCondition as Cond, ns};

use super::negotiate::{Closed, Conn};
use crate::plugins::{Address, Captured};
use crate::xml::Stanza;

const WINDOW: Duration = Duration::from_secs(3600);

/// Successful registrations per client address in the last hour.
pub struct RegistrationLimiter {
    per_hour: u32,
    recent: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
}

impl RegistrationLimiter {
    /// `per_hour` 0 means no limit.
    pub fn new(per_hour: u32) -> Self {
        RegistrationLimiter { per_hour, recent: Mutex::new(HashMap::new()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, VecDeque<Instant>>> {
        self.recent.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `ip` may register another account now.
    pub fn allows(&self, ip: IpAddr, now: Instant) -> bool {
        if self.per_hour == 0 {
            return true;
        }
        let mut recent = self.lock();
        let Some(times) = recent.get_mut(&ip) else { return true };
        while times.front().is_some_and(|t| now.duration_since(*t) >= WINDOW) {
            times.pop_front();
        }
        if times.is_empty() {
            recent.remove(&ip);
            return true;
        }
        times.len() < self.per_hour as usize
    }

    pub fn record(&self, ip: IpAddr, now: Instant) {
        if self.per_hour == 0 {
            return;
        }
        let mut recent = self.lock();
        // Addresses that stopped registering are forgotten once their hour
        // is over, so the map cannot grow with every address ever seen.
        if recent.len() > 10_000 {
            recent.retain(|_, times| times.back().is_some_and(|t| now.duration_since(*t) < WINDOW));
        }
        recent.entry(ip).or_default().push_back(now);
    }
}

/// Answers one registration iq on an unauthenticated stream.
pub(super) async fn handle(conn: &mut Conn<'_>, mut el: Element) -> Result<(), Closed> {
    // The stream's host is the only addressee; a client has no `from` yet.
    el.remove_attr("from");
    el.set_attr("to", conn.domain.as_str());
    let ty = el.attr("type").unwrap_or("").to_string();
    if !matches!(ty.as_str(), "get" | "set") {
        // Results and errors answer nothing the server asked: ignored.
        return Ok(());
    }
    if el.attr("id").is_none_or(str::is_empty) || el.elements().count() != 1 {
        let err =
            StanzaError::new(Cond::BadRequest).with_text("an iq get or set carries an 'id' and exactly one child");
        return write(conn, err.reply_to(&el)).await;
    }
    let ip = conn.peer.ip();
    if ty == "set" && !conn.ctx.registrations.allows(ip, Instant::now()) {
        let err = StanzaError::new(Cond::ResourceConstraint)
            .with_type(ErrorType::Wait)
            .with_text("too many accounts were registered from your address; try again later");
        return write(conn, err.reply_to(&el)).await;
    }
    let stanza = match Stanza::parse(el) {
        Ok(s) => s,
        Err((el, err)) => return write(conn, err.reply_to(&el)).await,
    };
    let Some(vp) = conn.ctx.router.plugins().vhost(&conn.domain) else { return Ok(()) };
    let reply = match vp.handle_captured(&stanza, Address::Host, true) {
        Captured::Reply(reply) => {
            if ty == "set" && reply.attr("type") == Some("result") {
                conn.ctx.registrations.record(ip, Instant::now());
            }
            reply
        }
        Captured::Error(err) => err.reply_to(&stanza.el),
        Captured::NotHandled => StanzaError::new(Cond::ServiceUnavailable).reply_to(&stanza.el),
        Captured::Done => return Ok(()),
    };
    write(conn, reply).await
}

async fn write(conn: &mut Conn<'_>, mut reply: Element) -> Result<(), Closed> {
    reply.remove_attr("to");
    conn.writer.send(&reply.to_xml_in(ns::CLIENT)).await.map_err(|_| Closed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_address_per_hour() {
        let limiter = RegistrationLimiter::new(2);
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "::1".parse().unwrap();
        let t0 = Instant::now();
        assert!(limiter.allows(a, t0));
        limiter.record(a, t0);
        limiter.record(a, t0 + Duration::from_secs(1));
        assert!(!limiter.allows(a, t0 + Duration::from_secs(2)));
        assert!(limiter.allows(b, t0 + Duration::from_secs(2)), "another address is not affected");
        assert!(limiter.allows(a, t0 + WINDOW + Duration::from_secs(1)), "the oldest one aged out");
    }

    #[test]
    fn zero_means_unlimited() {
        let limiter = RegistrationLimiter::new(0);
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..100 {
            limiter.record(a, t0);
        }
        assert!(limiter.allows(a, t0));
    }
}
