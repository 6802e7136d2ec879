//! Stanza rates (token buckets, governor's GCRA): one per session, one
//! shared by the tenant's sessions. A stanza over a rate is held back, and
//! the session stops reading meanwhile (TCP pushes back on the client); one
//! that would wait longer than the tenant allows is refused.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use super::Tenant;
use crate::config::Quotas;

/// A rate in stanzas per second with a burst; `None` from [`StanzaRate::new`]
/// when the quota is off.
pub struct StanzaRate {
    limiter: DefaultDirectRateLimiter,
}

impl StanzaRate {
    pub fn new(per_sec: u32, burst: u32) -> Option<StanzaRate> {
        let rate = NonZeroU32::new(per_sec)?;
        let burst = NonZeroU32::new(Quotas::burst_or_rate(per_sec, burst)).unwrap_or(rate);
        Some(StanzaRate { limiter: RateLimiter::direct(Quota::per_second(rate).allow_burst(burst)) })
    }

    /// Takes a token now, or says how long until one is there.
    fn take(&self) -> Result<(), Duration> {
        self.limiter.check().map_err(|until| until.wait_time_from(DefaultClock::default().now()))
    }
}

/// What to do with the stanza just read.
#[derive(Debug, PartialEq, Eq)]
pub enum Admit {
    /// Route it.
    Now,
    /// Hold it (and stop reading) this long, then ask again.
    Wait(Duration),
    /// It has waited as long as the tenant allows: refuse it.
    Refuse,
}

/// One session's view of its rates.
pub struct Throttle {
    tenant: Arc<Tenant>,
    own: Option<StanzaRate>,
    max_delay: Duration,
    /// The held stanza passed the session's own rate already: asking again
    /// must not charge it twice.
    own_taken: bool,
    /// How long the held stanza has waited so far.
    waited: Duration,
}

impl Throttle {
    pub fn new(tenant: Arc<Tenant>, own: Option<StanzaRate>, max_delay: Duration) -> Throttle {
        Throttle { tenant, own, max_delay, own_taken: false, waited: Duration::ZERO }
    }

    /// The tenant's domain, for what a refusal says.
    pub fn domain(&self) -> &str {
        &self.tenant.domain
    }

    /// Whether the next stanza (or the one held since the last `Wait`) may
    /// be routed. Call again after waiting what `Wait` said.
    pub fn admit(&mut self) -> Admit {
        if !self.own_taken {
            if let Some(own) = &self.own
                && let Err(wait) = own.take()
            {
                return self.hold(wait);
            }
            self.own_taken = true;
        }
        if let Some(shared) = self.tenant.shared_rate()
            && let Err(wait) = shared.take()
        {
            return self.hold(wait);
        }
        if !self.waited.is_zero() {
            self.tenant.counts.stanzas_delayed.fetch_add(1, Ordering::Relaxed);
        }
        self.own_taken = false;
        self.waited = Duration::ZERO;
        Admit::Now
    }

    fn hold(&mut self, wait: Duration) -> Admit {
        // The bucket refills continuously; a zero wait would spin.
        let wait = wait.max(Duration::from_millis(1));
        if self.waited + wait > self.max_delay {
            self.tenant.counts.stanzas_refused.fetch_add(1, Ordering::Relaxed);
            self.own_taken = false;
            self.waited = Duration::ZERO;
            return Admit::Refuse;
        }
        self.waited += wait;
        Admit::Wait(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(q: Quotas) -> Arc<Tenant> {
        Tenant::new("a.example", q)
    }

    #[test]
    fn off_means_no_limit() {
        let t = tenant(Quotas::default());
        let mut th = t.throttle();
        for _ in 0..10_000 {
            assert_eq!(th.admit(), Admit::Now);
        }
    }

    #[test]
    fn a_burst_passes_then_stanzas_wait_then_are_refused() {
        let q = Quotas {
            session_stanzas_per_sec: 1,
            session_stanza_burst: 3,
            stanza_max_delay_ms: 1_500,
            ..Quotas::default()
        };
        let t = tenant(q);
        let mut th = t.throttle();
        for _ in 0..3 {
            assert_eq!(th.admit(), Admit::Now);
        }
        // The fourth must wait about a second: one token per second.
        let Admit::Wait(w) = th.admit() else { panic!("expected a wait") };
        assert!(w > Duration::from_millis(500) && w <= Duration::from_secs(1), "{w:?}");
        // Asked again without waiting: it would now wait past 1.5 s in all.
        assert_eq!(th.admit(), Admit::Refuse);
        assert_eq!(t.counts.stanzas_refused.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn the_tenant_rate_is_shared_by_its_sessions() {
        let q =
            Quotas { tenant_stanzas_per_sec: 1, tenant_stanza_burst: 2, stanza_max_delay_ms: 0, ..Quotas::default() };
        let t = tenant(q);
        let (mut one, mut two) = (t.throttle(), t.throttle());
        assert_eq!(one.admit(), Admit::Now);
        assert_eq!(two.admit(), Admit::Now);
        assert_eq!(one.admit(), Admit::Refuse, "the two sessions spent the tenant's burst");
        assert_eq!(two.admit(), Admit::Refuse);
        let other = tenant(q_default());
        assert_eq!(other.throttle().admit(), Admit::Now, "another tenant is not touched");
    }

    fn q_default() -> Quotas {
        Quotas { tenant_stanzas_per_sec: 1, tenant_stanza_burst: 2, ..Quotas::default() }
    }
}
